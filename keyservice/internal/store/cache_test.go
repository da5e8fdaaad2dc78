package store

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/ocrstack/ocrstack/contracts"
	"github.com/ocrstack/ocrstack/keyservice/internal/limits"
	"github.com/ocrstack/ocrstack/keyservice/internal/natstest"
)

// TestCacheRules checks the three rules that keep a cache from serving what
// a replica was told has changed.
func TestCacheRules(t *testing.T) {
	c := newCache[string](10, time.Hour)
	get := func(k string) string {
		e, ok := c.get(k)
		if !ok {
			return "-"
		}
		return fmt.Sprint(e.v, "@", e.rev)
	}

	m := c.mark()
	c.fill("a", "v1", 1, m)
	if got := get("a"); got != "v1@1" {
		t.Fatalf("fill: %s", got)
	}

	// A read that began before a change heard of is not filled in.
	m = c.mark()
	c.observe("b", "x", 7)
	c.fill("a", "stale", 2, m)
	if got := get("a"); got != "v1@1" {
		t.Fatalf("fill after an observed change: %s", got)
	}
	if got := get("b"); got != "-" {
		t.Fatalf("observe of an uncached key cached it: %s", got)
	}

	// A change replaces an older entry, never a newer one.
	c.observe("a", "v3", 3)
	c.observe("a", "v2", 2)
	if got := get("a"); got != "v3@3" {
		t.Fatalf("observe: %s", got)
	}
	c.fill("a", "v2", 2, c.mark())
	if got := get("a"); got != "v3@3" {
		t.Fatalf("fill of an older revision: %s", got)
	}

	// A local write forgets, and fails reads in flight.
	m = c.mark()
	c.forget("a")
	c.fill("a", "v3", 3, m)
	if got := get("a"); got != "-" {
		t.Fatalf("forget: %s", got)
	}

	// Full: cleared, then filled.
	for i := range 12 {
		c.fill(fmt.Sprint("k", i), "v", 1, c.mark())
	}
	if n := len(c.m); n > 10 {
		t.Fatalf("cache grew to %d entries, bound 10", n)
	}

	// Stopped: nothing is served or filled.
	c.stop()
	c.fill("a", "v4", 4, c.mark())
	if got := get("a"); got != "-" {
		t.Fatalf("stopped cache: %s", got)
	}

	// Too old: not served.
	old := newCache[string](10, time.Millisecond)
	old.fill("a", "v", 1, old.mark())
	time.Sleep(5 * time.Millisecond)
	if _, ok := old.get("a"); ok {
		t.Fatal("entry served past maxAge")
	}
}

// TestGroupedVerificationsAreExact sends 64 concurrent streams of
// verifications of one key through one Store, each request twice at once
// with the same idempotency key (a client retrying too early): one copy
// through Verify, which waits, the other through VerifyCached, as the
// verify endpoint does, so groups mix callers that lead and callers that
// are answered by whoever leads. Groups form (concurrent verifications of
// one Doc), and must decide exactly as one at a time would: 300 requests
// admitted for 300 credits, both copies of a request answered alike, the
// second as a replay.
func TestGroupedVerificationsAreExact(t *testing.T) {
	st, _ := openStore(t)
	ctx := context.Background()
	hash := strings.Repeat("c", 64)
	const granted = 300
	credits := int64(granted)
	if _, err := st.CreateKey(ctx, Record{KeyID: "key_g", APIID: "api", Hash: hash, Enabled: true}, limits.Budget{Credits: &credits}, 1); err != nil {
		t.Fatal(err)
	}
	pass := func(Record, *Identity) (limits.Input, error) {
		return limits.Input{Enabled: true, Permitted: true, Cost: 1}, nil
	}
	type answer struct {
		code     contracts.VerifyCode
		replayed bool
	}
	var mu sync.Mutex
	answers := map[string][]answer{}
	var wg sync.WaitGroup
	for g := range 64 {
		wg.Go(func() {
			for i := range 8 {
				id := fmt.Sprintf("g%d-%d", g, i)
				var pair sync.WaitGroup
				for copy := range 2 {
					pair.Go(func() {
						verify := st.Verify
						if copy == 1 {
							verify = st.verifyNoWait
						}
						v, err := verify(ctx, hash, id, 2, pass)
						if err != nil {
							t.Error(err)
							return
						}
						mu.Lock()
						answers[id] = append(answers[id], answer{v.Outcome.Code, v.Replayed})
						mu.Unlock()
					})
				}
				pair.Wait()
			}
		})
	}
	wg.Wait()
	admitted := 0
	for id, as := range answers {
		if len(as) != 2 || as[0].code != as[1].code {
			t.Fatalf("request %s answered %v", id, as)
		}
		if as[0].code == contracts.VerifyValid {
			admitted++
			if as[0].replayed == as[1].replayed {
				t.Fatalf("request %s admitted twice, or replayed twice: %v", id, as)
			}
		}
	}
	if admitted != granted {
		t.Fatalf("admitted %d requests for %d credits", admitted, granted)
	}
	v, err := st.Verify(ctx, hash, "", 2, pass)
	if err != nil || v.Outcome.Code != contracts.VerifyUsageExceeded || *v.Outcome.Credits != 0 {
		t.Fatalf("after the run: %v %v", v.Outcome, err)
	}
}

// openStore opens a Store on an embedded server of its own.
func openStore(t *testing.T) (*Store, jetstream.JetStream) {
	t.Helper()
	_, nc := natstest.Start(t)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	st, err := Open(context.Background(), js)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	return st, js
}

// verifyNoWait verifies as the verify endpoint does: through VerifyCached,
// waiting for its answer, or through Verify when the key is not cached.
func (s *Store) verifyNoWait(ctx context.Context, hash, requestID string, now int64, plan Plan) (Verification, error) {
	type result struct {
		v   Verification
		err error
	}
	done := make(chan result, 1)
	if !s.VerifyCached(hash, requestID, now, plan, func(v Verification, err error) { done <- result{v, err} }) {
		return s.Verify(ctx, hash, requestID, now, plan)
	}
	r := <-done
	return r.v, r.err
}

// TestVerifyCachedNeverWaits checks what the verify endpoint relies on:
// VerifyCached does nothing for a key it would have to read, answers
// before it returns what the cached Doc decides without a write, and
// queues what spends, answering it once written.
func TestVerifyCachedNeverWaits(t *testing.T) {
	st, js := openStore(t)
	ctx := context.Background()
	credits := int64(2)
	counted, free := strings.Repeat("d", 64), strings.Repeat("e", 64)
	for _, k := range []struct {
		hash   string
		budget limits.Budget
	}{{counted, limits.Budget{Credits: &credits}}, {free, limits.Budget{}}} {
		if _, err := st.CreateKey(ctx, Record{KeyID: "key_" + k.hash[:1], APIID: "api", Hash: k.hash, Enabled: true}, k.budget, 1); err != nil {
			t.Fatal(err)
		}
	}
	pass := func(Record, *Identity) (limits.Input, error) {
		return limits.Input{Enabled: true, Permitted: true, Cost: 1}, nil
	}
	var got []contracts.VerifyCode
	answers := make(chan Verification, 1)
	then := func(v Verification, err error) {
		if err != nil {
			t.Error(err)
		}
		answers <- v
	}
	cached := func(hash string) bool { return st.VerifyCached(hash, "", 2, pass, then) }

	// Not cached yet (a local write forgets what it wrote): nothing done.
	if cached(counted) || cached(free) {
		t.Fatal("VerifyCached took a key it had to read")
	}
	for _, h := range []string{counted, free} {
		// A read is not cached while the watch still brings changes from
		// before it (the creates): read until it is.
		for i := 0; ; i++ {
			if _, err := st.KeyByHashCached(ctx, h, 2); err != nil {
				t.Fatal(err)
			}
			if _, ok := st.records.get(h); ok {
				break
			}
			if i == 100 {
				t.Fatal("the record was never cached")
			}
			time.Sleep(10 * time.Millisecond)
		}
		v, err := st.Verify(ctx, h, "", 2, pass) // reads, and caches the Doc
		if err != nil || v.Outcome.Code != contracts.VerifyValid {
			t.Fatalf("verify: %v %v", v.Outcome, err)
		}
	}
	// answered verifies hash through VerifyCached and returns the answer;
	// atOnce: it must have come before VerifyCached returned.
	answered := func(hash string, atOnce bool) Verification {
		t.Helper()
		if !cached(hash) {
			t.Fatal("VerifyCached refused a cached key")
		}
		if !atOnce {
			return <-answers
		}
		select {
		case v := <-answers:
			return v
		default:
			t.Fatal("a verification the cached Doc decides without a write was not answered before VerifyCached returned")
			return Verification{}
		}
	}
	// Nothing to count: decided from the cached Doc at once.
	got = append(got, answered(free, true).Outcome.Code)
	// Spends the last credit: answered once written.
	v := answered(counted, false)
	got = append(got, v.Outcome.Code)
	if *v.Outcome.Credits != 0 {
		t.Fatalf("credits after spending the last: %d", *v.Outcome.Credits)
	}
	// Then refused from the cached Doc at once.
	got = append(got, answered(counted, true).Outcome.Code)
	want := []contracts.VerifyCode{contracts.VerifyValid, contracts.VerifyValid, contracts.VerifyUsageExceeded}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("answers %v, want %v", got, want)
	}
	// What was spent is stored, not just cached.
	fresh, err := Open(ctx, js)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = fresh.Close() })
	v, err = fresh.Verify(ctx, counted, "", 2, pass)
	if err != nil || v.Outcome.Code != contracts.VerifyUsageExceeded {
		t.Fatalf("another replica: %v %v", v.Outcome, err)
	}
}
