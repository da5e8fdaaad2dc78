package main

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/ocrstack/ocrstack/contracts"
)

// row is one line of the table: a phase, the time before the first phase
// ("setup") or after the load ("settle"), or the total.
type row struct {
	name string
	// What clients sent and were told.
	requests, errors, accepted int
	// The accepted jobs' ends: a result that succeeded or failed, or none.
	completed, failed, lost int
	// Events on the stream in this phase, those in ClickHouse, those not,
	// and extra rows of one event id under FINAL.
	published, stored, eventsLost, duplicates int
	// unpublished counts events this phase's requests must have left on
	// the stream and did not: a completed job's usage event, a
	// verification event for each answered request of the budget key.
	unpublished int
	// The phase's budget key: credits granted, admissions (VALID
	// verifications and succeeded jobs), credits spent (granted - left,
	// -1 when unread) and admissions beyond either.
	budget                   bool
	granted, admitted, spent int64
	overAdmitted             int64
}

// keyAudit compares what a key was seen to admit with what it was charged.
type keyAudit struct {
	granted, admitted, spent int64 // spent -1: unread
	// over: admissions not charged; unpaid: charges without an admission
	// a client saw (a request refused after its credit was spent, or a
	// lost job).
	over, unpaid int64
}

// report is everything the run counted.
type report struct {
	rows  []row
	total row
	main  keyAudit
	// failedCodes counts failed jobs by error code.
	failedCodes map[contracts.Code]int
	lostJobs    []string
	lostEvents  []string
	// unpublished names the events missing from the stream.
	unpublished []string
	// doubleUsage lists jobs with more than one usage event (distinct
	// ids): one job recorded twice.
	doubleUsage []string
	// extraVerifications counts budget-key verification events beyond
	// the requests that could have caused them.
	extraVerifications int
	// storedUnknown counts event ids in ClickHouse not on the stream.
	storedUnknown int
	copies        int
}

// tally counts the run: requests per phase from the ledger, job ends from
// the results, events by the phase their stream timestamp falls in, the
// events that should be on the stream and are not (answered maps the
// answered requests' ids to their phase), and the keys' admissions
// against their credits.
func tally(phases []phaseLog, jobs map[string]jobLog, answered map[string]int, out outcome, budget, mainGranted int64, mainKeyID string) report {
	rep := report{failedCodes: map[contracts.Code]int{}, copies: out.copies}
	rows := make([]row, len(phases)+2) // setup, phases..., settle
	rows[0].name, rows[len(rows)-1].name = "setup", "settle"
	for i, p := range phases {
		r := &rows[i+1]
		r.name, r.requests, r.errors, r.accepted = p.name, p.requests, p.errors, p.accepted
		r.budget, r.granted, r.admitted = p.budgetKeyID != "", budget, int64(p.budgetValid)
		rep.main.admitted += int64(p.mainValid)
	}
	for _, id := range slices.Sorted(maps.Keys(jobs)) {
		j := jobs[id]
		r := &rows[j.phase+1]
		res, ok := out.results[id]
		switch {
		case !ok:
			r.lost++
			rep.lostJobs = append(rep.lostJobs, id)
		case res.status == contracts.JobSucceeded:
			r.completed++
			if j.budget {
				r.admitted++
			} else {
				rep.main.admitted++
			}
		default:
			r.failed++
			rep.failedCodes[res.code]++
		}
	}
	eventPhase := map[string]int{}
	for _, e := range out.events {
		if _, seen := eventPhase[e.id]; seen {
			continue // republished after the stream's duplicate window: one event
		}
		i := phaseOf(e.at, phases) + 1
		eventPhase[e.id] = i
		rows[i].published++
		if out.stored[e.id] {
			rows[i].stored++
		} else {
			rows[i].eventsLost++
			rep.lostEvents = append(rep.lostEvents, e.id)
		}
	}
	for id := range out.stored {
		if _, ok := eventPhase[id]; !ok {
			rep.storedUnknown++
		}
	}
	tallyUnpublished(&rep, rows, phases, jobs, answered, out)
	for id, n := range out.duplicates {
		if i, ok := eventPhase[id]; ok {
			rows[i].duplicates += n
		} else {
			rep.total.duplicates += n
		}
	}
	for i, p := range phases {
		r := &rows[i+1]
		if !r.budget {
			continue
		}
		r.spent = -1
		if left, ok := out.credits[p.budgetKeyID]; ok {
			r.spent = budget - left
		}
		r.overAdmitted = overAdmitted(r.admitted, r.granted, r.spent)
	}
	rep.main = audit(mainGranted, rep.main.admitted, out.credits, mainKeyID)
	for _, r := range rows {
		if r.name == "setup" || r.name == "settle" {
			if r.published == 0 && r.duplicates == 0 {
				continue
			}
		}
		rep.rows = append(rep.rows, r)
		t := &rep.total
		t.requests += r.requests
		t.errors += r.errors
		t.accepted += r.accepted
		t.completed += r.completed
		t.failed += r.failed
		t.lost += r.lost
		t.published += r.published
		t.stored += r.stored
		t.eventsLost += r.eventsLost
		t.duplicates += r.duplicates
		t.unpublished += r.unpublished
		if r.budget {
			t.budget = true
			t.granted += r.granted
			t.admitted += r.admitted
			t.spent += max(r.spent, 0)
			t.overAdmitted += r.overAdmitted
		}
	}
	rep.total.name = "total"
	rep.total.overAdmitted += rep.main.over
	return rep
}

// tallyUnpublished counts the events that must be on the stream and are
// not: every job with a result has one usage event, and every request the
// ingress answered (it verified the key once) has a verification event
// carrying the request's id.
func tallyUnpublished(rep *report, rows []row, phases []phaseLog, jobs map[string]jobLog, answered map[string]int, out outcome) {
	usage := map[string]map[string]bool{}         // job -> event ids
	verifications := map[string]map[string]bool{} // key -> event ids
	requests := map[string]bool{}                 // request ids verified
	for _, e := range out.events {
		m, id := verifications, e.keyID
		if e.usage {
			m, id = usage, e.jobID
		} else if e.requestID != "" {
			requests[e.requestID] = true
		}
		if m[id] == nil {
			m[id] = map[string]bool{}
		}
		m[id][e.id] = true
	}
	for _, id := range slices.Sorted(maps.Keys(jobs)) {
		if _, done := out.results[id]; !done {
			continue // lost already
		}
		switch n := len(usage[id]); {
		case n == 0:
			rows[jobs[id].phase+1].unpublished++
			rep.unpublished = append(rep.unpublished, "usage of "+id)
		case n > 1:
			rep.doubleUsage = append(rep.doubleUsage, id)
		}
	}
	for _, id := range slices.Sorted(maps.Keys(answered)) {
		if !requests[id] {
			rows[answered[id]+1].unpublished++
			rep.unpublished = append(rep.unpublished, "verification of request "+id)
		}
	}
	for _, p := range phases {
		if p.budgetKeyID != "" {
			rep.extraVerifications += max(0, len(verifications[p.budgetKeyID])-p.budgetAnswered-p.budgetUnanswered)
		}
	}
}

// overAdmitted is how many admissions exceed the credits granted, or the
// credits spent (admissions never charged). spent -1 is unknown.
func overAdmitted(admitted, granted, spent int64) int64 {
	over := max(0, admitted-granted)
	if spent >= 0 {
		over = max(over, admitted-spent)
	}
	return over
}

func audit(granted, admitted int64, credits map[string]int64, keyID string) keyAudit {
	a := keyAudit{granted: granted, admitted: admitted, spent: -1}
	left, ok := credits[keyID]
	if !ok {
		a.over = max(0, admitted-granted)
		return a
	}
	a.spent = granted - left
	a.over = overAdmitted(admitted, granted, a.spent)
	a.unpaid = max(0, a.spent-admitted)
	return a
}

// phaseOf is the index of the phase running at t: -1 before the first,
// len(phases) after the last.
func phaseOf(t time.Time, phases []phaseLog) int {
	if len(phases) == 0 || t.Before(phases[0].start) {
		return -1
	}
	for i, p := range phases {
		if !t.Before(p.start) && (p.end.IsZero() || t.Before(p.end)) {
			return i
		}
	}
	return len(phases)
}

// verdict lists why the run failed; none means it passed.
func verdict(rep report, problems []string) []string {
	out := slices.Clone(problems)
	t := rep.total
	if t.lost > 0 {
		out = append(out, fmt.Sprintf("%d accepted jobs lost (no result), such as %s", t.lost, sample(rep.lostJobs)))
	}
	if t.eventsLost > 0 {
		out = append(out, fmt.Sprintf("%d events on the stream never stored in ClickHouse, such as %s", t.eventsLost, sample(rep.lostEvents)))
	}
	if t.unpublished > 0 {
		out = append(out, fmt.Sprintf("%d events never published to the stream: %s", t.unpublished, sample(rep.unpublished)))
	}
	if len(rep.doubleUsage) > 0 {
		out = append(out, fmt.Sprintf("%d jobs with more than one usage event, such as %s", len(rep.doubleUsage), sample(rep.doubleUsage)))
	}
	if rep.extraVerifications > 0 {
		out = append(out, fmt.Sprintf("%d verification events of budget keys beyond the requests sent", rep.extraVerifications))
	}
	if t.duplicates > 0 {
		out = append(out, fmt.Sprintf("%d duplicate event rows in ClickHouse under FINAL", t.duplicates))
	}
	if t.overAdmitted > 0 {
		out = append(out, fmt.Sprintf("%d over-admissions (admitted beyond the credits granted or charged)", t.overAdmitted))
	}
	if t.requests == 0 {
		out = append(out, "no request was sent")
	}
	return out
}

func sample(ids []string) string {
	return strings.Join(ids[:min(3, len(ids))], ", ")
}

// print writes the table, then the main key's audit and the failed jobs.
func (rep report) print(w io.Writer) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "phase\trequests\terrors\taccepted\tcompleted\tfailed\tlost\tev.unpublished\tev.published\tev.stored\tev.lost\tduplicates\tbudget adm/spent/granted\tover-admitted\t")
	for _, r := range append(slices.Clone(rep.rows), rep.total) {
		budget := "-"
		if r.budget {
			spent := "?"
			if r.spent >= 0 {
				spent = strconv.FormatInt(r.spent, 10)
			}
			budget = fmt.Sprintf("%d/%s/%d", r.admitted, spent, r.granted)
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%s\t%d\t\n", r.name, r.requests, r.errors, r.accepted,
			r.completed, r.failed, r.lost, r.unpublished, r.published, r.stored, r.eventsLost, r.duplicates, budget, r.overAdmitted)
	}
	tw.Flush()
	m := rep.main
	spent := "unread"
	if m.spent >= 0 {
		spent = strconv.FormatInt(m.spent, 10)
	}
	fmt.Fprintf(w, "main key: %d admitted (VALID verifications + succeeded jobs), %s of %d credits spent: %d over-admitted, %d charged without an admission seen\n",
		m.admitted, spent, m.granted, m.over, m.unpaid)
	if len(rep.failedCodes) > 0 {
		var parts []string
		for _, c := range slices.Sorted(maps.Keys(rep.failedCodes)) {
			parts = append(parts, fmt.Sprintf("%s %d", c, rep.failedCodes[c]))
		}
		fmt.Fprintf(w, "failed jobs by code: %s\n", strings.Join(parts, ", "))
	}
	if rep.copies > 0 {
		fmt.Fprintf(w, "ClickHouse rows beyond one per event before merging (at-least-once copies, collapsed by FINAL): %d\n", rep.copies)
	}
	if rep.storedUnknown > 0 {
		fmt.Fprintf(w, "event ids in ClickHouse that are not on the stream: %d\n", rep.storedUnknown)
	}
}

// statusLine lists request counts by HTTP status, "conn-refused" for a
// connection refused and "no-answer" for any other request without an
// answer: "conn-refused×2 202×310 402×95".
func statusLine(statuses map[int]int) string {
	if len(statuses) == 0 {
		return "-"
	}
	var parts []string
	for _, s := range slices.Sorted(maps.Keys(statuses)) {
		name := strconv.Itoa(s)
		switch s {
		case statusConnRefused:
			name = "conn-refused"
		case statusNoAnswer:
			name = "no-answer"
		}
		parts = append(parts, fmt.Sprintf("%s×%d", name, statuses[s]))
	}
	return strings.Join(parts, " ")
}
