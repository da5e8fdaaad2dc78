package contracts

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

func ptr[T any](v T) *T { return &v }

// TestGolden guards the wire format: every contract type, fully populated,
// must marshal to exactly its golden file and unmarshal back unchanged, so a
// renamed or retyped field fails here before it breaks another process.
func TestGolden(t *testing.T) {
	cases := []struct {
		name string
		v    any
	}{
		{"create_key_request", &CreateKeyRequest{
			APIID: "api_ocr", Prefix: "ocr", ByteLength: 16, Name: "Production",
			ExternalID: "ada@example.com", Meta: json.RawMessage(`{"name":"Ada"}`),
			Expires: 1767225600000, Credits: &Credits{Remaining: 100},
			Ratelimits: []Ratelimit{{Name: "requests", Limit: 6, Duration: 60000, AutoApply: true}},
			Enabled:    ptr(true), Roles: []string{"admin"}, Permissions: []string{"ocr.run", "keys.read"},
		}},
		{"create_key_request_refill", &CreateKeyRequest{
			APIID: "api_ocr", Credits: &Credits{Remaining: 1000, Refill: &Refill{Interval: RefillMonthly, Amount: 1000, RefillDay: 15, Mode: RefillAdd}},
		}},
		{"create_key_response", &CreateKeyResponse{KeyID: "key_3ZbV9", Key: "ocr_4XJ8s"}},
		{"verify_key_request", &VerifyKeyRequest{
			Key: "ocr_4XJ8s", RequestID: "req_1", IdempotencyKey: "job_1", Credits: &VerifyCredits{Cost: 2}, Tags: []string{"route=/upload"},
			Permissions: "ocr.run AND (keys.read OR admin)",
			Ratelimits:  []VerifyRatelimit{{Name: "pages", Cost: ptr(int64(3)), Limit: ptr(int64(100)), Duration: ptr(int64(60000))}},
		}},
		{"verify_key_response", &VerifyKeyResponse{
			Valid: true, Code: VerifyValid, KeyID: "key_3ZbV9", APIID: "api_ocr", Name: "Production",
			ExternalID: "ada@example.com", Meta: json.RawMessage(`{"name":"Ada"}`), Expires: 1767225600000,
			Credits: ptr(int64(99)), Enabled: true,
			Ratelimits: []RatelimitResult{{ID: "rl_1", Name: "requests", Limit: 6, Duration: 60000, Remaining: 5, Reset: 1767225660000, AutoApply: true}},
			Identity:   &Identity{ID: "id_1", ExternalID: "ada@example.com", Meta: json.RawMessage(`{"plan":"free"}`)},
			Roles:      []string{"admin"}, Permissions: []string{"ocr.run"},
		}},
		{"refund_request", &RefundRequest{KeyID: "key_3ZbV9", IdempotencyKey: "job_1", Reason: "job failed: UNREADABLE_IMAGE"}},
		{"refund_request_by_key", &RefundRequest{Key: "ocr_3ZbV9xYz", IdempotencyKey: "job_2", Reason: "verification unanswered"}},
		{"refund_response", &RefundResponse{Refunded: true, Credits: ptr(int64(100))}},
		{"key_ref", &KeyRef{KeyID: "key_3ZbV9"}},
		{"whoami_request", &WhoamiRequest{Key: "ocr_4XJ8s"}},
		{"key_info", &KeyInfo{
			KeyID: "key_3ZbV9", APIID: "api_ocr", Start: "ocr_4XJ8", Name: "Production", ExternalID: "ada@example.com",
			Meta: json.RawMessage(`{"name":"Ada"}`), Enabled: true, Expires: 1767225600000,
			Credits:    &Credits{Remaining: 99, Refill: &Refill{Interval: RefillDaily, Amount: 100}},
			Ratelimits: []Ratelimit{{Name: "requests", Limit: 6, Duration: 60000, AutoApply: true}},
			Roles:      []string{"admin"}, Permissions: []string{"ocr.run"},
			Identity:  &Identity{ID: "id_1", ExternalID: "ada@example.com"},
			CreatedAt: 1767225600000, UpdatedAt: 1767225600001, LastUsedAt: 1767225600002,
		}},
		{"update_key_request", &UpdateKeyRequest{
			KeyID: "key_3ZbV9", Name: json.RawMessage(`"Staging"`), ExternalID: json.RawMessage(`null`),
			Meta: json.RawMessage(`{"plan":"pro"}`), Expires: json.RawMessage(`null`), Credits: json.RawMessage(`{"remaining":10}`),
			Ratelimits: json.RawMessage(`[]`), Enabled: json.RawMessage(`false`), Roles: json.RawMessage(`["a"]`), Permissions: json.RawMessage(`["b"]`),
		}},
		{"update_credits_request", &UpdateCreditsRequest{KeyID: "key_3ZbV9", Operation: CreditsIncrement, Value: ptr(int64(50))}},
		{"update_credits_response", &UpdateCreditsResponse{Remaining: ptr(int64(149)), Refill: &Refill{Interval: RefillDaily, Amount: 100}}},
		{"reroll_key_request", &RerollKeyRequest{KeyID: "key_3ZbV9", Expiration: 86400000}},
		{"list_keys_request", &ListKeysRequest{APIID: "api_ocr", ExternalID: "ada@example.com", Cursor: "key_3ZbV9", Limit: 10}},
		{"list_keys_response", &ListKeysResponse{Keys: []KeyInfo{{KeyID: "key_3ZbV9", APIID: "api_ocr", Start: "ocr_4XJ8", Enabled: true, CreatedAt: 1767225600000}}, Cursor: "key_3ZbV9", HasMore: true}},
		{"empty", &Empty{}},
		{"identity", &Identity{
			ID: "id_1", ExternalID: "ada@example.com", Meta: json.RawMessage(`{"plan":"pro"}`),
			Ratelimits: []Ratelimit{{Name: "requests", Limit: 100, Duration: 60000, AutoApply: true}}, Credits: &Credits{Remaining: 10000},
		}},
		{"create_identity_request", &CreateIdentityRequest{
			ExternalID: "ada@example.com", Meta: json.RawMessage(`{"plan":"pro"}`),
			Ratelimits: []Ratelimit{{Name: "requests", Limit: 100, Duration: 60000, AutoApply: true}}, Credits: &Credits{Remaining: 10000},
		}},
		{"identity_ref", &IdentityRef{IdentityID: "id_1", ExternalID: "ada@example.com"}},
		{"update_identity_request", &UpdateIdentityRequest{IdentityID: "id_1", Meta: json.RawMessage(`null`), Ratelimits: json.RawMessage(`[]`), Credits: json.RawMessage(`{"remaining":5}`)}},
		{"list_identities_request", &ListIdentitiesRequest{Cursor: "id_1", Limit: 50}},
		{"list_identities_response", &ListIdentitiesResponse{Identities: []Identity{{ID: "id_1", ExternalID: "ada@example.com"}}, Cursor: "id_1", HasMore: true}},
		{"ratelimit_request", &RatelimitRequest{Namespace: "signup.ip", Identifier: "203.0.113.7", Limit: 5, Duration: 60000, Cost: ptr(int64(1))}},
		{"ratelimit_response", &RatelimitResponse{Success: true, Limit: 5, Remaining: 4, Reset: 1767225660000}},
		{"multi_ratelimit_request", &MultiRatelimitRequest{Limits: []RatelimitRequest{{Namespace: "api.read", Identifier: "u1", Limit: 10, Duration: 1000}}}},
		{"multi_ratelimit_response", &MultiRatelimitResponse{Passed: false, Limits: []RatelimitResponse{{Success: false, Limit: 10, Remaining: 0, Reset: 1767225601000}}}},
		{"ocr_job", &OCRJob{
			JobID: "job_1", RequestID: "req_1", Producer: "ingress", KeyID: "key_3ZbV9", OwnerID: "ada@example.com",
			Languages: []string{"eng", "spa"}, Image: []byte{0x89, 'P', 'N', 'G'}, SubmittedAt: 1767225600000,
		}},
		{"ocr_job_ref", &OCRJob{JobID: "job_2", Producer: "billing-batch", ImageRef: "job_2", SubmittedAt: 1767225600000}},
		{"ocr_job_options", &OCRJob{JobID: "job_3", Producer: "billing-batch", Image: []byte("PNG"), PageSegMode: 7, Whitelist: "0123456789", Pages: "1-3,7", DetectOrientation: ptr(false), SubmittedAt: 1767225600000}},
		{"ocr_result", &OCRResult{JobID: "job_1", RequestID: "req_1", Status: JobSucceeded, Text: "Hello", RecognitionMs: 120, CompletedAt: 1767225600500}},
		{"ocr_result_pages", &OCRResult{JobID: "job_2", Status: JobSucceeded, Text: "Page one\fPage two", RecognitionMs: 800, CompletedAt: 1767225600500,
			Pages: []PageResult{{Page: 1, Text: "Page one", Source: PageSourceTextLayer}, {Page: 2, Text: "Page two", Source: PageSourceOCR}}}},
		{"ocr_job_outputs", &OCRJob{JobID: "job_4", Producer: "ingress", Image: []byte("PNG"), Outputs: []string{OutputWords, OutputHOCR}, SubmittedAt: 1767225600000}},
		{"ocr_result_outputs", &OCRResult{JobID: "job_4", Status: JobSucceeded, Text: "Hello world", RecognitionMs: 120, CompletedAt: 1767225600500,
			Words: []TextBox{{Page: 1, Text: "Hello", Confidence: 96.5, X: 10, Y: 12, Width: 80, Height: 20}, {Page: 1, Text: "world", Confidence: 95.25, X: 98, Y: 12, Width: 84, Height: 20}},
			Lines: []TextBox{{Page: 1, Text: "Hello world", Confidence: 95.875, X: 10, Y: 12, Width: 172, Height: 20}},
			HOCR:  "<div class='ocr_page' id='page_1'></div>", TSV: "level\tpage_num\n1\t1\n"}},
		{"job_progress", &JobProgress{JobID: "job_2", Page: 3, Pages: 12, At: 1767225600400}},
		{"job_record", &JobRecord{
			JobID: "job_1", RequestID: "req_1", KeyID: "key_3ZbV9", OwnerID: "ada@example.com", Status: JobRunning,
			SubmittedAt: 1767225600000, StartedAt: 1767225600100, Progress: &RecordProgress{Page: 3, Pages: 12},
			CallbackURL: "https://example.com/hooks/ocr",
		}},
		{"job_record_queued", &JobRecord{JobID: "job_2", KeyID: "key_3ZbV9", Status: JobQueued, SubmittedAt: 1767225600000}},
		{"ocr_result_failed", &OCRResult{JobID: "job_1", Status: JobFailed, Error: &Error{Code: CodeUnreadableImage, Message: "the image could not be decoded"}, CompletedAt: 1767225600500}},
		{"verification_event", &VerificationEvent{
			EventID: "evt_1", Time: 1767225600000, RequestID: "req_1", KeyID: "key_3ZbV9", APIID: "api_ocr",
			OwnerID: "ada@example.com", Outcome: VerifyRateLimited, Cost: 1, CreditsRemaining: -1, LatencyUs: 85, Tags: []string{"route=/upload"},
		}},
		{"usage_event", &UsageEvent{
			EventID: "job_1.usage", Time: 1767225600500, RequestID: "req_1", JobID: "job_1", Producer: "ingress",
			KeyID: "key_3ZbV9", OwnerID: "ada@example.com", Outcome: JobFailed, ErrorCode: CodeUnreadableImage,
			Pages: 1, Bytes: 2048, RecognitionMs: 120, Characters: 5, Languages: []string{"eng", "spa"},
		}},
		{"notice_event", &NoticeEvent{
			EventID: "notice_key_3ZbV9_1", Time: 1767225601000, Kind: NoticeLowCredits, KeyID: "key_3ZbV9",
			APIID: "api_ocr", OwnerID: "ada@example.com", CreditsRemaining: 9, Threshold: 10,
		}},
		{"usage_query", &UsageQuery{OwnerID: "ada@example.com", KeyIDs: []string{"key_3ZbV9"}, Start: 1767225600000, End: 1769904000000}},
		{"usage_summary", &UsageSummary{
			Start: 1767225600000, End: 1769904000000, Verifications: 120, Valid: 100, RateLimited: 15, UsageExceeded: 5,
			CreditsSpent: 104, Jobs: 100, JobsFailed: 2, Pages: 130, Characters: 52000, Bytes: 9800000,
		}},
		{"verifications_query", &VerificationsQuery{
			Start: 1767225600000, End: 1769904000000, GroupBy: GroupByDay, APIID: "api_ocr", KeyID: "key_3ZbV9", OwnerID: "ada@example.com", Limit: 31,
		}},
		{"verifications_response", &VerificationsResponse{Buckets: []VerificationBucket{
			{Time: 1767225600000, Total: 9, Valid: 1, NotFound: 1, Forbidden: 1, InsufficientPermissions: 1, UsageExceeded: 1,
				RateLimited: 1, Disabled: 1, Expired: 2, CreditsSpent: 3},
			{KeyID: "key_3ZbV9", Total: 1, Valid: 1, CreditsSpent: 1},
			{OwnerID: "ada@example.com", Total: 1, Valid: 1, CreditsSpent: 1},
			{Outcome: "VALID", Total: 1, Valid: 1, CreditsSpent: 1},
		}}},
		{"error", &Error{Code: CodeBadRequest, Message: "prefix must be at most 16 characters"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			compact, err := json.Marshal(tc.v)
			if err != nil {
				t.Fatal(err)
			}
			var got bytes.Buffer
			if err := json.Indent(&got, compact, "", "  "); err != nil {
				t.Fatal(err)
			}
			got.WriteByte('\n')
			path := filepath.Join("testdata", tc.name+".json")
			if *update {
				if err := os.WriteFile(path, got.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("read golden file (run go test -update): %v", err)
			}
			if !bytes.Equal(got.Bytes(), want) {
				t.Errorf("wire format changed for %s:\ngot:\n%s\nwant:\n%s", tc.name, got.Bytes(), want)
			}
			// Decoding the golden file and encoding again must give the same
			// bytes: a field that decodes but is not encoded (or the reverse)
			// would be lost between two processes.
			back := reflect.New(reflect.TypeOf(tc.v).Elem()).Interface()
			if err := json.Unmarshal(want, back); err != nil {
				t.Fatal(err)
			}
			again, err := json.Marshal(back)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(again, compact) {
				t.Errorf("round trip changed %s:\ngot  %s\nwant %s", tc.name, again, compact)
			}
		})
	}
}
