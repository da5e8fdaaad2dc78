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
// with the same idempotency key (a client retrying too early). Groups form
// (concurrent verifications of one Doc), and must decide exactly as one at
// a time would: 300 requests admitted for 300 credits, both copies of a
// request answered alike, the second as a replay.
func TestGroupedVerificationsAreExact(t *testing.T) {
	_, nc := natstest.Start(t)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	st, err := Open(ctx, js)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
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
				for range 2 {
					pair.Go(func() {
						v, err := st.Verify(ctx, hash, id, 2, pass)
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
