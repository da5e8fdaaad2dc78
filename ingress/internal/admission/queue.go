package admission

import (
	"context"
	"math"
	"sync"
	"time"
)

const (
	// staleFactor: a depth read more than staleFactor × RefreshEvery ago
	// (the ingress was idle, or reads hang) counts as unknown.
	staleFactor = 8
	// rateTau is the time constant of the completion rate's moving
	// average: about the last rateTau of reads weigh in.
	rateTau = 5 * time.Second
)

// queue caches the jobs stream's depth and its recent completion rate,
// read by one caller at a time, at most every RefreshEvery.
type queue struct {
	cfg *Config

	mu sync.Mutex
	// msgs is the stream's message count read at readAt; known is false
	// before the first read and after a failed one.
	msgs   uint64
	known  bool
	readAt time.Time
	// startedAt is when the last read started; refreshing while one runs.
	startedAt  time.Time
	refreshing bool
	failing    bool
	// removed is LastSeq - Msgs at rateAt: every message the stream has
	// ever stored and no longer holds, which on a work-queue stream is
	// (nearly all) jobs acknowledged by a worker. rate is its moving
	// average per second; rated tells whether rate holds a measurement.
	removed uint64
	rateAt  time.Time
	rate    float64
	rated   bool
}

// depth returns the last depth read and whether it is known, and starts a
// read in the background when the last one started RefreshEvery ago or
// more and none is running.
func (q *queue) depth(s Streams) (uint64, bool) {
	now := q.cfg.Now()
	q.mu.Lock()
	defer q.mu.Unlock()
	if !q.refreshing && now.Sub(q.startedAt) >= q.cfg.RefreshEvery {
		q.refreshing, q.startedAt = true, now
		go q.refresh(s)
	}
	if !q.known || now.Sub(q.readAt) > staleFactor*q.cfg.RefreshEvery {
		return 0, false
	}
	return q.msgs, true
}

// refresh makes one stream info call and records its answer.
func (q *queue) refresh(s Streams) {
	ctx, cancel := context.WithTimeout(context.Background(), q.cfg.InfoTimeout)
	defer cancel()
	// Stream makes exactly one stream info request and keeps its answer.
	st, err := s.Stream(ctx, q.cfg.Stream)
	now := q.cfg.Now()
	q.mu.Lock()
	q.refreshing = false
	wasFailing := q.failing
	q.failing = err != nil
	if err != nil {
		q.known = false
	} else {
		state := st.CachedInfo().State
		q.observe(now, state.Msgs, state.LastSeq)
	}
	q.mu.Unlock()
	// Logged on the change only, not four times a second.
	switch {
	case err != nil && !wasFailing:
		q.cfg.Logger.Warn("read jobs queue depth; not refusing on it until a read succeeds", "stream", q.cfg.Stream, "err", err)
	case err == nil && wasFailing:
		q.cfg.Logger.Info("read jobs queue depth again", "stream", q.cfg.Stream)
	}
}

// observe records a read of msgs messages and last sequence lastSeq at
// now. q.mu must be held.
func (q *queue) observe(now time.Time, msgs, lastSeq uint64) {
	removed := uint64(0)
	if lastSeq > msgs {
		removed = lastSeq - msgs
	}
	// A stream deleted and created again starts its sequence anew: skip
	// that interval rather than count it.
	if !q.rateAt.IsZero() && removed >= q.removed && now.After(q.rateAt) {
		dt := now.Sub(q.rateAt).Seconds()
		perSec := float64(removed-q.removed) / dt
		if q.rated {
			q.rate += (1 - math.Exp(-dt/rateTau.Seconds())) * (perSec - q.rate)
		} else {
			q.rate, q.rated = perSec, true
		}
	}
	q.removed, q.rateAt = removed, now
	q.msgs, q.known, q.readAt = msgs, true, now
}

// retryAfter is the Retry-After, in seconds, for a request refused now.
func (q *queue) retryAfter() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	if !q.known {
		return MinRetryAfter
	}
	return retryAfter(q.msgs, q.rate)
}

// retryAfter is the time queued jobs take to drain at perSec completions a
// second, rounded up and clamped to MinRetryAfter..MaxRetryAfter seconds:
// the backlog a retry would otherwise have joined is done by then. No
// completions with jobs queued (the workers
// are down or stuck) gives MaxRetryAfter.
func retryAfter(queued uint64, perSec float64) int {
	if queued == 0 {
		return MinRetryAfter
	}
	if perSec <= 0 {
		return MaxRetryAfter
	}
	s := math.Ceil(float64(queued) / perSec)
	return int(min(max(s, MinRetryAfter), MaxRetryAfter))
}
