package idempotency

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/ocrstack/ocrstack/contracts"
	"github.com/ocrstack/ocrstack/ingress/internal/natstest"
	"github.com/stretchr/testify/require"
)

// startJS runs an in-process JetStream server for the test.
func startJS(t *testing.T) jetstream.JetStream {
	t.Helper()
	_, js := natstest.JetStream(t)
	return js
}

var t0 = time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)

func newStore(t *testing.T, js jetstream.JetStream) *Store {
	t.Helper()
	s, err := New(context.Background(), Config{JetStream: js, Now: func() time.Time { return t0 }})
	require.NoError(t, err)
	return s
}

// TestClaim walks one bucket through claims: the first claim of a key is
// new; the same key with the same request names the first job; with
// another request it is ErrConflict; the same header value under another
// API key, or another value under the same API key, is a claim of its own.
func TestClaim(t *testing.T) {
	s := newStore(t, startJS(t))
	alice, bob := Scope("ocr_alice"), Scope("ocr_bob")
	steps := []struct {
		name             string
		scope, key, body string
		job              string
		wantNew          bool
		wantJob, wantErr string
	}{
		{"first claim", alice, "retry-1", "body-a", "job_1", true, "job_1", ""},
		{"same request", alice, "retry-1", "body-a", "job_2", false, "job_1", ""},
		{"same request again", alice, "retry-1", "body-a", "job_3", false, "job_1", ""},
		{"another request", alice, "retry-1", "body-b", "job_4", false, "", ErrConflict.Error()},
		{"another API key", bob, "retry-1", "body-b", "job_5", true, "job_5", ""},
		{"another header value", alice, "retry-2", "body-b", "job_6", true, "job_6", ""},
	}
	for _, st := range steps {
		got, err := s.Claim(context.Background(), st.scope, st.key, st.body, st.job)
		if st.wantErr != "" {
			require.EqualError(t, err, st.wantErr, st.name)
			continue
		}
		require.NoError(t, err, st.name)
		require.Equal(t, Claim{New: st.wantNew, JobID: st.wantJob, CreatedAt: t0}, got, st.name)
	}
}

// TestClaimRace races 20 claims of one key, on two Stores, each with a job
// of its own: exactly one is new, and every other names its job.
func TestClaimRace(t *testing.T) {
	js := startJS(t)
	stores := []*Store{newStore(t, js), newStore(t, js)}
	scope := Scope("ocr_alice")
	claims := make([]Claim, 20)
	var wg sync.WaitGroup
	for i := range claims {
		wg.Go(func() {
			c, err := stores[i%2].Claim(context.Background(), scope, "retry-1", "body-a", fmt.Sprint("job_", i))
			require.NoError(t, err)
			claims[i] = c
		})
	}
	wg.Wait()
	winner := ""
	for _, c := range claims {
		if c.New {
			require.Empty(t, winner, "two claims are new")
			winner = c.JobID
		}
	}
	require.NotEmpty(t, winner, "no claim is new")
	for i, c := range claims {
		require.Equal(t, winner, c.JobID, "claim %d", i)
	}
}

// TestRelease checks that a released claim lets the next request claim
// the key anew, and that a release naming another job leaves the claim.
func TestRelease(t *testing.T) {
	s := newStore(t, startJS(t))
	ctx, scope := context.Background(), Scope("ocr_alice")
	_, err := s.Claim(ctx, scope, "k", "body-a", "job_1")
	require.NoError(t, err)
	require.NoError(t, s.Release(ctx, scope, "k", "job_other"))
	got, err := s.Claim(ctx, scope, "k", "body-b", "job_2")
	require.ErrorIs(t, err, ErrConflict, "a release of another job freed the key")
	require.NoError(t, s.Release(ctx, scope, "k", "job_1"))
	require.NoError(t, s.Release(ctx, scope, "k", "job_1"), "a second release")
	got, err = s.Claim(ctx, scope, "k", "body-b", "job_2")
	require.NoError(t, err)
	require.Equal(t, Claim{New: true, JobID: "job_2", CreatedAt: t0}, got)
}

// TestBucket checks the bucket New creates: one value per entry, expiring
// after contracts.IdempotencyMaxAge; a second New (another replica) uses
// it as it is.
func TestBucket(t *testing.T) {
	js := startJS(t)
	newStore(t, js)
	newStore(t, js)
	kv, err := js.KeyValue(context.Background(), contracts.IdempotencyBucket)
	require.NoError(t, err)
	st, err := kv.Status(context.Background())
	require.NoError(t, err)
	require.Equal(t, contracts.IdempotencyMaxAge, st.TTL())
	require.Equal(t, int64(1), st.History())
	require.Equal(t, 24*time.Hour, contracts.IdempotencyMaxAge)
}

// TestClaimRejectsBadKeys checks that an Idempotency-Key that is empty,
// longer than 255 bytes or not printable ASCII is ErrInvalidKey and
// claims nothing, and that 255 printable characters are accepted.
func TestClaimRejectsBadKeys(t *testing.T) {
	s := newStore(t, startJS(t))
	cases := []struct {
		name, key string
		wantErr   error
	}{
		{"empty", "", ErrInvalidKey},
		{"256 bytes", strings.Repeat("a", 256), ErrInvalidKey},
		{"newline", "a\nb", ErrInvalidKey},
		{"tab", "a\tb", ErrInvalidKey},
		{"DEL", "a\x7f", ErrInvalidKey},
		{"non-ASCII", "clé", ErrInvalidKey},
		{"255 printable", strings.Repeat("~", 254) + " ", nil},
		{"a UUID", "6f1c1e5e-8a3b-4c1d-9a8e-2b7f0c3d4e5f", nil},
		{"punctuation", `!"#$%&'()*+,-./:;<=>?@[\]^_{|}`, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := s.Claim(context.Background(), Scope("ocr_alice"), tc.key, "body", "job_1")
			require.Equal(t, tc.wantErr, err)
			require.Equal(t, tc.wantErr == nil, ValidKey(tc.key))
		})
	}
}

// TestScope checks that a scope is a fixed-length hash that names neither
// the API key nor collides across keys.
func TestScope(t *testing.T) {
	a, b := Scope("ocr_alice"), Scope("ocr_bob")
	require.Len(t, a, 64)
	require.NotEqual(t, a, b)
	require.NotContains(t, a, "alice")
	require.NotEqual(t, entryName(a, "k"), entryName(b, "k"))
}

// FuzzValidKey checks that every Idempotency-Key ValidKey accepts makes a
// valid KV key, and only printable ASCII of 1 to 255 bytes is accepted.
func FuzzValidKey(f *testing.F) {
	f.Add("retry-1")
	f.Add("a\x00b")
	f.Add(strings.Repeat("x", 256))
	f.Fuzz(func(t *testing.T, k string) {
		if !ValidKey(k) {
			return
		}
		if len(k) == 0 || len(k) > MaxKeyLength || strings.ContainsFunc(k, func(r rune) bool { return r < ' ' || r > '~' }) {
			t.Fatalf("accepted %q", k)
		}
		name := entryName(Scope("k"), k)
		if len(name) != 2+64 || strings.ContainsAny(name, " *>") {
			t.Fatalf("entry name %q", name)
		}
	})
}
