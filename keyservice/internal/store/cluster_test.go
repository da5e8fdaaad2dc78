package store

import (
	"context"
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
