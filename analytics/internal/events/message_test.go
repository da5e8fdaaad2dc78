package events

import (
	"errors"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ocrstack/ocrstack/contracts"
)

// batchHeader is the header of a batch message of count events.
func batchHeader(count ...string) map[string][]string {
	return map[string][]string{contracts.HeaderEventBatch: count}
}

// TestAddMessage checks both message forms: a message without the batch
// header is one event, as before batches existed; a well-framed batch adds
// its good lines and returns each bad one with its position and reason; a
// batch whose framing is bad, or on an unknown subject, is refused whole
// with a reason wrapping ErrInvalid, and adds nothing.
func TestAddMessage(t *testing.T) {
	v2 := strings.Replace(verificationJSON, `"evt_1"`, `"evt_2"`, 1)
	cases := []struct {
		name      string
		subject   string
		header    map[string][]string
		body      string
		wantIDs   []string
		wantBad   []int // lines refused
		wantErr   error
		wantFrame bool // the error also wraps contracts.ErrEventBatch
	}{
		{name: "single", subject: contracts.SubjectEventsVerification, body: verificationJSON, wantIDs: []string{"evt_1"}},
		{name: "single, other headers", subject: contracts.SubjectEventsUsage,
			header: map[string][]string{"Nats-Msg-Id": {"job_1.usage"}}, body: usageJSON, wantIDs: []string{"job_1.usage"}},
		{name: "single refused", subject: contracts.SubjectEventsUsage, body: `{"eventId":`, wantErr: ErrMalformed},
		{name: "batch", subject: contracts.SubjectEventsVerification, header: batchHeader("2"),
			body: verificationJSON + "\n" + v2, wantIDs: []string{"evt_1", "evt_2"}},
		{name: "batch with trailing newline", subject: contracts.SubjectEventsVerification, header: batchHeader("2"),
			body: verificationJSON + "\n" + v2 + "\n", wantIDs: []string{"evt_1", "evt_2"}},
		{name: "batch of one", subject: contracts.SubjectEventsNotice, header: batchHeader("1"),
			body: noticeJSON, wantIDs: []string{"notice_key_3ZbV9_1"}},
		{name: "bad line kept apart", subject: contracts.SubjectEventsVerification, header: batchHeader("4"),
			body:    verificationJSON + "\n" + `{"eventId":` + "\n" + v2 + "\n" + `{"time":1}`,
			wantIDs: []string{"evt_1", "evt_2"}, wantBad: []int{2, 4}},
		{name: "every line bad", subject: contracts.SubjectEventsUsage, header: batchHeader("2"),
			body: `[1]` + "\n" + `{"eventId":"e"}`, wantBad: []int{1, 2}},
		{name: "line of another subject's type", subject: contracts.SubjectEventsUsage, header: batchHeader("1"),
			body: `{"eventId":"n","time":1,"kind":"low_credits"}`, wantIDs: []string{"n"}},
		{name: "count above the lines", subject: contracts.SubjectEventsVerification, header: batchHeader("3"),
			body: verificationJSON + "\n" + v2, wantErr: ErrBatchFraming, wantFrame: true},
		{name: "count below the lines", subject: contracts.SubjectEventsVerification, header: batchHeader("1"),
			body: verificationJSON + "\n" + v2, wantErr: ErrBatchFraming, wantFrame: true},
		{name: "empty line", subject: contracts.SubjectEventsVerification, header: batchHeader("3"),
			body: verificationJSON + "\n\n" + v2, wantErr: ErrBatchFraming, wantFrame: true},
		{name: "count not a number", subject: contracts.SubjectEventsVerification, header: batchHeader("two"),
			body: verificationJSON + "\n" + v2, wantErr: ErrBatchFraming, wantFrame: true},
		{name: "count empty: one event", subject: contracts.SubjectEventsVerification, header: batchHeader(""),
			body: verificationJSON, wantIDs: []string{"evt_1"}},
		{name: "count empty, batch body", subject: contracts.SubjectEventsVerification, header: batchHeader(""),
			body: verificationJSON + "\n" + v2, wantErr: ErrMalformed},
		{name: "count above the most", subject: contracts.SubjectEventsVerification, header: batchHeader("1001"),
			body: verificationJSON, wantErr: ErrBatchFraming, wantFrame: true},
		{name: "header repeated: the first counts", subject: contracts.SubjectEventsVerification, header: batchHeader("2", "1"),
			body: verificationJSON + "\n" + v2, wantIDs: []string{"evt_1", "evt_2"}},
		{name: "empty body", subject: contracts.SubjectEventsVerification, header: batchHeader("1"),
			body: "", wantErr: ErrBatchFraming, wantFrame: true},
		{name: "batch on an unknown subject", subject: "events.v1.billing", header: batchHeader("1"),
			body: verificationJSON, wantErr: ErrUnknownSubject},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var b Batch
			added, bad, err := b.AddMessage(tc.subject, tc.header, []byte(tc.body))
			if tc.wantErr != nil {
				require.ErrorIs(t, err, tc.wantErr)
				require.ErrorIs(t, err, ErrInvalid)
				require.Equal(t, tc.wantFrame, errors.Is(err, contracts.ErrEventBatch))
				require.Zero(t, added)
				require.Empty(t, bad)
				require.Zero(t, b.Len(), "a refused message adds nothing")
				return
			}
			require.NoError(t, err)
			require.Equal(t, len(tc.wantIDs), added)
			require.Equal(t, tc.wantIDs, batchIDs(&b))
			var gotBad []int
			for _, l := range bad {
				require.ErrorIs(t, l.Err, ErrInvalid)
				require.NotEmpty(t, l.Body)
				gotBad = append(gotBad, l.Line)
			}
			require.Equal(t, tc.wantBad, gotBad)
		})
	}
}

// batchIDs lists the ids of b's events, verifications then usage then
// notices.
func batchIDs(b *Batch) []string {
	var ids []string
	for _, v := range b.Verifications {
		ids = append(ids, v.EventID)
	}
	for _, u := range b.Usage {
		ids = append(ids, u.EventID)
	}
	for _, n := range b.Notices {
		ids = append(ids, n.EventID)
	}
	return ids
}

// FuzzAddMessage checks that AddMessage never panics on any subject,
// header value or body; that a refusal wraps ErrInvalid and adds nothing;
// that a well-framed batch accounts for every line, each either added or
// returned as a bad line wrapping ErrInvalid; and that each good line of a
// batch is exactly what Decode accepts on its own.
func FuzzAddMessage(f *testing.F) {
	v2 := strings.Replace(verificationJSON, `"evt_1"`, `"evt_2"`, 1)
	f.Add(contracts.SubjectEventsVerification, false, "", []byte(verificationJSON))
	f.Add(contracts.SubjectEventsVerification, true, "2", []byte(verificationJSON+"\n"+v2))
	f.Add(contracts.SubjectEventsVerification, true, "2", []byte(verificationJSON+"\n"+v2+"\n"))
	f.Add(contracts.SubjectEventsVerification, true, "3", []byte(verificationJSON+"\n{\"eventId\":\n"+v2))
	f.Add(contracts.SubjectEventsUsage, true, "1", []byte(usageJSON))
	f.Add(contracts.SubjectEventsNotice, true, "2", []byte(noticeJSON+"\n"+noticeJSON))
	f.Add(contracts.SubjectEventsUsage, true, "2", []byte(usageJSON+"\n\n"))
	f.Add(contracts.SubjectEventsUsage, true, "0", []byte(""))
	f.Add(contracts.SubjectEventsUsage, true, "-1", []byte("\n"))
	f.Add(contracts.SubjectEventsUsage, true, " 1", []byte(usageJSON))
	f.Add("events.v1.other", true, "1", []byte(`{}`))
	f.Fuzz(func(t *testing.T, subject string, isBatch bool, count string, body []byte) {
		var header map[string][]string
		if isBatch {
			header = batchHeader(count)
		}
		var b Batch
		added, bad, err := b.AddMessage(subject, header, body)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("refusal does not wrap ErrInvalid: %v", err)
			}
			if added != 0 || len(bad) != 0 || b.Len() != 0 {
				t.Fatalf("refused message added %d events, %d bad lines", added, len(bad))
			}
			return
		}
		if added != b.Len() {
			t.Fatalf("added %d, batch holds %d", added, b.Len())
		}
		if !isBatch || count == "" {
			if added != 1 || len(bad) != 0 {
				t.Fatalf("single message: added %d, %d bad lines", added, len(bad))
			}
			return
		}
		lines, err := contracts.SplitEventBatch(count, body)
		if err != nil {
			t.Fatalf("accepted a batch SplitEventBatch refuses: %v", err)
		}
		if added+len(bad) != len(lines) {
			t.Fatalf("%d lines, %d added and %d bad", len(lines), added, len(bad))
		}
		badAt := map[int]bool{}
		for _, l := range bad {
			if !errors.Is(l.Err, ErrInvalid) || l.Line < 1 || l.Line > len(lines) {
				t.Fatalf("bad line %d: %v", l.Line, l.Err)
			}
			badAt[l.Line] = true
		}
		for i, line := range lines {
			_, err := Decode(subject, line)
			if (err != nil) != badAt[i+1] {
				t.Fatalf("line %d: Decode says %v, AddMessage bad=%v", i+1, err, badAt[i+1])
			}
		}
	})
}

// BenchmarkAddMessage measures decoding a batch of 100 usage events, per
// event, against BenchmarkDecodeEvent's one.
func BenchmarkAddMessage(b *testing.B) {
	lines := make([][]byte, 100)
	for i := range lines {
		lines[i] = []byte(usageJSON)
	}
	body, count := contracts.JoinEventBatch(lines)
	header := batchHeader(count)
	var batch Batch
	b.ReportAllocs()
	for b.Loop() {
		batch.Reset()
		if _, bad, err := batch.AddMessage(contracts.SubjectEventsUsage, header, body); err != nil || bad != nil {
			b.Fatal(err, bad)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(lines)), "ns/event")
}
