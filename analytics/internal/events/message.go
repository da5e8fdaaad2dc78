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
	if count == "" {
		ev, err := Decode(subject, data)
		if err != nil {
			return 0, nil, err
		}
		b.Add(ev)
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
		ev, err := Decode(subject, line)
		if err != nil {
			bad = append(bad, BadLine{Line: i + 1, Body: line, Err: err})
			continue
		}
		b.Add(ev)
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
