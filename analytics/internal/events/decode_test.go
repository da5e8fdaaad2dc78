package events

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ocrstack/ocrstack/contracts"
)

const (
	verificationJSON = `{"eventId":"evt_1","time":1767225600000,"requestId":"req_1","keyId":"key_3ZbV9",` +
		`"apiId":"api_ocr","ownerId":"ada@example.com","outcome":"RATE_LIMITED","cost":1,` +
		`"creditsRemaining":-1,"latencyUs":85,"tags":["route=/upload"]}`
	usageJSON = `{"eventId":"job_1.usage","time":1767225600500,"requestId":"req_1","jobId":"job_1",` +
		`"producer":"ingress","keyId":"key_3ZbV9","ownerId":"ada@example.com","outcome":"failed",` +
		`"errorCode":"UNREADABLE_IMAGE","pages":1,"bytes":2048,"recognitionMs":120,"characters":5,` +
		`"languages":["eng","spa"]}`
	noticeJSON = `{"eventId":"notice_key_3ZbV9_1","time":1767225601000,"kind":"low_credits","keyId":"key_3ZbV9",` +
		`"apiId":"api_ocr","ownerId":"ada@example.com","creditsRemaining":9,"threshold":10}`
)

// TestDecode checks that both event types decode field by field, that
// unknown fields are ignored (a wire type may grow), and that every kind of
// unusable message is refused with a reason wrapping ErrInvalid.
func TestDecode(t *testing.T) {
	cases := []struct {
		name    string
		subject string
		body    string
		want    Event
		wantErr error
	}{
		{
			name: "verification", subject: contracts.SubjectEventsVerification, body: verificationJSON,
			want: Event{Verification: &contracts.VerificationEvent{
				EventID: "evt_1", Time: 1767225600000, RequestID: "req_1", KeyID: "key_3ZbV9", APIID: "api_ocr",
				OwnerID: "ada@example.com", Outcome: contracts.VerifyRateLimited, Cost: 1, CreditsRemaining: -1,
				LatencyUs: 85, Tags: []string{"route=/upload"},
			}},
		},
		{
			name: "usage", subject: contracts.SubjectEventsUsage, body: usageJSON,
			want: Event{Usage: &contracts.UsageEvent{
				EventID: "job_1.usage", Time: 1767225600500, RequestID: "req_1", JobID: "job_1", Producer: "ingress",
				KeyID: "key_3ZbV9", OwnerID: "ada@example.com", Outcome: contracts.JobFailed,
				ErrorCode: contracts.CodeUnreadableImage, Pages: 1, Bytes: 2048, RecognitionMs: 120, Characters: 5,
				Languages: []string{"eng", "spa"},
			}},
		},
		{
			name: "notice", subject: contracts.SubjectEventsNotice, body: noticeJSON,
			want: Event{Notice: &contracts.NoticeEvent{
				EventID: "notice_key_3ZbV9_1", Time: 1767225601000, Kind: contracts.NoticeLowCredits, KeyID: "key_3ZbV9",
				APIID: "api_ocr", OwnerID: "ada@example.com", CreditsRemaining: 9, Threshold: 10,
			}},
		},
		{name: "notice without time", subject: contracts.SubjectEventsNotice, body: `{"eventId":"n","kind":"low_credits"}`, wantErr: ErrTimeRange},
		{
			name: "unknown fields ignored", subject: contracts.SubjectEventsUsage,
			body: `{"eventId":"e","time":1,"jobId":"j","newField":{"x":[1,2]}}`,
			want: Event{Usage: &contracts.UsageEvent{EventID: "e", Time: 1, JobID: "j"}},
		},
		{name: "unknown subject", subject: "events.v1.billing", body: verificationJSON, wantErr: ErrUnknownSubject},
		{name: "not json", subject: contracts.SubjectEventsVerification, body: `{"eventId":`, wantErr: ErrMalformed},
		{name: "not an object", subject: contracts.SubjectEventsUsage, body: `[1,2]`, wantErr: ErrMalformed},
		{name: "wrong field type", subject: contracts.SubjectEventsVerification, body: `{"eventId":"e","time":1,"cost":"one"}`, wantErr: ErrMalformed},
		{name: "trailing garbage", subject: contracts.SubjectEventsUsage, body: usageJSON + `x`, wantErr: ErrMalformed},
		{name: "null", subject: contracts.SubjectEventsUsage, body: `null`, wantErr: ErrMissingEventID},
		{name: "missing event id", subject: contracts.SubjectEventsVerification, body: `{"time":1767225600000}`, wantErr: ErrMissingEventID},
		{name: "missing time", subject: contracts.SubjectEventsVerification, body: `{"eventId":"e"}`, wantErr: ErrTimeRange},
		{name: "negative time", subject: contracts.SubjectEventsUsage, body: `{"eventId":"e","time":-5}`, wantErr: ErrTimeRange},
		{name: "time past DateTime", subject: contracts.SubjectEventsUsage, body: `{"eventId":"e","time":4294967296000}`, wantErr: ErrTimeRange},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Decode(tc.subject, []byte(tc.body))
			if tc.wantErr != nil {
				require.ErrorIs(t, err, tc.wantErr)
				require.ErrorIs(t, err, ErrInvalid)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.want, got)
		})
	}
}

// FuzzDecodeEvent checks that Decode never panics on any body or subject,
// that every refusal wraps ErrInvalid, and that every accepted event is
// usable (an id, a time a DateTime can hold) and survives a round trip.
func FuzzDecodeEvent(f *testing.F) {
	f.Add(contracts.SubjectEventsVerification, []byte(verificationJSON))
	f.Add(contracts.SubjectEventsUsage, []byte(usageJSON))
	f.Add(contracts.SubjectEventsNotice, []byte(noticeJSON))
	f.Add(contracts.SubjectEventsUsage, []byte(`{"eventId":"e","time":1,"languages":null}`))
	f.Add(contracts.SubjectEventsVerification, []byte(`{"eventId":"\u0000","time":4294967295000}`))
	f.Add(contracts.SubjectEventsVerification, []byte(`{"eventId":"e","time":1,"tags":[]}`))
	f.Add("events.v1.other", []byte(`{}`))
	f.Fuzz(func(t *testing.T, subject string, body []byte) {
		ev, err := Decode(subject, body)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("refusal does not wrap ErrInvalid: %v", err)
			}
			return
		}
		set := 0
		for _, p := range []bool{ev.Verification != nil, ev.Usage != nil, ev.Notice != nil} {
			if p {
				set++
			}
		}
		if set != 1 {
			t.Fatalf("want exactly one event type, got %+v", ev)
		}
		if ev.ID() == "" {
			t.Fatal("accepted an event without id")
		}
		again := encode(t, ev)
		back, err := Decode(subject, again)
		if err != nil {
			t.Fatalf("re-encoded event refused: %v", err)
		}
		// Compare encodings, not structs: an empty list and a missing one
		// are the same event.
		require.JSONEq(t, string(again), string(encode(t, back)))
	})
}

func encode(t *testing.T, ev Event) []byte {
	var payload any = ev.Verification
	if ev.Usage != nil {
		payload = ev.Usage
	}
	if ev.Notice != nil {
		payload = ev.Notice
	}
	b, err := json.Marshal(payload)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// BenchmarkDecodeEvent measures decoding one usage event, the larger type.
func BenchmarkDecodeEvent(b *testing.B) {
	body := []byte(usageJSON)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Decode(contracts.SubjectEventsUsage, body); err != nil {
			b.Fatal(err)
		}
	}
}
