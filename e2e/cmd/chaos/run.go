package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/ocrstack/ocrstack/contracts"
)

// mainCredits is the main key's budget: more than a run spends, so its
// audit compares what it admitted with what it was charged.
const mainCredits = 100_000

// harness is one run: the stack, the load and what went wrong.
type harness struct {
	o       options
	s       *stack
	c       *client
	l       *ledger
	ld      *load
	bigPage []byte
	// killed lists the jobs whose worker was killed in the middle.
	killed []string
	out    io.Writer
	begun  time.Time

	mu       sync.Mutex
	failures []string
}

// say prints a progress line, timed from the start of the run.
func (h *harness) say(format string, args ...any) {
	fmt.Fprintf(h.out, "[%6.1fs] %s\n", time.Since(h.begun).Seconds(), fmt.Sprintf(format, args...))
}

// fail records a reason for the run to fail and goes on.
func (h *harness) fail(format string, args ...any) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.failures = append(h.failures, fmt.Sprintf(format, args...))
}

func run(ctx context.Context, args []string, stdout io.Writer) (err error) {
	o, err := parse(args)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, o.timeout+o.soak)
	defer cancel()
	if o.chScript == "" {
		if o.chScript, err = findScript(); err != nil {
			return err
		}
	}
	for _, path := range []string{o.natsServer, o.chScript, filepath.Join(o.bin, "keyservice"), filepath.Join(o.bin, "ocr-worker"),
		filepath.Join(o.bin, "analytics"), filepath.Join(o.bin, "ingress")} {
		if _, err := os.Stat(path); err != nil {
			return fmt.Errorf("%w (run `make build`, or pass -bin and -nats-server)", err)
		}
	}
	dir, err := os.MkdirTemp("", "chaos-")
	if err != nil {
		return err
	}
	h := &harness{o: o, l: newLedger(), out: stdout, begun: time.Now()}
	if h.bigPage, err = bigPage(); err != nil {
		return err
	}
	h.say("work directory (logs, stores): %s", dir)
	passed := false
	defer func() {
		if h.s != nil {
			h.say("stopping the stack")
			h.s.stop()
		}
		if passed && !o.keep {
			_ = os.RemoveAll(dir)
		} else {
			fmt.Fprintf(stdout, "logs kept in %s\n", dir)
		}
	}()
	if h.s, err = startStack(ctx, o, dir, h.say); err != nil {
		return err
	}
	h.c = newClient(h.s.url)
	mainKey, mainKeyID, err := h.c.createKey(ctx, "chaos-main", mainCredits)
	if err != nil {
		return err
	}
	phases := faultOrder(o.faults)
	if o.soak > 0 {
		phases = []string{"soak"}
	}
	keyIDs := []string{mainKeyID}
	type budgetKey struct{ key, id string }
	budgets := make([]budgetKey, len(phases))
	for i, name := range phases {
		k, id, err := h.c.createKey(ctx, "chaos-budget-"+name, o.budget)
		if err != nil {
			return err
		}
		budgets[i] = budgetKey{k, id}
		keyIDs = append(keyIDs, id)
	}
	if h.ld, err = newLoad(h.c, h.l, o, mainKey); err != nil {
		return err
	}

	var rss []rssTrack
	h.l.begin(phases[0], budgets[0].key, budgets[0].id, time.Now())
	loadCtx, stopLoad := context.WithCancel(ctx)
	waitLoad := h.ld.start(loadCtx)
	var runErr error
	if o.soak > 0 {
		h.say("phase soak: mixed load for %s, RSS sampled every %s", o.soak, o.sample)
		rss, runErr = h.soak(ctx)
	} else {
		runErr = h.phases(ctx, phases, func(i int) { h.l.begin(phases[i], budgets[i].key, budgets[i].id, time.Now()) })
	}
	stopLoad()
	waitLoad()
	h.l.finish(time.Now())
	if ctx.Err() != nil {
		return fmt.Errorf("interrupted, or over -timeout: %w", ctx.Err())
	}
	h.say("load stopped; waiting up to %s for results and events", o.settle)
	phaseLogs, jobs := h.l.snapshot()
	out := h.settle(ctx, jobs, keyIDs)
	rep := tally(phaseLogs, jobs, h.l.answeredRequests(), out, o.budget, mainCredits, mainKeyID)

	fmt.Fprintln(stdout)
	rep.print(stdout)
	h.printNotes(phaseLogs, out)
	if len(rss) > 0 {
		printRSS(stdout, rss, warmup(o.soak))
	}
	problems := h.problems(runErr, rep, out)
	if reasons := verdict(rep, problems); len(reasons) > 0 {
		return fmt.Errorf("FAILED:\n  - %s", strings.Join(reasons, "\n  - "))
	}
	passed = true
	fmt.Fprintln(stdout, "PASS: no job lost, no event lost or duplicated, no over-admission, every service survived")
	return nil
}

// phases runs each phase's fault with the load on, and holds the phase to
// at least -phase. It stops at the first fault that cannot be undone or
// the first crash.
func (h *harness) phases(ctx context.Context, names []string, begin func(int)) error {
	for i, name := range names {
		if i > 0 {
			begin(i)
		}
		h.say("phase %s", name)
		start := time.Now()
		if f := faults[name]; f != nil {
			if err := f(ctx, h); err != nil {
				err = fmt.Errorf("%s: %w", name, err)
				h.say("%v; the run stops", err)
				return err
			}
		}
		if err := sleep(ctx, h.o.phase-time.Since(start)); err != nil {
			return err
		}
		if len(h.s.crashed()) > 0 {
			return errors.New("a process crashed; the run stops")
		}
	}
	return nil
}

// problems gathers what fails the run besides the table's counts.
func (h *harness) problems(runErr error, rep report, out outcome) []string {
	var p []string
	if runErr != nil {
		p = append(p, runErr.Error())
	}
	p = append(p, h.s.crashed()...)
	p = append(p, out.problems...)
	h.mu.Lock()
	p = append(p, h.failures...)
	h.mu.Unlock()
	for _, id := range h.killed {
		if r, ok := out.results[id]; ok && r.status != contracts.JobSucceeded {
			p = append(p, fmt.Sprintf("the job killed mid-recognition, %s, ended %s (%s) instead of succeeding on redelivery", id, r.status, r.code))
		}
	}
	if n := h.ld.protocol.Load(); n > 0 {
		p = append(p, fmt.Sprintf("%d answers broke the API's contract, the first: %v", n, h.ld.firstBad.Load()))
	}
	if h.o.soak > 0 && rep.total.errors > 0 {
		p = append(p, fmt.Sprintf("%d requests failed (5xx or no answer) during the soak", rep.total.errors))
	}
	return p
}

// printNotes writes what happened in each phase and at the end.
func (h *harness) printNotes(phases []phaseLog, out outcome) {
	w := h.out
	fmt.Fprintln(w)
	for _, p := range phases {
		fmt.Fprintf(w, "%s (%s): statuses %s\n", p.name, p.end.Sub(p.start).Round(100*time.Millisecond), statusLine(p.statuses))
		for _, n := range p.notes {
			fmt.Fprintf(w, "    %s\n", n)
		}
	}
	for _, id := range h.killed {
		r, ok := out.results[id]
		switch {
		case !ok:
			fmt.Fprintf(w, "killed job %s: no result\n", id)
		default:
			fmt.Fprintf(w, "killed job %s: redelivered, %s\n", id, r.status)
		}
	}
	for _, n := range out.notes {
		fmt.Fprintf(w, "settle: %s\n", n)
	}
	// The services' own account of the errors, to tell a fault's expected
	// refusals from a bug.
	for _, p := range h.s.procs {
		errs := logErrors(p.log)
		if len(errs) == 0 {
			continue
		}
		fmt.Fprintf(w, "%s logged errors:\n", p.name)
		for _, e := range errs[:min(maxLogErrors, len(errs))] {
			fmt.Fprintf(w, "    %.300s\n", e)
		}
		if len(errs) > maxLogErrors {
			fmt.Fprintf(w, "    ... and %d other kinds\n", len(errs)-maxLogErrors)
		}
	}
}

// maxLogErrors bounds the kinds of logged errors printed per process.
const maxLogErrors = 6
