package main

import (
	"bytes"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/ocrstack/ocrstack/contracts"
	"github.com/stretchr/testify/require"
)

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// twoPhases is a baseline and a fault phase of 10 s each.
func twoPhases() []phaseLog {
	return []phaseLog{
		{name: "baseline", start: t0, end: t0.Add(10 * time.Second), budgetKeyID: "kb0", requests: 10, errors: 0, accepted: 3, budgetValid: 40, mainValid: 5},
		{name: "kill-worker", start: t0.Add(10 * time.Second), end: t0.Add(20 * time.Second), budgetKeyID: "kb1", requests: 12, errors: 2, accepted: 2, budgetValid: 50, mainValid: 4},
	}
}

// TestTally checks the counts the run's verdict rests on: a job without a
// result is lost, a failed one is not; events fall in the phase their
// stream time falls in (before the first: setup, after the last: settle);
// a budget key's admissions are its VALID verifications plus its succeeded
// jobs, over-admitted beyond the credits granted or spent.
func TestTally(t *testing.T) {
	jobs := map[string]jobLog{
		"j1": {phase: 0}, "j2": {phase: 0}, "j3": {phase: 0, budget: true},
		"j4": {phase: 1}, "j5": {phase: 1, budget: true},
	}
	out := outcome{
		results: map[string]jobResult{
			"j1": {status: contracts.JobSucceeded},
			"j2": {status: contracts.JobFailed, code: contracts.CodeUnreadableImage},
			"j3": {status: contracts.JobSucceeded},
			"j5": {status: contracts.JobSucceeded},
			// j4 has no result: lost.
		},
		events: []eventRec{
			{id: "e0", at: t0.Add(-time.Second)},
			{id: "e1", at: t0.Add(time.Second)},
			{id: "e2", at: t0.Add(9 * time.Second)},
			{id: "e2", at: t0.Add(15 * time.Second)}, // republished later: one event
			{id: "e3", at: t0.Add(10 * time.Second)},
			{id: "e4", at: t0.Add(25 * time.Second)},
		},
		stored:     map[string]bool{"e0": true, "e1": true, "e2": true, "e4": true, "stray": true},
		duplicates: map[string]int{"e1": 1},
		copies:     3,
		credits:    map[string]int64{"kb0": 9, "kb1": 0, "main": 100_000 - 7},
	}
	rep := tally(twoPhases(), jobs, nil, out, 50, 100_000, "main")

	names := []string{}
	for _, r := range rep.rows {
		names = append(names, r.name)
	}
	require.Equal(t, []string{"setup", "baseline", "kill-worker", "settle"}, names)
	base, kill := rep.rows[1], rep.rows[2]

	// No job left a usage event: the three with a result in the baseline
	// and the one in kill-worker are unpublished.
	require.Equal(t, row{name: "baseline", requests: 10, accepted: 3, completed: 2, failed: 1, unpublished: 3,
		published: 2, stored: 2, duplicates: 1, budget: true, granted: 50, admitted: 41, spent: 41}, base)
	require.Equal(t, row{name: "kill-worker", requests: 12, errors: 2, accepted: 2, completed: 1, lost: 1, unpublished: 1,
		published: 1, eventsLost: 1, budget: true, granted: 50, admitted: 51, spent: 50, overAdmitted: 1}, kill)
	require.Equal(t, 1, rep.rows[0].published, "setup")
	require.Equal(t, 1, rep.rows[3].published, "settle")

	total := rep.total
	require.Equal(t, 22, total.requests)
	require.Equal(t, 5, total.accepted)
	require.Equal(t, 3, total.completed)
	require.Equal(t, 1, total.failed)
	require.Equal(t, 1, total.lost)
	require.Equal(t, 5, total.published)
	require.Equal(t, 4, total.stored)
	require.Equal(t, 1, total.eventsLost)
	require.Equal(t, 1, total.duplicates)
	// Main key: 9 VALID verifications + j1 succeeded = 10 admitted, 7
	// charged: 3 admitted without a charge.
	require.Equal(t, keyAudit{granted: 100_000, admitted: 10, spent: 7, over: 3}, rep.main)
	require.EqualValues(t, 1+3, total.overAdmitted)
	require.Equal(t, []string{"j4"}, rep.lostJobs)
	require.Equal(t, []string{"e3"}, rep.lostEvents)
	require.Equal(t, 1, rep.storedUnknown)
	require.Equal(t, map[contracts.Code]int{contracts.CodeUnreadableImage: 1}, rep.failedCodes)

	reasons := verdict(rep, []string{"ingress exited on its own"})
	require.Len(t, reasons, 6)
	require.Equal(t, "ingress exited on its own", reasons[0])
	require.Contains(t, reasons[1], "1 accepted jobs lost")
	require.Contains(t, reasons[2], "1 events on the stream never stored")
	require.Contains(t, reasons[3], "4 events never published to the stream: usage of j1, usage of j2, usage of j3")
	require.Contains(t, reasons[4], "1 duplicate")
	require.Contains(t, reasons[5], "4 over-admissions")
}

// TestTallyClean checks that a run where everything adds up passes, and
// that credits charged without an admission seen (a request refused after
// its credit was spent) are reported, not failed.
func TestTallyClean(t *testing.T) {
	jobs := map[string]jobLog{"j1": {phase: 0}, "j2": {phase: 1, budget: true}}
	out := outcome{
		results: map[string]jobResult{"j1": {status: contracts.JobSucceeded}, "j2": {status: contracts.JobSucceeded}},
		events: []eventRec{
			{id: "e1", at: t0.Add(time.Second), usage: true, jobID: "j1"},
			{id: "e2", at: t0.Add(12 * time.Second), usage: true, jobID: "j2"},
		},
		stored: map[string]bool{"e1": true, "e2": true},
		// kb0 50-10 = 40 spent for 40 admitted; kb1 spent all 50 for 51
		// admitted would be over: here 49 admitted, 50 spent.
		credits: map[string]int64{"kb0": 10, "kb1": 0, "main": 100_000 - 12},
	}
	phases := twoPhases()
	phases[1].budgetValid = 48
	rep := tally(phases, jobs, nil, out, 50, 100_000, "main")
	require.Empty(t, verdict(rep, nil))
	require.Equal(t, keyAudit{granted: 100_000, admitted: 10, spent: 12, unpaid: 2}, rep.main)
	require.EqualValues(t, 0, rep.total.overAdmitted)
	require.Equal(t, "49/50/50", budgetCell(t, rep, "kill-worker"))
}

// TestTallyUnpublished checks the events the stream must hold: one usage
// event per job with a result (not two), a verification event carrying
// the id of every request the ingress answered, and no more verification
// events of a budget key than requests sent with it.
func TestTallyUnpublished(t *testing.T) {
	phases := twoPhases()
	phases[0].budgetAnswered, phases[0].budgetUnanswered = 10, 2
	phases[1].budgetAnswered, phases[1].budgetUnanswered = 5, 0
	jobs := map[string]jobLog{"j1": {phase: 0}, "j2": {phase: 1}, "j3": {phase: 1}}
	answered := map[string]int{"r1": 0, "r2": 0, "r3": 1, "r4": 1}
	out := outcome{
		results: map[string]jobResult{"j1": {status: contracts.JobSucceeded}, "j2": {status: contracts.JobFailed}},
		events: []eventRec{
			{id: "u1", at: t0, usage: true, jobID: "j1"},
			{id: "u1b", at: t0, usage: true, jobID: "j1"},
			// j2 has a result and no usage event; j3 is lost, which is
			// counted as such, not again here.
			{id: "v1", at: t0, keyID: "main", requestID: "r1"},
			{id: "v3", at: t0, keyID: "main", requestID: "r3"},
			{id: "v3b", at: t0, keyID: "main", requestID: "r3"}, // a retry inside the stack: fine
			{id: "v5", at: t0, keyID: "main", requestID: "r5"},  // a request answered 5xx: fine
			// r2 (baseline) and r4 (kill-worker) have none.
		},
		stored: map[string]bool{},
	}
	for i := range 7 { // kb1: 5 requests in all, 7 events: 2 extra
		out.events = append(out.events, eventRec{id: fmt.Sprint("k1-", i), at: t0.Add(11 * time.Second), keyID: "kb1"})
	}
	rep := tally(phases, jobs, answered, out, 50, 100_000, "main")
	require.Equal(t, 1, rep.rows[0].unpublished, "baseline: r2")
	require.Equal(t, 2, rep.rows[1].unpublished, "kill-worker: j2's usage, r4")
	require.Equal(t, 3, rep.total.unpublished)
	require.Equal(t, []string{"usage of j2", "verification of request r2", "verification of request r4"}, rep.unpublished)
	require.Equal(t, []string{"j1"}, rep.doubleUsage)
	require.Equal(t, 2, rep.extraVerifications)
	reasons := strings.Join(verdict(rep, nil), "\n")
	require.Contains(t, reasons, "3 events never published to the stream: usage of j2, verification of request r2, verification of request r4")
	require.Contains(t, reasons, "1 jobs with more than one usage event, such as j1")
	require.Contains(t, reasons, "2 verification events of budget keys beyond the requests sent")
}

// budgetCell is the printed budget column of a phase.
func budgetCell(t *testing.T, rep report, phase string) string {
	t.Helper()
	var buf bytes.Buffer
	rep.print(&buf)
	for line := range strings.Lines(buf.String()) {
		f := strings.Fields(line)
		if len(f) > 0 && f[0] == phase {
			return f[len(f)-2]
		}
	}
	t.Fatalf("no row %s in\n%s", phase, buf.String())
	return ""
}

// TestOverAdmitted checks the two ways a key is over-admitted: beyond its
// grant, and beyond what it was charged (unknown charge: grant only).
func TestOverAdmitted(t *testing.T) {
	for _, c := range []struct {
		name                     string
		admitted, granted, spent int64
		want                     int64
	}{
		{"within", 50, 50, 50, 0},
		{"beyond grant", 53, 50, 50, 3},
		{"not charged", 40, 50, 38, 2},
		{"charged more", 40, 50, 45, 0},
		{"spent unknown", 52, 50, -1, 2},
	} {
		t.Run(c.name, func(t *testing.T) {
			require.Equal(t, c.want, overAdmitted(c.admitted, c.granted, c.spent))
		})
	}
}

// TestPhaseOf checks that a time falls in the phase whose [start, end)
// holds it, an open last phase included.
func TestPhaseOf(t *testing.T) {
	phases := twoPhases()
	require.Equal(t, -1, phaseOf(t0.Add(-time.Nanosecond), phases))
	require.Equal(t, 0, phaseOf(t0, phases))
	require.Equal(t, 1, phaseOf(t0.Add(10*time.Second), phases))
	require.Equal(t, 2, phaseOf(t0.Add(20*time.Second), phases))
	phases[1].end = time.Time{}
	require.Equal(t, 1, phaseOf(t0.Add(time.Hour), phases))
	require.Equal(t, -1, phaseOf(t0, nil))
}

// TestPrint checks the table's header, a row and the total, and the lines
// below it.
func TestPrint(t *testing.T) {
	rep := report{
		rows: []row{{name: "baseline", requests: 614, accepted: 88, completed: 88, published: 701, stored: 701,
			budget: true, granted: 50, admitted: 50, spent: 50}},
		total:       row{name: "total", requests: 614, accepted: 88, completed: 88, published: 701, stored: 701, budget: true, granted: 50, admitted: 50, spent: -1},
		main:        keyAudit{granted: 100_000, admitted: 375, spent: 375},
		failedCodes: map[contracts.Code]int{contracts.CodeTimeout: 2},
		copies:      4,
	}
	var buf bytes.Buffer
	rep.print(&buf)
	got := buf.String()
	lines := strings.Split(got, "\n")
	require.Equal(t, []string{"phase", "requests", "errors", "accepted", "completed", "failed", "lost", "ev.unpublished", "ev.published", "ev.stored",
		"ev.lost", "duplicates", "budget", "adm/spent/granted", "over-admitted"}, strings.Fields(lines[0]))
	require.Equal(t, []string{"baseline", "614", "0", "88", "88", "0", "0", "0", "701", "701", "0", "0", "50/50/50", "0"}, strings.Fields(lines[1]))
	require.Equal(t, "50/?/50", strings.Fields(lines[2])[12])
	require.Contains(t, got, "main key: 375 admitted")
	require.Contains(t, got, "failed jobs by code: "+string(contracts.CodeTimeout)+" 2")
	require.Contains(t, got, "before merging (at-least-once copies, collapsed by FINAL): 4")
}

// TestLedger checks what the clients' records add up to: statuses by
// class, accepted jobs once each, VALID verifications by key.
func TestLedger(t *testing.T) {
	l := newLedger()
	l.begin("baseline", "kb0", "kb0id", t0)
	for _, s := range []int{200, 202, 402, 429, 503, statusNoAnswer, statusConnRefused} {
		l.request(0, fmt.Sprint("r", s), s, s == 402 || s == statusNoAnswer)
	}
	for _, s := range []int{200, 503} {
		l.request(0, fmt.Sprint("again", s), s, false)
	}
	l.accepted(0, "j1", false)
	l.accepted(0, "j1", false)
	l.valid(0, true)
	l.valid(0, false)
	l.begin("kill-worker", "kb1", "kb1id", t0.Add(time.Second))
	i, key := l.current()
	require.Equal(t, 1, i)
	require.Equal(t, "kb1", key)
	l.note("killed %s", "ocr-worker-1")
	l.finish(t0.Add(2 * time.Second))

	phases, jobs := l.snapshot()
	require.Len(t, phases, 2)
	p := phases[0]
	require.Equal(t, 9, p.requests)
	require.Equal(t, 4, p.errors)
	require.Equal(t, 2, p.refused)
	require.Equal(t, 1, p.accepted)
	require.Equal(t, 1, p.budgetValid)
	require.Equal(t, 1, p.mainValid)
	require.Equal(t, 1, p.budgetAnswered)
	require.Equal(t, 1, p.budgetUnanswered)
	require.Equal(t, map[string]int{"r200": 0, "r202": 0, "r402": 0, "r429": 0, "again200": 0}, l.answeredRequests())
	require.Equal(t, t0.Add(time.Second), p.end)
	require.Equal(t, []string{"job id j1 accepted twice"}, p.notes)
	require.Equal(t, map[string]jobLog{"j1": {phase: 0}}, jobs)
	require.Equal(t, []string{"killed ocr-worker-1"}, phases[1].notes)
	require.Equal(t, t0.Add(2*time.Second), phases[1].end)
	require.Equal(t, "conn-refused×1 no-answer×1 200×2 202×1 402×1 429×1 503×2", statusLine(p.statuses))
}

// TestParse checks the defaults and that faults run in the documented
// order whatever the flag's.
func TestParse(t *testing.T) {
	o, err := parse(nil)
	require.NoError(t, err)
	require.Equal(t, faultNames, o.faults)
	require.Equal(t, 60*time.Second, o.chOutage)
	require.Equal(t, ".bin/nats-server", o.natsServer)

	o, err = parse([]string{"-faults", "sigterm-ingress,kill-worker", "-clickhouse-outage", "20s"})
	require.NoError(t, err)
	require.Equal(t, []string{"kill-worker", "sigterm-ingress"}, o.faults)
	require.Equal(t, []string{"baseline", "kill-worker", "sigterm-ingress"}, faultOrder(o.faults))

	o, err = parse([]string{"-faults", "none"})
	require.NoError(t, err)
	require.Empty(t, o.faults)

	for _, args := range [][]string{
		{"-faults", "unplug"}, {"-phase", "0s"}, {"-timeout", "0s"}, {"-job-rate", "0"}, {"-clients", "0"}, {"-budget", "0"}, {"-soak", "-1m"}, {"extra"},
	} {
		_, err := parse(args)
		require.Error(t, err, "%v", args)
	}
}

// TestMatchLogLine checks the reading of a worker's JSON log lines.
func TestMatchLogLine(t *testing.T) {
	line := `{"time":"2026-01-01T00:00:01Z","level":"DEBUG","msg":"job started","job_id":"job_1"}`
	at, ok := matchLogLine(line, "job started", "job_1")
	require.True(t, ok)
	require.Equal(t, t0.Add(time.Second), at)
	_, ok = matchLogLine(line, "job done", "job_1")
	require.False(t, ok)
	_, ok = matchLogLine(`{"msg":"job started","job_id":"job_12"}`, "job started", "job_1")
	require.False(t, ok)
	_, ok = matchLogLine("job_1 not json", "job started", "job_1")
	require.False(t, ok)
}

// FuzzMatchLogLine feeds arbitrary log lines, which a crashing process may
// cut anywhere: never a panic, and a match only for the asked msg and id.
func FuzzMatchLogLine(f *testing.F) {
	f.Add(`{"time":"2026-01-01T00:00:01Z","msg":"job started","job_id":"job_1"}`, "job started", "job_1")
	f.Add(`{"time":"2026-01-01T00:00:01Z","msg":"job started","job_id":"job_1`, "job started", "job_1")
	f.Add(`{"msg":"job done","job_id":"job_1","time":"not a time"}`, "job done", "job_1")
	f.Fuzz(func(t *testing.T, line, msg, id string) {
		if _, ok := matchLogLine(line, msg, id); ok && !strings.Contains(line, id) {
			t.Fatalf("matched %q in a line without it", id)
		}
	})
}

// TestDecodeEvent checks that an event is named by its Nats-Msg-Id, else
// by the eventId in its body, and carries its key or job.
func TestDecodeEvent(t *testing.T) {
	e := decodeEvent(contracts.SubjectEventsUsage, "ev_1", []byte(`{"eventId":"ev_2","jobId":"j1","keyId":"k1","requestId":"r1"}`), 7, t0)
	require.Equal(t, eventRec{id: "ev_1", seq: 7, at: t0, usage: true, keyID: "k1", jobID: "j1", requestID: "r1"}, e)
	e = decodeEvent(contracts.SubjectEventsVerification, "", []byte(`{"eventId":"ev_2","keyId":"k1"}`), 8, t0)
	require.Equal(t, eventRec{id: "ev_2", seq: 8, at: t0, keyID: "k1"}, e)
	require.Equal(t, eventRec{seq: 9, at: t0}, decodeEvent(contracts.SubjectEventsVerification, "", []byte(`not json`), 9, t0))
}

// FuzzDecodeEvent feeds arbitrary event bodies, as a stream may hold:
// never a panic, and the id is the header's whenever there is one.
func FuzzDecodeEvent(f *testing.F) {
	f.Add("ev_1", []byte(`{"eventId":"ev_2","jobId":"j1","keyId":"k1"}`))
	f.Add("", []byte(`{"eventId":"ev_2"}`))
	f.Add("", []byte(`{"eventId":`))
	f.Fuzz(func(t *testing.T, msgID string, data []byte) {
		e := decodeEvent(contracts.SubjectEventsUsage, msgID, data, 1, t0)
		if msgID != "" && e.id != msgID {
			t.Fatalf("id %q, want the header's %q", e.id, msgID)
		}
	})
}

// TestProcStatus reads this process's own RSS.
func TestProcStatus(t *testing.T) {
	kib, err := procStatus(os.Getpid(), "VmRSS")
	require.NoError(t, err)
	require.Positive(t, kib)
	_, err = procStatus(os.Getpid(), "NoSuchField")
	require.Error(t, err)
}

// TestRSSTrack checks that growth is measured from the first sample after
// the warm-up, and the RSS table.
func TestRSSTrack(t *testing.T) {
	var tr rssTrack
	tr.name = "ingress"
	for i, kib := range []int64{10240, 20480, 21504, 30720, 21504} {
		tr.add(kib, i >= 2)
	}
	require.Equal(t, rssTrack{name: "ingress", start: 10240, warm: 21504, peak: 30720, end: 21504, samples: 5}, tr)
	require.Equal(t, time.Minute, warmup(30*time.Minute))
	require.Equal(t, time.Minute, warmup(4*time.Minute))
	require.Equal(t, 30*time.Second, warmup(2*time.Minute))

	var buf bytes.Buffer
	printRSS(&buf, []rssTrack{tr}, time.Minute)
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	require.Equal(t, []string{"ingress", "5", "10.0", "21.0", "30.0", "21.0", "1.00"}, strings.Fields(lines[1]))
}

// TestLogErrors checks the grouping of a service's ERROR records.
func TestLogErrors(t *testing.T) {
	path := t.TempDir() + "/ingress.log"
	log := `---- chaos: start 1 of ingress
{"level":"INFO","msg":"serving"}
{"level":"ERROR","msg":"verify key","err":"keyservice unavailable"}
{"level":"ERROR","msg":"submit job","err":"nats: timeout"}
{"level":"ERROR","msg":"verify key","err":"keyservice unavailable"}
{"level":"ERROR","msg":"cut
`
	require.NoError(t, os.WriteFile(path, []byte(log), 0o644))
	require.Equal(t, []string{"2× verify key: keyservice unavailable", "1× submit job: nats: timeout"}, logErrors(path))
	require.Nil(t, logErrors(path+".missing"))
}
