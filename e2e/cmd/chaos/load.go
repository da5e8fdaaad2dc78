package main

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ocrstack/ocrstack/e2e/internal/textimage"
)

// load drives the stack's HTTP API and records every request in a ledger.
type load struct {
	c       *client
	l       *ledger
	o       options
	mainKey string
	pages   [][]byte
	// protocol counts answers that broke the API's contract (a 202 without
	// a job id, a body that is not JSON): reported, never expected.
	protocol atomic.Int64
	firstBad atomic.Value // string
	// seq numbers the requests, for their X-Request-Id.
	seq atomic.Int64
}

// named gives the next request its X-Request-Id, which names the phase:
// chaos-<phase>-<n>.
func (ld *load) named(ctx context.Context, phase int) (context.Context, string) {
	id := fmt.Sprintf("chaos-%d-%d", phase, ld.seq.Add(1))
	return withRequestID(ctx, id), id
}

// newLoad draws the pages the job clients send: a few lines each, so a
// worker recognises one in a fraction of a second.
func newLoad(c *client, l *ledger, o options, mainKey string) (*load, error) {
	ld := &load{c: c, l: l, o: o, mainKey: mainKey}
	for i := range 12 {
		img, err := textimage.PNG([]string{
			fmt.Sprintf("Chaos page %d: jobs survive faults.", i),
			"The quick brown fox jumps over the lazy dog.",
		}, 22)
		if err != nil {
			return nil, err
		}
		ld.pages = append(ld.pages, img)
	}
	return ld, nil
}

// bigPage is a page of about 40 lines, several seconds of recognition on
// two cores: long enough to kill its worker in the middle of it.
func bigPage() ([]byte, error) {
	lines := make([]string, 40)
	for i := range lines {
		lines[i] = fmt.Sprintf("%02d The quick brown fox jumps over the lazy dog; el veloz murcielago come kiwi.", i)
	}
	return textimage.PNG(lines, 30)
}

// start runs every client until ctx ends; the returned func waits for them.
func (ld *load) start(ctx context.Context) func() {
	var wg sync.WaitGroup
	every := func(n int, rate float64, fn func(ctx context.Context, worker, tick int)) {
		interval := time.Duration(float64(n) / rate * float64(time.Second))
		for w := range n {
			wg.Go(func() {
				// Spread the clients over the interval.
				select {
				case <-ctx.Done():
					return
				case <-time.After(interval * time.Duration(w) / time.Duration(n)):
				}
				t := time.NewTicker(interval)
				defer t.Stop()
				// A request in flight when the load stops is answered
				// and counted: cut off, an accepted job would go unseen.
				reqCtx := context.WithoutCancel(ctx)
				for tick := 0; ; tick++ {
					fn(reqCtx, w, tick)
					select {
					case <-ctx.Done():
						return
					case <-t.C:
					}
				}
			})
		}
	}
	every(ld.o.clients, ld.o.jobRate, func(ctx context.Context, w, tick int) {
		phase, _ := ld.l.current()
		ld.job(ctx, phase, ld.mainKey, ld.pages[(w*7+tick)%len(ld.pages)], false)
	})
	every(2, ld.o.verifyRate, func(ctx context.Context, _, _ int) {
		phase, _ := ld.l.current()
		ld.verify(ctx, phase, ld.mainKey, false)
	})
	every(1, ld.o.pollRate, func(ctx context.Context, _, _ int) { ld.poll(ctx) })
	// The budget key is hammered by three clients at once, so two
	// keyservice replicas race to spend its last credits.
	every(3, ld.o.hammerRate, func(ctx context.Context, w, tick int) {
		// The key and the phase its admissions count in are read
		// together, so a request crossing into the next phase still
		// counts against the key it spent.
		phase, key := ld.l.current()
		if tick%4 == 3 {
			ld.job(ctx, phase, key, ld.pages[tick%len(ld.pages)], true)
		} else {
			ld.verify(ctx, phase, key, true)
		}
	})
	return wg.Wait
}

// job submits one page, counted in phase; it returns the job id when
// accepted.
func (ld *load) job(ctx context.Context, phase int, key string, img []byte, budget bool) string {
	ctx, reqID := ld.named(ctx, phase)
	status, id, err := ld.c.submit(ctx, key, img)
	if err != nil && status > 0 {
		ld.bad(err)
	}
	ld.l.request(phase, reqID, status, budget)
	if status == http.StatusAccepted && id != "" {
		ld.l.accepted(phase, id, budget)
		return id
	}
	return ""
}

// A verification answered 503, or not at all, is tried again this many
// times in all, this long apart.
const (
	verifyAttempts  = 5
	verifyRetryWait = 200 * time.Millisecond
)

// verify calls keys.verifyKey, counted in phase, as a careful client
// would: with an Idempotency-Key (the request id), retried with it while
// the answer is a 503 or none, so a verification that keyservice decided
// but whose answer was lost is answered by its retry, charged once.
func (ld *load) verify(ctx context.Context, phase int, key string, budget bool) {
	ctx, reqID := ld.named(ctx, phase)
	ctx = withIdempotencyKey(ctx, reqID)
	status, code, err := ld.c.verify(ctx, key)
	for attempt := 1; attempt < verifyAttempts && (status == http.StatusServiceUnavailable || status == statusNoAnswer); attempt++ {
		select {
		case <-ctx.Done():
		case <-time.After(verifyRetryWait):
		}
		if ctx.Err() != nil {
			break
		}
		status, code, err = ld.c.verify(ctx, key)
	}
	if err != nil && status > 0 {
		ld.bad(err)
	}
	ld.l.request(phase, reqID, status, budget)
	if status == http.StatusOK && code == "VALID" {
		ld.l.valid(phase, budget)
	}
}

// poll reads an accepted job of the main key.
func (ld *load) poll(ctx context.Context) {
	id, ok := ld.l.randomJob()
	if !ok {
		return
	}
	phase, _ := ld.l.current()
	ctx, reqID := ld.named(ctx, phase)
	status, err := ld.c.poll(ctx, ld.mainKey, id)
	if err != nil && status > 0 {
		ld.bad(err)
	}
	ld.l.request(phase, reqID, status, false)
}

func (ld *load) bad(err error) {
	if ld.protocol.Add(1) == 1 {
		ld.firstBad.Store(err.Error())
	}
}
