package events

import (
	"fmt"

	"github.com/ocrstack/ocrstack/contracts"
)

// ErrBatchFraming refuses a whole batch message whose framing is bad: its
// contracts.HeaderEventBatch value and its lines do not agree
// (contracts.SplitEventBatch). It wraps ErrInvalid, and the error returned
// wraps contracts.ErrEventBatch too.
var ErrBatchFraming = fmt.Errorf("%w: malformed batch", ErrInvalid)

// BadLine is one event of a well-framed batch that does not decode.
type BadLine struct {
	// Line is the event's position in the batch, from 1.
	Line int
	// Body is the line; it aliases the message body.
	Body []byte
	// Err wraps ErrInvalid.
	Err error
}

// AddMessage decodes one message received on subject with header into b:
// a message without contracts.HeaderEventBatch (or with it empty, as
// contracts.EventBodies reads it) carries one event (Decode's rules), a
// message with it a batch of events of subject, one per line.
// It returns how many events it added and the lines of a batch it refused.
//
// A refused single event, a batch whose framing is bad and a batch on an
// unknown subject are refused whole: the error wraps ErrInvalid and
// nothing is added. In a well-framed batch each line stands alone: a bad
// line is returned in bad, and the good ones are added, so one broken
// event does not take its neighbours down with it. A batch may so add no
// event at all, when every line is bad.
//
// header is a nats.Header (a map of header names, case-sensitive as NATS
// keeps them, to values); nil is a message without headers.
func (b *Batch) AddMessage(subject string, header map[string][]string, data []byte) (added int, bad []BadLine, err error) {
	var count string
	if vs := header[contracts.HeaderEventBatch]; len(vs) > 0 {
		count = vs[0] // the first value, as nats.Header.Get reads it
	}
	var r reader
	if count == "" {
		if err := b.decodeAdd(&r, subject, data); err != nil {
			return 0, nil, err
		}
		return 1, nil, nil
	}
	if !knownSubject(subject) {
		return 0, nil, fmt.Errorf("%w %q", ErrUnknownSubject, subject)
	}
	lines, err := contracts.SplitEventBatch(count, data)
	if err != nil {
		return 0, nil, fmt.Errorf("%w: %w", ErrBatchFraming, err)
	}
	for i, line := range lines {
		if err := b.decodeAdd(&r, subject, line); err != nil {
			bad = append(bad, BadLine{Line: i + 1, Body: line, Err: err})
			continue
		}
		added++
	}
	return added, bad, nil
}

func knownSubject(subject string) bool {
	switch subject {
	case contracts.SubjectEventsVerification, contracts.SubjectEventsUsage, contracts.SubjectEventsNotice:
		return true
	}
	return false
}

// decodeAdd is Decode then Add, decoding with r straight into the batch's
// slice, so that an event costs few allocations: one for its strings, one
// for each list. The lines of a batch share r and so its buffers.
func (b *Batch) decodeAdd(r *reader, subject string, data []byte) error {
	switch subject {
	case contracts.SubjectEventsVerification:
		b.Verifications = append(b.Verifications, contracts.VerificationEvent{})
		last := len(b.Verifications) - 1
		v := &b.Verifications[last]
		if err := r.decodeObject(data, (*verificationFields)(v)); err != nil {
			return b.dropVerification(err)
		}
		if err := check(v.EventID, v.Time); err != nil {
			return b.dropVerification(err)
		}
	case contracts.SubjectEventsUsage:
		b.Usage = append(b.Usage, contracts.UsageEvent{})
		u := &b.Usage[len(b.Usage)-1]
		if err := r.decodeObject(data, (*usageFields)(u)); err != nil {
			return b.dropUsage(err)
		}
		if err := check(u.EventID, u.Time); err != nil {
			return b.dropUsage(err)
		}
	case contracts.SubjectEventsNotice:
		b.Notices = append(b.Notices, contracts.NoticeEvent{})
		n := &b.Notices[len(b.Notices)-1]
		if err := r.decodeObject(data, (*noticeFields)(n)); err != nil {
			return b.dropNotice(err)
		}
		if err := check(n.EventID, n.Time); err != nil {
			return b.dropNotice(err)
		}
	default:
		return fmt.Errorf("%w %q", ErrUnknownSubject, subject)
	}
	return nil
}

// dropVerification removes the last verification, which did not decode
// for err, and returns err. The drop helpers zero the event so that the
// backing array holds none of its strings.
func (b *Batch) dropVerification(err error) error {
	last := len(b.Verifications) - 1
	b.Verifications[last] = contracts.VerificationEvent{}
	b.Verifications = b.Verifications[:last]
	return err
}

func (b *Batch) dropUsage(err error) error {
	last := len(b.Usage) - 1
	b.Usage[last] = contracts.UsageEvent{}
	b.Usage = b.Usage[:last]
	return err
}

func (b *Batch) dropNotice(err error) error {
	last := len(b.Notices) - 1
	b.Notices[last] = contracts.NoticeEvent{}
	b.Notices = b.Notices[:last]
	return err
}
