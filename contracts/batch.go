package contracts

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
)

// An event batch is one message on an events subject (SubjectEventsAll)
// that carries several events of that subject: header HeaderEventBatch
// holds how many, and the body holds each event's JSON, exactly as a
// message of its own would carry it, one per line (newline-delimited JSON;
// encoding/json never writes a raw newline inside a value).
//
// Why: a JetStream message costs the server a stored record and the
// consumer a delivery and an acknowledgement whatever its size, and at
// verification rates those costs, not the events' bytes, bound both the
// keyservice and analytics. Producers batch only what accumulates while
// their previous publish awaits its ack or went out less than a
// millisecond ago (package ops/emit), so a quiet producer still sends each
// event alone, without the header, as before.
// Consumers accept both forms.
//
// Each event keeps its own eventId: a batch's Nats-Msg-Id names the batch
// (its retries are dropped by the stream's duplicate window), and an event
// published twice in two batches is collapsed by its eventId downstream,
// as analytics does.
const (
	HeaderEventBatch = "Ocr-Event-Batch"
	// MaxEventBatch is the most events one batch carries.
	MaxEventBatch = 1000
	// MaxEventBatchBytes bounds a batch's body, well under the servers'
	// max_payload (8 MB in nats.conf, 1 MB by NATS's default).
	MaxEventBatchBytes = 512 << 10
)

// ErrEventBatch is wrapped by every reason SplitEventBatch refuses a body.
var ErrEventBatch = errors.New("malformed event batch")

// JoinEventBatch returns the body of a batch of events (each one event's
// JSON, without a newline) and the HeaderEventBatch value to send with it.
func JoinEventBatch(events [][]byte) (body []byte, count string) {
	n := len(events)
	for _, e := range events {
		n += len(e)
	}
	body = make([]byte, 0, n)
	for i, e := range events {
		if i > 0 {
			body = append(body, '\n')
		}
		body = append(body, e...)
	}
	return body, strconv.Itoa(len(events))
}

// SplitEventBatch returns the events of a batch body given its
// HeaderEventBatch value. The count must be 1 to MaxEventBatch and match
// the body's lines exactly (one trailing newline is allowed), and no line
// may be empty, so a truncated or padded batch is refused whole rather
// than read as fewer events. The returned slices alias body.
func SplitEventBatch(count string, body []byte) ([][]byte, error) {
	n, err := strconv.Atoi(count)
	if err != nil || n < 1 || n > MaxEventBatch {
		return nil, fmt.Errorf("%w: %s %q: want 1 to %d", ErrEventBatch, HeaderEventBatch, count, MaxEventBatch)
	}
	body = bytes.TrimSuffix(body, []byte{'\n'})
	out := make([][]byte, 0, n)
	for {
		line, rest, found := bytes.Cut(body, []byte{'\n'})
		if len(bytes.TrimSpace(line)) == 0 {
			return nil, fmt.Errorf("%w: line %d is empty", ErrEventBatch, len(out)+1)
		}
		if len(out) == n {
			return nil, fmt.Errorf("%w: more lines than the %d events %s names", ErrEventBatch, n, HeaderEventBatch)
		}
		out = append(out, line)
		body = rest
		if !found {
			break
		}
	}
	if len(out) != n {
		return nil, fmt.Errorf("%w: %d lines, %s names %d", ErrEventBatch, len(out), HeaderEventBatch, n)
	}
	return out, nil
}

// EventBodies returns the events a message on an events subject carries,
// given its HeaderEventBatch value: the body itself when that is empty (one
// event), else the batch's lines (see SplitEventBatch).
func EventBodies(batchCount string, body []byte) ([][]byte, error) {
	if batchCount == "" {
		return [][]byte{body}, nil
	}
	return SplitEventBatch(batchCount, body)
}
