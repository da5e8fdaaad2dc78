package worker

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"time"

	"github.com/ocrstack/ocrstack/ocr-worker/internal/ocr"
	"github.com/ocrstack/ocrstack/ocr-worker/internal/priority"
)

// ErrStuck: more recognitions past their deadline are still running than
// the worker has slots. Run returns it, so the process exits and its
// supervisor (systemd, Kubernetes, compose's restart policy) starts a new
// one: the only way to take the CPU back from a Tesseract call that never
// ends.
var ErrStuck = errors.New("recognitions stuck past their deadline")

// errDeadline is a recognition that outlived the job deadline. It wraps
// context.DeadlineExceeded, so the job is answered with TIMEOUT.
var errDeadline = fmt.Errorf("recognition deadline passed: %w", context.DeadlineExceeded)

// slot is one concurrency slot and the engine it recognises with.
//
// Tesseract checks the job's deadline between words and stops there, so a
// job past it is answered TIMEOUT and the engine serves the next job. What
// Tesseract does not check (decoding, page layout) is bounded by the slot:
// a recognition still running deadlineGrace after the deadline is answered
// at once and its engine left to finish in the background, where it is
// closed; the slot starts a fresh engine for the next job.
type slot struct {
	eng *ocr.Engine
}

// ready gives the slot an engine if it left its last one behind.
func (s *slot) ready(langs []string) error {
	if s.eng != nil {
		return nil
	}
	eng, err := ocr.New(langs)
	if err != nil {
		return fmt.Errorf("replace an overdue engine: %w", err)
	}
	s.eng = eng
	return nil
}

func (s *slot) close() {
	if s.eng != nil {
		s.eng.Close()
		s.eng = nil
	}
}

// deadlineGrace is how long past the job deadline the slot waits for an
// engine that has not stopped by itself: at least a second, at most a
// tenth of the deadline more.
func deadlineGrace(deadline time.Duration) time.Duration {
	return max(time.Second, deadline/10)
}

// read runs the slot's engine on img for at most the job deadline.
func (w *Worker) read(s *slot, img []byte, o ocr.Options) (ocr.Document, error) {
	if !w.unbounded {
		o.Deadline = w.now().Add(w.jobDeadline)
	}
	type result struct {
		doc ocr.Document
		err error
	}
	eng := s.eng
	done := make(chan result, 1)
	go func() {
		// Tesseract runs on a thread of its own at a lower priority, so
		// that it yields the CPUs to the API path (see package priority).
		// The goroutine never unlocks: its thread ends with it, and the
		// lowered priority never reaches the threads that fetch and
		// publish jobs.
		runtime.LockOSThread()
		if err := priority.LowerThread(w.nice); err != nil {
			w.log.Warn("lower the priority of a recognition", "err", err)
		}
		doc, err := eng.ReadWith(img, o)
		done <- result{doc, err}
	}()
	timer := time.NewTimer(w.jobDeadline + deadlineGrace(w.jobDeadline))
	defer timer.Stop()
	select {
	case r := <-done:
		return r.doc, r.err
	case <-timer.C:
	}
	s.eng = nil
	w.overdue.Add(1)
	go func() {
		<-done
		eng.Close()
		w.overdue.Add(-1)
	}()
	return ocr.Document{}, fmt.Errorf("after %s: %w", w.jobDeadline, errDeadline)
}
