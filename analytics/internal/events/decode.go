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
package events

import (
	"encoding/json"
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
// learns the new field.
func Decode(subject string, data []byte) (Event, error) {
	switch subject {
	case contracts.SubjectEventsVerification:
		var v contracts.VerificationEvent
		if err := unmarshal(data, &v); err != nil {
			return Event{}, err
		}
		if err := check(v.EventID, v.Time); err != nil {
			return Event{}, err
		}
		return Event{Verification: &v}, nil
	case contracts.SubjectEventsUsage:
		var u contracts.UsageEvent
		if err := unmarshal(data, &u); err != nil {
			return Event{}, err
		}
		if err := check(u.EventID, u.Time); err != nil {
			return Event{}, err
		}
		return Event{Usage: &u}, nil
	case contracts.SubjectEventsNotice:
		var n contracts.NoticeEvent
		if err := unmarshal(data, &n); err != nil {
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

func unmarshal(data []byte, v any) error {
	if err := json.Unmarshal(data, v); err != nil {
		return fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	return nil
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
