package main

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"sync"
	"time"
)

// ledger records what the clients sent and were told, per phase. Load
// goroutines write to it while the phases advance.
type ledger struct {
	mu     sync.Mutex
	phases []*phaseLog
	jobs   map[string]jobLog
	// ids lists the accepted jobs in order, for the poller to pick from.
	ids []string
	// answered maps the X-Request-Id of every request the ingress
	// answered 2xx or 4xx to its phase: each verified its key once, so
	// each must have left a verification event carrying that id.
	answered map[string]int
}

// phaseLog is one phase as the clients saw it.
type phaseLog struct {
	name       string
	start, end time.Time
	// budgetKey is the phase's small-budget key, budgetKeyID its id.
	budgetKey, budgetKeyID string
	// requests counts every request sent; errors those answered 5xx or
	// not answered at all (refused connections included); refused those
	// answered 4xx, which includes the budget key's expected 402s.
	requests, errors, refused int
	// statuses counts the requests by HTTP status, or statusNoAnswer or
	// statusConnRefused.
	statuses map[int]int
	// accepted counts jobs answered 202.
	accepted int
	// budgetValid counts VALID verifications of the budget key; its
	// accepted jobs are in the ledger's jobs.
	budgetValid int
	// mainValid counts VALID verifications of the main key.
	mainValid int
	// budgetAnswered counts the budget key's requests answered 2xx or
	// 4xx (each verified the key once), budgetUnanswered those answered
	// 5xx or not at all (which may have): the key can have no more
	// verification events than both.
	budgetAnswered, budgetUnanswered int

	// notes say what the harness did to the stack in this phase.
	notes []string
}

// jobLog is an accepted job.
type jobLog struct {
	phase int
	// budget: submitted with the phase's budget key, not the main key.
	budget bool
}

// reply classifies what one request got.
type reply int

const (
	replyOK reply = iota
	replyRefused
	replyError
)

// classify maps an HTTP status, or a status without an answer, to a reply.
func classify(status int) reply {
	switch {
	case status <= statusNoAnswer || status >= 500:
		return replyError
	case status >= 400:
		return replyRefused
	default:
		return replyOK
	}
}

func newLedger() *ledger { return &ledger{jobs: map[string]jobLog{}, answered: map[string]int{}} }

// begin starts a phase; requests are counted in it from now on.
func (l *ledger) begin(name, budgetKey, budgetKeyID string, now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if n := len(l.phases); n > 0 && l.phases[n-1].end.IsZero() {
		l.phases[n-1].end = now
	}
	l.phases = append(l.phases, &phaseLog{name: name, start: now, budgetKey: budgetKey, budgetKeyID: budgetKeyID})
}

// finish ends the last phase.
func (l *ledger) finish(now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if n := len(l.phases); n > 0 && l.phases[n-1].end.IsZero() {
		l.phases[n-1].end = now
	}
}

// current is the running phase's index and budget key.
func (l *ledger) current() (int, string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := len(l.phases) - 1
	return n, l.phases[n].budgetKey
}

// note adds a line about the running phase.
func (l *ledger) note(format string, args ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	p := l.phases[len(l.phases)-1]
	p.notes = append(p.notes, fmt.Sprintf(format, args...))
}

// request counts a request sent in phase i as reqID, with the budget key
// or not, with the status it got.
func (l *ledger) request(i int, reqID string, status int, budget bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	p := l.phases[i]
	p.requests++
	if p.statuses == nil {
		p.statuses = map[int]int{}
	}
	p.statuses[status]++
	switch classify(status) {
	case replyError:
		p.errors++
	case replyRefused:
		p.refused++
	}
	answered := classify(status) != replyError
	if answered {
		l.answered[reqID] = i
	}
	switch {
	case budget && answered:
		p.budgetAnswered++
	case budget:
		p.budgetUnanswered++
	}
}

// accepted records a job answered 202 in phase i.
func (l *ledger) accepted(i int, id string, budget bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if _, dup := l.jobs[id]; dup {
		// The same id twice would be a bug of the ingress; it is counted
		// once, as a job, and noted.
		l.phases[i].notes = append(l.phases[i].notes, "job id "+id+" accepted twice")
		return
	}
	l.phases[i].accepted++
	l.jobs[id] = jobLog{phase: i, budget: budget}
	l.ids = append(l.ids, id)
}

// valid records a VALID verification in phase i, of the budget key or the
// main one.
func (l *ledger) valid(i int, budget bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if budget {
		l.phases[i].budgetValid++
	} else {
		l.phases[i].mainValid++
	}
}

// randomJob is an accepted job of the main key, for the poller.
func (l *ledger) randomJob() (string, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for range 4 {
		if len(l.ids) == 0 {
			return "", false
		}
		id := l.ids[rand.IntN(len(l.ids))]
		if !l.jobs[id].budget {
			return id, true
		}
	}
	return "", false
}

// answeredRequests copies the answered requests' ids and phases.
func (l *ledger) answeredRequests() map[string]int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return maps.Clone(l.answered)
}

// snapshot copies the phases and jobs for counting.
func (l *ledger) snapshot() ([]phaseLog, map[string]jobLog) {
	l.mu.Lock()
	defer l.mu.Unlock()
	phases := make([]phaseLog, len(l.phases))
	for i, p := range l.phases {
		phases[i] = *p
		phases[i].notes = append([]string(nil), p.notes...)
		phases[i].statuses = maps.Clone(p.statuses)
	}
	jobs := make(map[string]jobLog, len(l.jobs))
	for id, j := range l.jobs {
		jobs[id] = j
	}
	return phases, jobs
}
