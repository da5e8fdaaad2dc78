package store

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/ocrstack/ocrstack/keyservice/internal/limits"
	"github.com/ocrstack/ocrstack/keyservice/internal/natstest"
	"github.com/stretchr/testify/require"
)

// TestConflictFoundByRead checks how a group learns that another replica
// wrote its Doc since it cached it. A verification with an idempotency key
// reads its record together with the Doc, and decides on the Doc read:
// no compare-and-set fails. One without learns it from its compare-and-set
// failing, then reads the Doc and decides again. Either way every spend
// counts exactly once, and a replay answers what the first decision did.
func TestConflictFoundByRead(t *testing.T) {
	_, nc := natstest.Start(t)
	js, err := jetstream.New(nc)
	require.NoError(t, err)
	ctx := context.Background()
	a, err := Open(ctx, js)
	require.NoError(t, err)
	t.Cleanup(func() { a.WaitCopies(); _ = a.Close() })
	var byRead, byWrite atomic.Int64
	b, err := Open(ctx, js, WithConflictObserver(func(failedWrite bool) {
		if failedWrite {
			byWrite.Add(1)
		} else {
			byRead.Add(1)
		}
	}))
	require.NoError(t, err)
	t.Cleanup(func() { b.WaitCopies(); _ = b.Close() })
	credits := int64(10)
	hash := strings.Repeat("e", 64)
	_, err = a.CreateKey(ctx, Record{KeyID: "key_c", APIID: "api", Hash: hash, Enabled: true}, limits.Budget{Credits: &credits}, 1)
	require.NoError(t, err)

	now := int64(1_000_000)
	spend := func(s *Store, requestID string, want int64) Verification {
		t.Helper()
		now++
		v, err := s.Verify(ctx, hash, requestID, now, spendOne)
		require.NoError(t, err)
		require.Equal(t, want, *v.Outcome.Credits, "credits left after %s", requestID)
		return v
	}
	spend(b, "job_1", 9) // b caches the Doc it writes
	spend(a, "job_2", 8) // and is now a revision behind
	require.Zero(t, byRead.Load()+byWrite.Load(), "no conflict yet")

	spend(b, "job_3", 7)
	require.Equal(t, int64(1), byRead.Load(), "the record's read found the newer Doc")
	require.Zero(t, byWrite.Load(), "a compare-and-set failed that the read could have spared")

	spend(a, "job_4", 6)
	spend(b, "", 5)
	require.Equal(t, int64(1), byWrite.Load(), "without a record to read, the compare-and-set finds the conflict")
	require.Equal(t, int64(1), byRead.Load())

	// a's job_2 replayed on b, whose Doc no longer holds it pending once
	// a copied it: the answer is the first one, and nothing is spent.
	a.WaitCopies()
	spend(a, "job_5", 4)
	v := spend(b, "job_2", 8)
	require.True(t, v.Replayed)
	spend(b, "job_6", 3)
}
