package worker

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/ocrstack/ocrstack/contracts"
)

// action is what the server is told about one delivery.
type action int

const (
	ack  action = iota // done: results and usage are durable
	nak                // try again later
	term               // never deliver again
)

// Redelivery delays after a transient failure: 1s, 2s, 4s ... at most 30s.
const (
	nakBaseDelay = time.Second
	nakMaxDelay  = 30 * time.Second
	ackTimeout   = 5 * time.Second
)

// decide maps the outcome of processing one delivery (the error answerJob
// returned, nil for a job answered with a durable result) to an action.
// It is the only place that makes this decision. delivered counts this
// delivery, from 1.
func decide(err error, delivered uint64) (action, time.Duration) {
	var dead *deadError
	switch {
	case err == nil:
		return ack, 0
	case errors.As(err, &dead):
		return term, 0
	default:
		delay := nakBaseDelay << min(max(delivered, 1)-1, 5)
		return nak, min(delay, nakMaxDelay)
	}
}

// settle tells the server what decide chose, and logs the failures.
func (w *Worker) settle(ctx context.Context, msg jetstream.Msg, err error, log *slog.Logger) {
	delivered := uint64(1)
	if md, mdErr := msg.Metadata(); mdErr == nil {
		delivered = md.NumDelivered
	}
	act, delay := decide(err, delivered)
	var settleErr error
	switch act {
	case ack:
		// A double ack waits for the server's confirmation, so a job is
		// never reported done when the ack was lost.
		ackCtx, cancel := context.WithTimeout(ctx, ackTimeout)
		settleErr = msg.DoubleAck(ackCtx)
		cancel()
	case nak:
		log.Warn("job will be retried", "err", err, "delivered", delivered, "retry_in_ms", delay.Milliseconds())
		w.metrics.retried()
		settleErr = msg.NakWithDelay(delay)
	case term:
		// The copy on the dead-letter stream must be stored before the job
		// leaves the jobs stream; if it cannot be, the job is retried later.
		var dead *deadError
		errors.As(err, &dead)
		if buryErr := w.bury(ctx, msg.Data(), msg.Headers(), deadOf(msg, dead, w.installed)); buryErr != nil {
			log.Warn("job not moved to the dead-letter stream, will be retried", "err", buryErr, "delivered", delivered)
			settleErr = msg.NakWithDelay(nakMaxDelay)
			break
		}
		level := slog.LevelInfo // the producer's input: it got a failed result
		if dead.reason != contracts.DeadPoison {
			level = slog.LevelError
		}
		log.Log(ctx, level, "job terminated", "reason", dead.reason, "err", err, "delivered", delivered, "subject", msg.Subject())
		w.metrics.buried(dead.reason)
		settleErr = msg.TermWithReason(dead.reason)
	}
	if settleErr != nil {
		log.Warn("settle job message", "err", settleErr, "delivered", delivered)
	}
}

// deadOf describes the dead letter of msg, ended by dead.
func deadOf(msg jetstream.Msg, dead *deadError, installed []string) deadLetter {
	d := deadLetter{reason: dead.reason, detail: dead.err.Error()}
	if dead.reason != contracts.DeadMalformed {
		d.code, _ = publicError(dead.err, installed)
	}
	if md, err := msg.Metadata(); err == nil {
		d.seq, d.deliveries = md.Sequence.Stream, md.NumDelivered
	}
	return d
}

// keepAlive tells the server every interval that msg is still being
// worked on, so a long recognition is not redelivered after AckWait. The
// returned function stops it and waits until it has stopped.
func keepAlive(msg jetstream.Msg, every time.Duration) (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				_ = msg.InProgress() // best effort: a lost one only risks a redelivery
			}
		}
	})
	return func() {
		close(done)
		wg.Wait()
	}
}
