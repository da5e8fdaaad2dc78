package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"
)

// faultLead is how long load runs in a phase before its fault, so the
// fault hits a busy stack.
const faultLead = 2 * time.Second

// fault injects one fault into the running stack and brings it back; the
// load runs all along.
type fault func(ctx context.Context, h *harness) error

// faults by phase name.
var faults = map[string]fault{
	"kill-worker":        killWorker,
	"kill-keyservice":    killKeyservice,
	"restart-nats":       restartNATS,
	"clickhouse-outage":  clickhouseOutage,
	"sigterm-keyservice": sigterm("keyservice-1"),
	"sigterm-ocr-worker": sigterm("ocr-worker-1"),
	"sigterm-analytics":  sigterm("analytics"),
	"sigterm-ingress":    sigterm("ingress"),
}

// killWorker submits large pages and kills, with SIGKILL, the first worker
// that starts one, a second into its recognition. The job must be
// redelivered (after the consumer's AckWait) and complete on another
// worker; settle checks it.
func killWorker(ctx context.Context, h *harness) error {
	if err := sleep(ctx, faultLead); err != nil {
		return err
	}
	for range 3 {
		var ids []string
		phase, _ := h.l.current()
		for range 2 {
			if id := h.ld.job(ctx, phase, h.ld.mainKey, h.bigPage, false); id != "" {
				ids = append(ids, id)
			}
		}
		if len(ids) == 0 {
			return fmt.Errorf("no large job was accepted")
		}
		victim, id, err := h.firstToStart(ctx, ids)
		if err != nil {
			return err
		}
		if err := sleep(ctx, time.Second); err != nil {
			return err
		}
		if _, done := findLog(victim.log, "job done", id); done {
			h.l.note("%s finished %s within a second; trying again", victim.name, id)
			continue
		}
		pid := victim.pid()
		if err := victim.kill(); err != nil {
			return err
		}
		h.killed = append(h.killed, id)
		h.l.note("killed %s (pid %d, SIGKILL) a second into %s", victim.name, pid, id)
		if err := sleep(ctx, 2*time.Second); err != nil {
			return err
		}
		return h.restart(ctx, victim)
	}
	return fmt.Errorf("every large job finished within a second: no worker was killed mid-job")
}

// firstToStart waits for a worker to log "job started" for one of ids.
func (h *harness) firstToStart(ctx context.Context, ids []string) (*proc, string, error) {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	for {
		for _, p := range h.s.procs {
			if p.service != "ocr-worker" {
				continue
			}
			for _, id := range ids {
				if _, ok := findLog(p.log, "job started", id); ok {
					return p, id, nil
				}
			}
		}
		if err := sleep(ctx, 50*time.Millisecond); err != nil {
			return nil, "", fmt.Errorf("no worker started %v within a minute", ids)
		}
	}
}

// killKeyservice kills one of the two replicas under verification load and
// starts it again a few seconds later.
func killKeyservice(ctx context.Context, h *harness) error {
	if err := sleep(ctx, faultLead); err != nil {
		return err
	}
	p := h.s.instance("keyservice-1")
	pid := p.pid()
	if err := p.kill(); err != nil {
		return err
	}
	h.l.note("killed %s (pid %d, SIGKILL)", p.name, pid)
	if err := sleep(ctx, 3*time.Second); err != nil {
		return err
	}
	return h.restart(ctx, p)
}

// restartNATS stops the server with SIGTERM and starts it again on the
// same port and store; every service must reconnect by itself.
func restartNATS(ctx context.Context, h *harness) error {
	if err := sleep(ctx, faultLead); err != nil {
		return err
	}
	took, err := h.s.nats.stop(30 * time.Second)
	if err != nil {
		h.fail("restart-nats: %v", err)
	}
	h.l.note("nats-server stopped by SIGTERM in %s", took.Round(time.Millisecond))
	if err := sleep(ctx, time.Second); err != nil {
		return err
	}
	restarted := time.Now()
	if err := h.s.startNATS(ctx); err != nil {
		return err
	}
	for _, svc := range services {
		if err := h.s.waitReady(ctx, svc); err != nil {
			return fmt.Errorf("after the NATS restart: %w", err)
		}
	}
	h.l.note("nats-server started again; every service ready %s later", time.Since(restarted).Round(time.Millisecond))
	return nil
}

// clickhouseOutage stops ClickHouse for -clickhouse-outage: analytics must
// keep events on the stream and store them all once it is back.
func clickhouseOutage(ctx context.Context, h *harness) error {
	if err := sleep(ctx, faultLead); err != nil {
		return err
	}
	if err := h.s.clickhouse(ctx, "stop"); err != nil {
		return err
	}
	h.l.note("ClickHouse stopped for %s", h.o.chOutage)
	if err := sleep(ctx, h.o.chOutage); err != nil {
		return err
	}
	if err := h.s.clickhouse(ctx, "start"); err != nil {
		return err
	}
	h.l.note("ClickHouse started again")
	return nil
}

// sigterm stops one instance gracefully under load, then starts it again.
// It must exit by itself, with status 0, within stopTimeout.
func sigterm(instance string) fault {
	return func(ctx context.Context, h *harness) error {
		if err := sleep(ctx, faultLead); err != nil {
			return err
		}
		p := h.s.instance(instance)
		took, err := p.stop(stopTimeout)
		if err != nil {
			h.fail("sigterm %s: %v; its log:\n%s", instance, err, tail(p.log, 1500))
		} else {
			h.l.note("%s drained and exited 0 in %s after SIGTERM", instance, took.Round(time.Millisecond))
		}
		return h.restart(ctx, p)
	}
}

// restart starts p again and waits until its service is whole.
func (h *harness) restart(ctx context.Context, p *proc) error {
	start := time.Now()
	if err := p.start(); err != nil {
		return err
	}
	if err := h.s.waitReady(ctx, p.service); err != nil {
		return err
	}
	h.l.note("%s started again, ready in %s", p.name, time.Since(start).Round(time.Millisecond))
	return nil
}

// sleep waits d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(d):
		return nil
	}
}

// findLog returns the time of the first JSON log line in the file with
// the given msg and job_id.
func findLog(path, msg, jobID string) (time.Time, bool) {
	b, err := os.ReadFile(path)
	if err != nil || !strings.Contains(string(b), jobID) {
		return time.Time{}, false
	}
	for line := range strings.Lines(string(b)) {
		if t, ok := matchLogLine(line, msg, jobID); ok {
			return t, true
		}
	}
	return time.Time{}, false
}

// matchLogLine reports whether line is a slog JSON record with msg and
// job_id, and its time.
func matchLogLine(line, msg, jobID string) (time.Time, bool) {
	if !strings.Contains(line, jobID) {
		return time.Time{}, false
	}
	var e struct {
		Time  time.Time `json:"time"`
		Msg   string    `json:"msg"`
		JobID string    `json:"job_id"`
	}
	if json.Unmarshal([]byte(line), &e) != nil || e.Msg != msg || e.JobID != jobID {
		return time.Time{}, false
	}
	return e.Time, true
}

// faultOrder is the phases a run goes through: the baseline, then the
// chosen faults in the documented order.
func faultOrder(chosen []string) []string {
	out := []string{"baseline"}
	for _, f := range faultNames {
		if slices.Contains(chosen, f) {
			out = append(out, f)
		}
	}
	return out
}
