// Package events decodes the analytics events published on the events
// stream (contracts.VerificationEvent, contracts.UsageEvent and
// contracts.NoticeEvent) and gathers them into batches for insertion.
//
// A message carries one event, or a batch of events of its subject
// (contracts.HeaderEventBatch, one event's JSON per line), which producers
// send under load so that the stream stores, and the consumer receives
// and acknowledges, one message for many events. Batch.AddMessage decodes
// both forms.
//
// Every message body is untrusted input: nothing here panics on it, and
// every refusal wraps ErrInvalid, which the consumer treats as poison
// (terminated, never retried). A batch is refused whole only when its
// framing is bad (then no line can be trusted to be an event); otherwise
// each line is judged alone, with Decode's rules, so one bad event in a
// batch costs that event, not its neighbours.
//
// # A hand-written decoder, equal to encoding/json
//
// Events are JSON, and json.Unmarshal into the contracts types defines
// what Decode accepts and what it yields. But at the rates the sink
// inserts (issue 7: 100k events/s on two cores shared with ClickHouse and
// nats-server), json.Unmarshal was the sink's largest own cost, some 4 us
// and 18 allocations an event, spent on reflection and a separate
// validation pass. So the events are read by a small hand-written reader
// (jsonread.go, jsonvalue.go, jsonscan.go): one pass, no reflection,
// member names matched in the order producers write them, and an event's
// strings cut from one allocation. It is bound to the semantics of
// json.Unmarshal, rule by rule, including the odd ones: case-insensitive
// member names (with Unicode folding), the last of duplicate members
// winning, null keeping a string or number and emptying a list, a list
// reusing the memory of an earlier duplicate, integers refused as floats
// or beyond int64, strings unescaped with invalid UTF-8 and broken
// surrogates replaced by U+FFFD, and the nesting limit.
//
// The reader is kept honest by differential fuzz tests
// (FuzzDecode*Equal in equal_test.go): the encoding/json decoder this
// package used to be is kept there as the reference, and for arbitrary
// bodies on each subject Decode and the batch path must agree with it on
// acceptance, refusal reason and the decoded event (reflect.DeepEqual). A
// change to the reader is not done until those fuzz tests have run for
// some minutes clean. A general fast JSON library was not used: each has
// its own edge cases (depth limits, number and string validation) that
// would then need the same fencing, around more code.
package events

import (
	"errors"
	"fmt"
	"math"

	"github.com/ocrstack/ocrstack/contracts"
)

// ErrInvalid is wrapped by every reason a message cannot be decoded.
var ErrInvalid = errors.New("invalid event")

// Reasons a message is refused; each wraps ErrInvalid.
var (
	ErrUnknownSubject = fmt.Errorf("%w: unknown subject", ErrInvalid)
	ErrMalformed      = fmt.Errorf("%w: malformed json", ErrInvalid)
	ErrMissingEventID = fmt.Errorf("%w: missing eventId", ErrInvalid)
	ErrTimeRange      = fmt.Errorf("%w: time out of range", ErrInvalid)
)

// MaxTimeMs is the latest event time a ClickHouse DateTime (seconds in a
// UInt32) can hold, in unix milliseconds. Event times must lie in
// (0, MaxTimeMs]: zero means the producer never set it.
const MaxTimeMs = math.MaxUint32 * 1000

// Event is one decoded event: exactly one of Verification, Usage and
// Notice is set.
type Event struct {
	Verification *contracts.VerificationEvent
	Usage        *contracts.UsageEvent
	Notice       *contracts.NoticeEvent
}

// ID returns the event's id.
func (e Event) ID() string {
	if e.Verification != nil {
		return e.Verification.EventID
	}
	if e.Usage != nil {
		return e.Usage.EventID
	}
	if e.Notice != nil {
		return e.Notice.EventID
	}
	return ""
}

// Decode decodes the body of a message received on subject. Unknown JSON
// fields are ignored, because a wire type may grow before this service
// learns the new field. It accepts, refuses and decodes exactly as
// json.Unmarshal into the subject's contracts type would (see the package
// doc).
func Decode(subject string, data []byte) (Event, error) {
	var (
		b Batch
		r reader
	)
	if err := b.decodeAdd(&r, subject, data); err != nil {
		return Event{}, err
	}
	switch {
	case len(b.Verifications) == 1:
		return Event{Verification: &b.Verifications[0]}, nil
	case len(b.Usage) == 1:
		return Event{Usage: &b.Usage[0]}, nil
	default:
		return Event{Notice: &b.Notices[0]}, nil
	}
}

func check(eventID string, timeMs int64) error {
	if eventID == "" {
		return ErrMissingEventID
	}
	if timeMs <= 0 || timeMs > MaxTimeMs {
		return fmt.Errorf("%w: %d", ErrTimeRange, timeMs)
	}
	return nil
}

// The members of each event type, named as their json tags and in their
// struct order; TestFieldsMatchTags checks both against the structs.
var (
	verificationNames = []string{"eventId", "time", "requestId", "keyId", "apiId", "ownerId",
		"outcome", "cost", "creditsRemaining", "latencyUs", "tags"}
	usageNames = []string{"eventId", "time", "requestId", "jobId", "producer", "keyId", "ownerId",
		"outcome", "errorCode", "pages", "bytes", "recognitionMs", "characters", "languages"}
	noticeNames = []string{"eventId", "time", "kind", "keyId", "apiId", "ownerId",
		"creditsRemaining", "threshold"}
)

type verificationFields contracts.VerificationEvent

func (*verificationFields) names() []string { return verificationNames }

func (v *verificationFields) slot(i int) slot {
	switch i {
	case 0:
		return slot{str: &v.EventID}
	case 1:
		return slot{num: &v.Time}
	case 2:
		return slot{str: &v.RequestID}
	case 3:
		return slot{str: &v.KeyID}
	case 4:
		return slot{str: &v.APIID}
	case 5:
		return slot{str: &v.OwnerID}
	case 6:
		return slot{str: (*string)(&v.Outcome)}
	case 7:
		return slot{num: &v.Cost}
	case 8:
		return slot{num: &v.CreditsRemaining}
	case 9:
		return slot{num: &v.LatencyUs}
	case 10:
		return slot{list: &v.Tags}
	}
	return slot{}
}

type usageFields contracts.UsageEvent

func (*usageFields) names() []string { return usageNames }

func (u *usageFields) slot(i int) slot {
	switch i {
	case 0:
		return slot{str: &u.EventID}
	case 1:
		return slot{num: &u.Time}
	case 2:
		return slot{str: &u.RequestID}
	case 3:
		return slot{str: &u.JobID}
	case 4:
		return slot{str: &u.Producer}
	case 5:
		return slot{str: &u.KeyID}
	case 6:
		return slot{str: &u.OwnerID}
	case 7:
		return slot{str: (*string)(&u.Outcome)}
	case 8:
		return slot{str: (*string)(&u.ErrorCode)}
	case 9:
		return slot{num: &u.Pages}
	case 10:
		return slot{num: &u.Bytes}
	case 11:
		return slot{num: &u.RecognitionMs}
	case 12:
		return slot{num: &u.Characters}
	case 13:
		return slot{list: &u.Languages}
	}
	return slot{}
}

type noticeFields contracts.NoticeEvent

func (*noticeFields) names() []string { return noticeNames }

func (n *noticeFields) slot(i int) slot {
	switch i {
	case 0:
		return slot{str: &n.EventID}
	case 1:
		return slot{num: &n.Time}
	case 2:
		return slot{str: (*string)(&n.Kind)}
	case 3:
		return slot{str: &n.KeyID}
	case 4:
		return slot{str: &n.APIID}
	case 5:
		return slot{str: &n.OwnerID}
	case 6:
		return slot{num: &n.CreditsRemaining}
	case 7:
		return slot{num: &n.Threshold}
	}
	return slot{}
}
