package store

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/ocrstack/ocrstack/contracts"
	"github.com/ocrstack/ocrstack/keyservice/internal/limits"
	"github.com/ocrstack/ocrstack/keyservice/internal/natstest"
)

// TestReplicatedBuckets runs the store on R3 buckets in a 3-node cluster,
// where the server reports a lost compare-and-set with another error code
// than a single server: concurrent verifications must still admit exactly
// the credits, and atomic batches (reroll, multi-limit) must commit.
// Verifications with idempotency keys read their records from whichever
// server answers a direct get, followers included: each must be charged
// once, and its replay must answer the same.
func TestReplicatedBuckets(t *testing.T) {
	c := natstest.StartCluster(t, 3)
	nc, err := nats.Connect(c.URLs())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, b := range []string{contracts.KeysBucket, contracts.KeyStateBucket} {
		if _, err := js.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: b, History: 1, Replicas: 3}); err != nil {
			t.Fatal(err)
		}
	}
	st, err := Open(ctx, js)
	if err != nil {
		t.Fatal(err)
	}
	hash, newHash := strings.Repeat("a", 64), strings.Repeat("b", 64)
	credits := int64(50)
	if _, err := st.CreateKey(ctx, Record{KeyID: "key_1", APIID: "api", Hash: hash, Enabled: true}, limits.Budget{Credits: &credits}, 1); err != nil {
		t.Fatal(err)
	}
	pass := func(Record, *Identity) (limits.Input, error) {
		return limits.Input{Enabled: true, Permitted: true, Cost: 1}, nil
	}
	var valid atomic.Int64
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			for range 5 {
				v, err := st.Verify(ctx, hash, "", 2, pass)
				if err != nil {
					t.Error(err)
					return
				}
				if v.Outcome.Code == contracts.VerifyValid {
					valid.Add(1)
				}
			}
		})
	}
	wg.Wait()
	if valid.Load() != 50 {
		t.Fatalf("admitted %d, want 50", valid.Load())
	}
	idemHash := strings.Repeat("c", 64)
	if _, err := st.CreateKey(ctx, Record{KeyID: "key_3", APIID: "api", Hash: idemHash, Enabled: true}, limits.Budget{Credits: &credits}, 1); err != nil {
		t.Fatal(err)
	}
	var admitted atomic.Int64
	for g := range 16 {
		wg.Go(func() {
			for j := range 5 {
				req := fmt.Sprintf("job_%d_%d", g, j)
				first, err := st.Verify(ctx, idemHash, req, 2, pass)
				if err != nil {
					t.Error(err)
					return
				}
				again, err := st.Verify(ctx, idemHash, req, 3, pass)
				if err != nil {
					t.Error(err)
					return
				}
				// A refusal spends nothing and is not remembered: its
				// retry is decided again, and refused again.
				valid := first.Outcome.Code == contracts.VerifyValid
				if first.Replayed || again.Replayed != valid || again.Outcome.Code != first.Outcome.Code {
					t.Errorf("%s: first %v (replayed %v), again %v (replayed %v)", req, first.Outcome.Code, first.Replayed, again.Outcome.Code, again.Replayed)
				}
				if valid {
					admitted.Add(1)
				}
			}
		})
	}
	wg.Wait()
	if admitted.Load() != 50 {
		t.Fatalf("admitted %d with idempotency keys, want 50", admitted.Load())
	}
	if _, err := st.Reroll(ctx, "key_1", NewSecret{KeyID: "key_2", Hash: newHash, Start: "b"}, 1000, 3); err != nil {
		t.Fatal(err)
	}
	if v, err := st.Verify(ctx, hash, "", 4, pass); err != nil || v.Record.KeyID != "key_2" || v.Outcome.Code != contracts.VerifyUsageExceeded {
		t.Fatalf("old key after reroll: %+v, %v", v, err)
	}
	specs := []LimitSpec{{Namespace: "n", Identifier: "i", Limit: 1, Duration: 1000, Cost: 1}, {Namespace: "n", Identifier: "j", Limit: 1, Duration: 1000, Cost: 1}}
	if _, ok, err := st.Limit(ctx, specs, 5); err != nil || !ok {
		t.Fatalf("multi-limit: %v %v", ok, err)
	}
	if _, ok, err := st.Limit(ctx, specs, 6); err != nil || ok {
		t.Fatalf("multi-limit over its limit: %v %v", ok, err)
	}
}
