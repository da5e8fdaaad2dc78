package events

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/ocrstack/ocrstack/contracts"
)

// referenceDecode is Decode as it was written over encoding/json, before
// the hand-written reader: the definition Decode must keep to, compared
// with it by the differential fuzz tests below.
func referenceDecode(subject string, data []byte) (Event, error) {
	switch subject {
	case contracts.SubjectEventsVerification:
		var v contracts.VerificationEvent
		if err := referenceUnmarshal(data, &v); err != nil {
			return Event{}, err
		}
		if err := check(v.EventID, v.Time); err != nil {
			return Event{}, err
		}
		return Event{Verification: &v}, nil
	case contracts.SubjectEventsUsage:
		var u contracts.UsageEvent
		if err := referenceUnmarshal(data, &u); err != nil {
			return Event{}, err
		}
		if err := check(u.EventID, u.Time); err != nil {
			return Event{}, err
		}
		return Event{Usage: &u}, nil
	case contracts.SubjectEventsNotice:
		var n contracts.NoticeEvent
		if err := referenceUnmarshal(data, &n); err != nil {
			return Event{}, err
		}
		if err := check(n.EventID, n.Time); err != nil {
			return Event{}, err
		}
		return Event{Notice: &n}, nil
	default:
		return Event{}, fmt.Errorf("%w %q", ErrUnknownSubject, subject)
	}
}

func referenceUnmarshal(data []byte, v any) error {
	if err := json.Unmarshal(data, v); err != nil {
		return fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	return nil
}

// errClass names the refusal reason err wraps, "" for nil.
func errClass(err error) string {
	for _, c := range []struct {
		name string
		err  error
	}{
		{"unknown subject", ErrUnknownSubject},
		{"malformed", ErrMalformed},
		{"missing event id", ErrMissingEventID},
		{"time range", ErrTimeRange},
	} {
		if errors.Is(err, c.err) {
			if !errors.Is(err, ErrInvalid) {
				return c.name + " without ErrInvalid"
			}
			return c.name
		}
	}
	if err != nil {
		return "unclassified: " + err.Error()
	}
	return ""
}

// requireSameAsReference fails t unless Decode, and the batch path
// (decodeAdd), accept and refuse body on subject as referenceDecode does,
// with the same reason, and decode the same event (reflect.DeepEqual, so a
// nil list and an empty one differ).
func requireSameAsReference(t *testing.T, subject string, body []byte) {
	t.Helper()
	want, wantErr := referenceDecode(subject, body)
	got, err := Decode(subject, body)
	if errClass(err) != errClass(wantErr) {
		t.Fatalf("%q on %s: Decode: %v; encoding/json: %v", body, subject, err, wantErr)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("%q on %s:\nDecode:        %s\nencoding/json: %s", body, subject, show(got), show(want))
	}

	var b Batch
	b.Add(Event{Verification: &contracts.VerificationEvent{EventID: "before"}})
	b.Add(Event{Usage: &contracts.UsageEvent{EventID: "before"}})
	b.Add(Event{Notice: &contracts.NoticeEvent{EventID: "before"}})
	err = b.decodeAdd(new(reader), subject, body)
	if errClass(err) != errClass(wantErr) {
		t.Fatalf("%q on %s: decodeAdd: %v; encoding/json: %v", body, subject, err, wantErr)
	}
	var wantBatch Batch
	wantBatch.Add(Event{Verification: &contracts.VerificationEvent{EventID: "before"}})
	wantBatch.Add(Event{Usage: &contracts.UsageEvent{EventID: "before"}})
	wantBatch.Add(Event{Notice: &contracts.NoticeEvent{EventID: "before"}})
	wantBatch.Add(want)
	if !reflect.DeepEqual(b, wantBatch) {
		t.Fatalf("%q on %s: decodeAdd gives %+v, want %+v", body, subject, b, wantBatch)
	}
}

// show prints an event with its field names and Go-quoted strings, nil and
// empty lists apart.
func show(e Event) string {
	var v any = e.Verification
	switch {
	case e.Usage != nil:
		v = e.Usage
	case e.Notice != nil:
		v = e.Notice
	case e.Verification == nil:
		return "no event"
	}
	return fmt.Sprintf("%#v", v)
}

// equalCases are bodies that exercise each rule of encoding/json the
// reader copies; they seed the differential fuzz tests, which try each on
// each subject.
var equalCases = []string{
	verificationJSON,
	usageJSON,
	noticeJSON,
	// Whitespace, empty and non-object documents.
	" \t\r\n" + usageJSON + " \n",
	``, ` `, `{}`, `{ }`, `null`, ` null `, `nul`, `nullx`, `[]`, `"x"`, `1`, `true`, `{}x`, `{} {}`, "\ufeff{}",
	`{"eventId":"e","time":1}`,
	`{"eventId":"e","time":1,}`,
	`{"eventId":"e" "time":1}`,
	`{"eventId":"e","time":1`,
	`{eventId:"e","time":1}`,
	`{'eventId':'e','time':1}`,
	// Numbers: integers in and out of int64, fractions, exponents, -0,
	// leading zeros and signs.
	`{"eventId":"e","time":9223372036854775807,"cost":-9223372036854775808}`,
	`{"eventId":"e","time":1,"cost":9223372036854775808}`,
	`{"eventId":"e","time":1,"cost":-9223372036854775809}`,
	`{"eventId":"e","time":1,"cost":99999999999999999999999}`,
	`{"eventId":"e","time":1,"cost":-0,"pages":-0,"threshold":-0}`,
	`{"eventId":"e","time":1.0}`, `{"eventId":"e","time":1e3}`, `{"eventId":"e","time":1E3}`,
	`{"eventId":"e","time":01}`, `{"eventId":"e","time":+1}`, `{"eventId":"e","time":-}`,
	`{"eventId":"e","time":1.}`, `{"eventId":"e","time":.5}`, `{"eventId":"e","time":1e}`,
	`{"eventId":"e","time":1,"x":1.5e+10}`, `{"eventId":"e","time":1,"x":-0.0E-0}`, `{"eventId":"e","time":1,"x":1e+}`,
	`{"eventId":"e","time":1,"x":0x10}`, `{"eventId":"e","time":1,"x":NaN}`, `{"eventId":"e","time":1,"x":Infinity}`,
	// Wrong types, each kind into each kind of field.
	`{"eventId":1,"time":1}`, `{"eventId":true,"time":1}`, `{"eventId":{},"time":1}`, `{"eventId":[],"time":1}`,
	`{"eventId":"e","time":"1"}`, `{"eventId":"e","time":false}`, `{"eventId":"e","time":[1]}`, `{"eventId":"e","time":{}}`,
	`{"eventId":"e","time":1,"tags":"a","languages":"a"}`, `{"eventId":"e","time":1,"tags":{},"languages":{}}`,
	`{"eventId":"e","time":1,"tags":[1],"languages":[1]}`, `{"eventId":"e","time":1,"tags":[["a"]],"languages":[["a"]]}`,
	`{"eventId":"e","time":1,"tags":[true],"languages":[{}]}`,
	// Nulls: a string or number keeps its value, a list becomes nil, an
	// element keeps what was at its index.
	`{"eventId":"e","time":1,"eventId":null,"time":null,"outcome":null,"kind":null}`,
	`{"eventId":null,"time":1}`,
	`{"eventId":"e","time":1,"tags":null,"languages":null}`,
	`{"eventId":"e","time":1,"tags":["a"],"tags":null,"languages":["a"],"languages":null}`,
	`{"eventId":"e","time":1,"tags":[null],"languages":[null,"b"]}`,
	`{"eventId":"e","time":1,"tags":[],"languages":[]}`,
	`{"eventId":"e","time":1,"tags":[ ],"languages":[ ]}`,
	// Duplicates: the last wins, and a list reuses the earlier one's
	// memory.
	`{"eventId":"a","eventId":"b","time":2,"time":1}`,
	`{"eventId":"e","time":1,"tags":["a","b","c"],"tags":["x"],"tags":[null,null,null]}`,
	`{"eventId":"e","time":1,"languages":["a","b","c"],"languages":["x"],"languages":[null,null,null,null,null]}`,
	`{"eventId":"e","time":1,"tags":["a","b"],"tags":[],"tags":[null,null]}`,
	`{"eventId":"e","time":1,"languages":["a","b","c","d","e"],"languages":["x","y"],"languages":[null,null,null,null,null,null,null]}`,
	// Member names: case folding (Kelvin sign, long s), escapes.
	`{"EVENTID":"e","TIME":1,"OUTCOME":"OK","Tags":["a"],"KIND":"k","LANGUAGES":["x"]}`,
	`{"eventid":"e","time":1,"eventId":"f"}`,
	"{\"eventId\":\"e\",\"time\":1,\"\u212aeyId\":\"kelvin\",\"\u017ftatus\":1,\"co\u017ft\":3,\"job\u0130d\":\"j\"}",
	`{"event\u0049d":"e","\u0074ime":1,"\u212Aind":"k"}`,
	`{"eventId":"e","time":1,"event Id":"x","eventI":"y","eventIdx":"z"}`,
	// Strings: escapes, surrogates whole and broken, control characters,
	// invalid UTF-8.
	`{"eventId":"\"\\\/\b\f\n\r\t","time":1}`,
	`{"eventId":"\u00e9\u4e2d\ud83d\ude00","time":1}`,
	`{"eventId":"\ud83d","time":1}`, `{"eventId":"\ude00\ud83d","time":1}`, `{"eventId":"\ud83d\ud83d\ude00","time":1}`,
	`{"eventId":"\ud83dx\ude00","time":1}`, `{"eventId":"\ud83d\u0041","time":1}`, `{"eventId":"\ud83d\uzzzz","time":1}`,
	`{"eventId":"\ud83d\","time":1}`, `{"eventId":"\ud83d\u12","time":1}`,
	`{"eventId":"\u","time":1}`, `{"eventId":"\u12","time":1}`, `{"eventId":"\x","time":1}`, `{"eventId":"\'","time":1}`,
	`{"eventId":"\u0000","time":1}`, `{"eventId":"\uFFFD\ufffd","time":1}`,
	"{\"eventId\":\"a\x01b\",\"time\":1}", "{\"eventId\":\"a\tb\",\"time\":1}", "{\"eventId\":\"a\x7fb\",\"time\":1}",
	"{\"eventId\":\"\xff\xfe\",\"time\":1}", "{\"eventId\":\"a\xc3\",\"time\":1}", "{\"eventId\":\"\xed\xa0\x80\",\"time\":1}",
	"{\"eventId\":\"\xf0\x9f\x98\",\"time\":1}", "{\"eventId\":\"\xef\xbf\xbd\",\"time\":1}", "{\"eventId\":\"é中😀\",\"time\":1}",
	"{\"eventId\":\"e\",\"time\":1,\"tags\":[\"\xff\",\"\\ud800\"],\"languages\":[\"\xff\"]}",
	"{\"e\xffventId\":\"x\",\"eventId\":\"e\",\"time\":1}",
	`{"eventId":"e,"time":1}`,
	// Unknown members of every shape, nested.
	`{"eventId":"e","time":1,"x":{"a":[1,{"b":null},true,false,"s"],"c":{}},"y":[],"z":[[[]]]}`,
	`{"eventId":"e","time":1,"x":{"a":}}`, `{"eventId":"e","time":1,"x":[1,]}`, `{"eventId":"e","time":1,"x":[,1]}`,
	`{"eventId":"e","time":1,"x":{"a" 1}}`, `{"eventId":"e","time":1,"x":{1:1}}`, `{"eventId":"e","time":1,"x":tru}`,
	`{"eventId":"e","time":1,"x":[1 2]}`, `{"eventId":"e","time":1,"x":{"a":1,}}`,
	// Time bounds.
	`{"eventId":"e","time":4294967295000}`, `{"eventId":"e","time":4294967295001}`, `{"eventId":"e","time":0}`,
	`{"eventId":"e","time":-1}`, `{"eventId":"","time":1}`,
}

// fullEvents are events with every field set, marshalled by encoding/json,
// with escapes and non-ASCII text, to seed the fuzz tests with what
// producers really send.
func fullEvents(t testing.TB) []string {
	text := "a \"quoted\" \\ <tag> & é 中 😀 \u2028 \x01"
	out := make([]string, 0, 3)
	for _, v := range []any{
		contracts.VerificationEvent{EventID: "evt_" + text, Time: 1767225600000, RequestID: "req_1", KeyID: "key_1",
			APIID: "api_ocr", OwnerID: text, Outcome: contracts.VerifyRateLimited, Cost: 3,
			CreditsRemaining: -1, LatencyUs: 85, Tags: []string{"route=/upload", text, ""}},
		contracts.UsageEvent{EventID: "job_1.usage", Time: 1767225600500, RequestID: "req_1", JobID: "job_1",
			Producer: "ingress", KeyID: "key_1", OwnerID: text, Outcome: contracts.JobFailed,
			ErrorCode: contracts.CodeUnreadableImage, Pages: 1, Bytes: 2048, RecognitionMs: 120, Characters: 5,
			Languages: []string{"eng", "spa", text}},
		contracts.NoticeEvent{EventID: "notice_1", Time: 1767225601000, Kind: contracts.NoticeLowCredits,
			KeyID: "key_1", APIID: "api_ocr", OwnerID: text, CreditsRemaining: 9, Threshold: 10},
	} {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, string(b))
	}
	return out
}

// TestDecodeMatchesEncodingJSON checks every equalCases body, and each of
// fullEvents, on every subject against referenceDecode.
func TestDecodeMatchesEncodingJSON(t *testing.T) {
	subjects := []string{contracts.SubjectEventsVerification, contracts.SubjectEventsUsage,
		contracts.SubjectEventsNotice, "events.v1.other"}
	for _, body := range append(equalCases, fullEvents(t)...) {
		for _, subject := range subjects {
			requireSameAsReference(t, subject, []byte(body))
		}
	}
}

// TestDecodeDepthMatchesEncodingJSON checks encoding/json's nesting limit:
// 10000 levels, the event object included, are read; one more is a
// syntax error.
func TestDecodeDepthMatchesEncodingJSON(t *testing.T) {
	for _, levels := range []int{maxDepth - 1, maxDepth, maxDepth + 1} {
		for _, open := range []string{"[", `{"a":`} {
			closer, empty := "]", "[]"
			if open != "[" {
				closer, empty = "}", "{}"
			}
			inner := levels - 2 // the event object and the innermost empty value are two
			body := `{"eventId":"e","time":1,"x":` + strings.Repeat(open, inner) + empty + strings.Repeat(closer, inner) + `}`
			t.Run(fmt.Sprintf("%d levels of %s", levels, open), func(t *testing.T) {
				requireSameAsReference(t, contracts.SubjectEventsUsage, []byte(body))
				_, err := Decode(contracts.SubjectEventsUsage, []byte(body))
				if (err == nil) != (levels <= maxDepth) {
					t.Fatalf("levels %d: err %v", levels, err)
				}
			})
		}
	}
}

// TestFieldsMatchTags checks that the reader's member names are the json
// tags of each contracts type, in struct order, and that each name's slot
// is that field.
func TestFieldsMatchTags(t *testing.T) {
	var (
		v contracts.VerificationEvent
		u contracts.UsageEvent
		n contracts.NoticeEvent
	)
	for _, tc := range []struct {
		event any
		f     fields
	}{
		{&v, (*verificationFields)(&v)},
		{&u, (*usageFields)(&u)},
		{&n, (*noticeFields)(&n)},
	} {
		sv := reflect.ValueOf(tc.event).Elem()
		names := tc.f.names()
		if len(names) != sv.NumField() {
			t.Fatalf("%s: %d names for %d fields", sv.Type(), len(names), sv.NumField())
		}
		for i := range sv.NumField() {
			tag, _, _ := strings.Cut(sv.Type().Field(i).Tag.Get("json"), ",")
			if names[i] != tag {
				t.Fatalf("%s field %d: name %q, tag %q", sv.Type(), i, names[i], tag)
			}
			s := tc.f.slot(i)
			var p any
			switch {
			case s.str != nil:
				p = s.str
			case s.num != nil:
				p = s.num
			case s.list != nil:
				p = s.list
			default:
				t.Fatalf("%s: no slot for %q", sv.Type(), names[i])
			}
			if reflect.ValueOf(p).Pointer() != sv.Field(i).Addr().Pointer() {
				t.Fatalf("%s: slot of %q is not its field", sv.Type(), names[i])
			}
		}
		if tc.f.slot(len(names)) != (slot{}) || tc.f.slot(-1) != (slot{}) {
			t.Fatalf("%s: slot outside the names", sv.Type())
		}
	}
}

// The differential fuzz tests: for any body on each subject, Decode and
// the batch path agree with referenceDecode (encoding/json) on acceptance,
// refusal reason and decoded event. Run each with
//
//	go test -run '^$' -fuzz FuzzDecodeUsageEqual -fuzztime 60s ./analytics/internal/events/
func FuzzDecodeVerificationEqual(f *testing.F) {
	fuzzEqual(f, contracts.SubjectEventsVerification)
}

func FuzzDecodeUsageEqual(f *testing.F) { fuzzEqual(f, contracts.SubjectEventsUsage) }

func FuzzDecodeNoticeEqual(f *testing.F) { fuzzEqual(f, contracts.SubjectEventsNotice) }

func fuzzEqual(f *testing.F, subject string) {
	for _, body := range append(equalCases, fullEvents(f)...) {
		f.Add([]byte(body))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		requireSameAsReference(t, subject, body)
	})
}

// BenchmarkReferenceDecodeEvent is BenchmarkDecodeEvent with encoding/json
// (referenceDecode), to compare with it.
func BenchmarkReferenceDecodeEvent(b *testing.B) {
	body := []byte(usageJSON)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := referenceDecode(contracts.SubjectEventsUsage, body); err != nil {
			b.Fatal(err)
		}
	}
}
