package store

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/ocrstack/ocrstack/contracts"
	"github.com/ocrstack/ocrstack/keyservice/internal/limits"
	"github.com/ocrstack/ocrstack/keyservice/internal/natstest"
	"github.com/stretchr/testify/require"
)

// pendingFixture is two replicas' stores on one server: a, which never
// copies its idempotency records out of the Doc (as a replica that dies
// right after committing), and b, which does.
type pendingFixture struct {
	a, b *Store
	kv   jetstream.KeyValue
	str  jetstream.Stream
}

func startPending(t *testing.T) *pendingFixture {
	t.Helper()
	_, nc := natstest.Start(t)
	js, err := jetstream.New(nc)
	require.NoError(t, err)
	ctx := context.Background()
	a, err := Open(ctx, js, func(o *options) { o.noCopies = true })
	require.NoError(t, err)
	t.Cleanup(func() { _ = a.Close() })
	b, err := Open(ctx, js)
	require.NoError(t, err)
	t.Cleanup(func() { b.WaitCopies(); _ = b.Close() })
	kv, err := js.KeyValue(ctx, contracts.KeyStateBucket)
	require.NoError(t, err)
	str, err := js.Stream(ctx, "KV_"+contracts.KeyStateBucket)
	require.NoError(t, err)
	return &pendingFixture{a: a, b: b, kv: kv, str: str}
}

// key creates a key with credits and returns its hash and state id.
func (f *pendingFixture) key(t *testing.T, credits int64) (string, string) {
	t.Helper()
	hash := strings.Repeat("d", 64)
	rec, err := f.a.CreateKey(context.Background(), Record{KeyID: "key_p", APIID: "api", Hash: hash, Enabled: true},
		limits.Budget{Credits: &credits}, 1)
	require.NoError(t, err)
	return hash, rec.State()
}

func (f *pendingFixture) doc(t *testing.T, sid string) Doc {
	t.Helper()
	e, err := f.kv.Get(context.Background(), "k."+sid)
	require.NoError(t, err)
	d, err := DecodeDoc(e.Value())
	require.NoError(t, err)
	return d
}

// entry returns the idempotency record of req in its own entry, if any.
func (f *pendingFixture) entry(t *testing.T, sid, req string) (Seen, bool) {
	t.Helper()
	e, err := f.kv.Get(context.Background(), idempotencyKey(sid, req))
	if err == jetstream.ErrKeyNotFound {
		return Seen{}, false
	}
	require.NoError(t, err)
	var s Seen
	require.NoError(t, json.Unmarshal(e.Value(), &s))
	return s, true
}

func (f *pendingFixture) lastSeq(t *testing.T) uint64 {
	t.Helper()
	info, err := f.str.Info(context.Background())
	require.NoError(t, err)
	return info.State.LastSeq
}

// spentAt is when startSpent's verification was made.
const spentAt = int64(1_000_000)

// startSpent starts a pendingFixture with a key of 10 credits, one of them
// spent through a (so left pending in the Doc) with idempotency key job_1.
func startSpent(t *testing.T) (*pendingFixture, string, string) {
	t.Helper()
	f := startPending(t)
	hash, sid := f.key(t, 10)
	_, err := f.a.Verify(context.Background(), hash, "job_1", spentAt, spendOne)
	require.NoError(t, err)
	return f, hash, sid
}

func spendOne(Record, *Identity) (limits.Input, error) {
	return limits.Input{Enabled: true, Permitted: true, Cost: 1}, nil
}

// TestPendingRecords follows an idempotency record from its spend to its
// own entry: committed inside the Doc with the spend as one message (no
// atomic batch, which costs a file store per batch on the server),
// replayed from there by another replica before any copy, copied by a
// replica that writes the Doc once it is stale, and dropped from the Doc
// by that replica's next write.
func TestPendingRecords(t *testing.T) {
	f := startPending(t)
	ctx := context.Background()
	hash, sid := f.key(t, 10)
	const t0 = int64(1_000_000)

	before := f.lastSeq(t)
	v, err := f.a.Verify(ctx, hash, "job_1", t0, spendOne)
	require.NoError(t, err)
	require.Equal(t, contracts.VerifyValid, v.Outcome.Code)
	require.Equal(t, before+1, f.lastSeq(t), "the spend and its record are one message")
	require.Contains(t, f.doc(t, sid).Pending, idempotencyKey(sid, "job_1"))
	_, copied := f.entry(t, sid, "job_1")
	require.False(t, copied)

	// Another replica replays it from the Doc.
	v, err = f.b.Verify(ctx, hash, "job_1", t0+10, spendOne)
	require.NoError(t, err)
	require.True(t, v.Replayed)
	require.Equal(t, int64(9), *v.Outcome.Credits)

	// b's next spend, within pendingStale of a's, leaves a's record to a.
	_, err = f.b.Verify(ctx, hash, "job_2", t0+20, spendOne)
	require.NoError(t, err)
	f.b.WaitCopies()
	d := f.doc(t, sid)
	require.Contains(t, d.Pending, idempotencyKey(sid, "job_1"))
	require.Contains(t, d.Pending, idempotencyKey(sid, "job_2"), "b's own record stays until b writes again")
	_, copied = f.entry(t, sid, "job_1")
	require.False(t, copied)
	got, copied := f.entry(t, sid, "job_2")
	require.True(t, copied)
	require.Equal(t, t0+20, got.At)

	// Past pendingStale, b's next spend copies a's record and drops its own.
	later := t0 + pendingStale.Milliseconds()
	_, err = f.b.Verify(ctx, hash, "job_3", later, spendOne)
	require.NoError(t, err)
	f.b.WaitCopies()
	d = f.doc(t, sid)
	require.NotContains(t, d.Pending, idempotencyKey(sid, "job_2"))
	require.Contains(t, d.Pending, idempotencyKey(sid, "job_1"), "dropped only by a write after the copy")
	got, copied = f.entry(t, sid, "job_1")
	require.True(t, copied)
	require.Equal(t, t0, got.At)

	_, err = f.b.Verify(ctx, hash, "job_4", later+1, spendOne)
	require.NoError(t, err)
	f.b.WaitCopies()
	d = f.doc(t, sid)
	require.NotContains(t, d.Pending, idempotencyKey(sid, "job_1"))
	require.NotContains(t, d.Pending, idempotencyKey(sid, "job_3"))

	// Every record still replays, from its entry, on either replica.
	for _, st := range []*Store{f.a, f.b} {
		for _, req := range []string{"job_1", "job_2", "job_3", "job_4"} {
			v, err := st.Verify(ctx, hash, req, later+2, spendOne)
			require.NoError(t, err)
			require.True(t, v.Replayed, req)
		}
	}
	require.Equal(t, int64(6), *f.doc(t, sid).Keys[sid].Credits)
}

// TestPendingRecordRefund checks a refund of a verification whose record
// is still pending in the Doc: it is refunded once, its record moves to
// its entry marked refunded, and a copy of the record made afterwards (by
// the replica that committed it, late) does not undo the mark. A refund of
// an idempotency key nothing charged cancels it, and a verification with
// it is then refused.
func TestPendingRecordRefund(t *testing.T) {
	f, hash, sid := startSpent(t)
	ctx := context.Background()
	const t0 = spentAt
	pending := f.doc(t, sid).Pending[idempotencyKey(sid, "job_1")]

	r, err := f.b.Refund(ctx, "key_p", "job_1", t0+5)
	require.NoError(t, err)
	require.True(t, r.Refunded)
	require.Equal(t, int64(10), *r.Credits)
	require.NotContains(t, f.doc(t, sid).Pending, idempotencyKey(sid, "job_1"))
	got, ok := f.entry(t, sid, "job_1")
	require.True(t, ok)
	require.Equal(t, t0+5, got.Refunded)

	pk := idempotencyKey(sid, "job_1")
	require.NoError(t, f.a.copyRecords(ctx, map[string]Seen{pk: pending}, t0+6)[pk])
	got, _ = f.entry(t, sid, "job_1")
	require.Equal(t, t0+5, got.Refunded, "a late copy overwrote the refund")

	r, err = f.a.Refund(ctx, "key_p", "job_1", t0+7)
	require.NoError(t, err)
	require.False(t, r.Refunded, "refunded twice")
	v, err := f.a.Verify(ctx, hash, "job_1", t0+8, spendOne)
	require.NoError(t, err)
	require.True(t, v.Replayed)
	require.Equal(t, int64(10), *f.doc(t, sid).Keys[sid].Credits)

	r, err = f.a.Refund(ctx, "key_p", "job_2", t0+9)
	require.NoError(t, err)
	require.True(t, r.Cancelled)
	_, err = f.b.Verify(ctx, hash, "job_2", t0+10, spendOne)
	require.ErrorIs(t, err, ErrCancelled)
	require.Equal(t, int64(10), *f.doc(t, sid).Keys[sid].Credits)
}

// TestPendingRecordMoves checks that a record still pending in a key's
// Doc moves with its budget when the key is linked to an identity, so the
// verification it records still replays, and is refunded, from there.
func TestPendingRecordMoves(t *testing.T) {
	f, hash, sid := startSpent(t)
	ctx := context.Background()
	const t0 = spentAt
	require.NoError(t, f.a.CreateIdentity(ctx, Identity{ID: "id_p", ExternalID: "owner"}, limits.Budget{}, t0))
	_, err := f.a.UpdateKey(ctx, "key_p", t0+1, KeyChange{Apply: func(r *Record) { r.ExternalID = "owner" }, Relink: true})
	require.NoError(t, err)
	e, err := f.kv.Get(ctx, "i.id_p")
	require.NoError(t, err)
	d, err := DecodeDoc(e.Value())
	require.NoError(t, err)
	require.Contains(t, d.Pending, idempotencyKey(sid, "job_1"))

	v, err := f.b.Verify(ctx, hash, "job_1", t0+2, spendOne)
	require.NoError(t, err)
	require.True(t, v.Replayed)
	require.Equal(t, int64(9), *d.Keys[sid].Credits)
	r, err := f.b.Refund(ctx, "key_p", "job_1", t0+3)
	require.NoError(t, err)
	require.True(t, r.Refunded)
	require.Equal(t, int64(10), *r.Credits)
}
