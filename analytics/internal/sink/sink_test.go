package sink

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ocrstack/ocrstack/contracts"
)

const t0 = 1767225600000 // 2026-01-01T00:00:00Z in unix milliseconds

func verification(id string) contracts.VerificationEvent {
	return contracts.VerificationEvent{
		EventID: id, Time: t0 + 1500, RequestID: "req_" + id, KeyID: "key_1", APIID: "api_ocr",
		OwnerID: "ada@example.com", Outcome: contracts.VerifyValid, Cost: 2, CreditsRemaining: 98,
		LatencyUs: 85, Tags: []string{"route=/upload", "plan=free"},
	}
}

func usage(id string) contracts.UsageEvent {
	return contracts.UsageEvent{
		EventID: id, Time: t0 + 2500, RequestID: "req_" + id, JobID: "job_" + id, Producer: "ingress",
		KeyID: "key_1", OwnerID: "ada@example.com", Outcome: contracts.JobFailed,
		ErrorCode: contracts.CodeUnreadableImage, Pages: 1, Bytes: 2048, RecognitionMs: 120,
		Characters: 5, Languages: []string{"eng", "spa"},
	}
}

// TestSinkStoresEvents checks that events published to the stream land in
// their tables with every field as sent (times truncated to the second),
// and that empty lists are stored as empty arrays.
func TestSinkStoresEvents(t *testing.T) {
	minimalV := contracts.VerificationEvent{EventID: "v_min", Time: t0, Outcome: contracts.VerifyNotFound, CreditsRemaining: -1}
	minimalU := contracts.UsageEvent{EventID: "u_min", Time: t0, JobID: "job_min", Producer: "batch", Outcome: contracts.JobSucceeded}
	cases := []struct {
		name    string
		subject string
		event   any
		query   string
		wantRow []any
	}{
		{
			name: "verification", subject: contracts.SubjectEventsVerification, event: verification("v_full"),
			query: "SELECT toString(time), request_id, key_id, api_id, owner_id, outcome, cost, credits_remaining, " +
				"latency_us, tags FROM verifications FINAL WHERE event_id = 'v_full'",
			wantRow: []any{"2026-01-01 00:00:01", "req_v_full", "key_1", "api_ocr", "ada@example.com", "VALID",
				int64(2), int64(98), int64(85), []string{"route=/upload", "plan=free"}},
		},
		{
			name: "minimal verification", subject: contracts.SubjectEventsVerification, event: minimalV,
			query:   "SELECT toString(time), key_id, outcome, credits_remaining, tags FROM verifications FINAL WHERE event_id = 'v_min'",
			wantRow: []any{"2026-01-01 00:00:00", "", "NOT_FOUND", int64(-1), []string{}},
		},
		{
			name: "usage", subject: contracts.SubjectEventsUsage, event: usage("u_full"),
			query: "SELECT toString(time), request_id, job_id, producer, key_id, owner_id, outcome, error_code, " +
				"pages, bytes, recognition_ms, characters, languages FROM usage FINAL WHERE event_id = 'u_full'",
			wantRow: []any{"2026-01-01 00:00:02", "req_u_full", "job_u_full", "ingress", "key_1", "ada@example.com",
				"failed", "UNREADABLE_IMAGE", int64(1), int64(2048), int64(120), int64(5), []string{"eng", "spa"}},
		},
		{
			name: "minimal usage", subject: contracts.SubjectEventsUsage, event: minimalU,
			query:   "SELECT producer, key_id, outcome, error_code, languages FROM usage FINAL WHERE event_id = 'u_min'",
			wantRow: []any{"batch", "", "succeeded", "", []string{}},
		},
	}
	h := newHarness(t)
	h.start()
	for i, tc := range cases {
		h.publish(tc.subject, tc.event, fmt.Sprintf("msg-%d", i))
	}
	h.waitSettled(uint64(len(cases)))
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := make([]any, len(tc.wantRow))
			dest := make([]any, len(tc.wantRow))
			for i, w := range tc.wantRow {
				switch w.(type) {
				case string:
					dest[i] = new(string)
				case int64:
					dest[i] = new(int64)
				case []string:
					dest[i] = new([]string)
				}
			}
			require.NoError(t, h.conn.QueryRow(context.Background(), tc.query).Scan(dest...))
			for i, d := range dest {
				switch d := d.(type) {
				case *string:
					got[i] = *d
				case *int64:
					got[i] = *d
				case *[]string:
					got[i] = *d
				}
			}
			require.Equal(t, tc.wantRow, got)
		})
	}
}

// TestSinkDuplicateCountsOnce checks that an event stored twice by the
// stream (published again under another Nats-Msg-Id, as a producer retrying
// after the de-duplication window would) is inserted twice but counts once
// when read with FINAL.
func TestSinkDuplicateCountsOnce(t *testing.T) {
	cases := []struct {
		name    string
		subject string
		event   any
		query   string
	}{
		{"verification", contracts.SubjectEventsVerification, verification("dup_v"),
			"SELECT count() FROM verifications FINAL WHERE event_id = 'dup_v'"},
		{"usage", contracts.SubjectEventsUsage, usage("dup_u"),
			"SELECT count() FROM usage FINAL WHERE event_id = 'dup_u'"},
	}
	h := newHarness(t)
	h.cfg.BatchSize = 1 // each copy in its own insert, so two parts hold it
	h.start()
	for _, tc := range cases {
		h.publish(tc.subject, tc.event, tc.name+"-first")
		h.publish(tc.subject, tc.event, tc.name+"-second")
	}
	h.waitSettled(uint64(2 * len(cases)))
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			require.Equal(t, uint64(1), h.count(tc.query))
		})
	}
	require.Zero(t, h.info().NumRedelivered)
}

// TestSinkShutdownFlushes checks that cancelling Run stores and acknowledges
// the batch in hand instead of waiting for its flush interval.
func TestSinkShutdownFlushes(t *testing.T) {
	h := newHarness(t)
	h.cfg.FlushInterval = 30 * time.Second
	stop := h.start()
	for i := range 3 {
		h.publish(contracts.SubjectEventsUsage, usage(fmt.Sprintf("s%d", i)), fmt.Sprintf("s%d", i))
	}
	h.waitHeld(3)
	require.Zero(t, h.count("SELECT count() FROM usage"))
	require.NoError(t, stop())
	require.Equal(t, uint64(3), h.count("SELECT count() FROM usage FINAL"))
	h.waitSettled(3)
}

// TestSinkPoisonTerminated checks that a message that cannot be decoded is
// terminated (never redelivered), logged with its subject and reason but
// never more than 1 KiB of its body, and does not hold up the good event
// published behind it.
func TestSinkPoisonTerminated(t *testing.T) {
	big := `{"eventId":"` + strings.Repeat("x", 4000) + `"`
	cases := []struct {
		name       string
		subject    string
		body       string
		wantReason string
	}{
		{"bad json", contracts.SubjectEventsUsage, `{"eventId":`, "malformed json"},
		{"unknown subject", "events.v1.billing", `{"eventId":"b1","time":1}`, "unknown subject"},
		{"missing event id", contracts.SubjectEventsVerification, `{"time":1767225600000}`, "missing eventId"},
		{"no time", contracts.SubjectEventsUsage, `{"eventId":"u1","jobId":"j"}`, "time out of range"},
		{"large bad body", contracts.SubjectEventsVerification, big, "malformed json"},
	}
	h := newHarness(t)
	h.start()
	for i, tc := range cases {
		h.publish(tc.subject, []byte(tc.body), fmt.Sprintf("poison-%d", i))
	}
	h.publish(contracts.SubjectEventsVerification, verification("good"), "good")
	h.waitCount(1, "SELECT count() FROM verifications FINAL WHERE event_id = 'good'")
	h.waitSettled(uint64(len(cases) + 1))
	require.Zero(t, h.info().NumRedelivered)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			lines := h.logs.Lines(`"msg":"poison message terminated"`, `"subject":"`+tc.subject+`"`, tc.wantReason)
			require.NotEmpty(t, lines)
			for _, l := range lines {
				require.Contains(t, l, `"level":"ERROR"`)
				require.Less(t, len(l), 1024+512, "log line carries at most 1 KiB of body")
			}
		})
	}
}
