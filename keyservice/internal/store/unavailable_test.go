package store

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// TestUnavailable classifies what the store's operations return: outages
// that pass (a caller's retry may succeed) against answers and faults that
// a retry would meet again.
func TestUnavailable(t *testing.T) {
	for _, c := range []struct {
		err  error
		want bool
	}{
		{fmt.Errorf("read ocr_key_state/k.key_1: %w", nats.ErrNoResponders), true},
		{fmt.Errorf("commit k.key_1: %w", jetstream.ErrNoStreamResponse), true},
		{fmt.Errorf("commit k.key_1: %w", nats.ErrTimeout), true},
		{fmt.Errorf("verify: %w", context.DeadlineExceeded), true},
		{fmt.Errorf("read: %w", nats.ErrConnectionClosed), true},
		{fmt.Errorf("read: %w", jetstream.ErrJetStreamNotEnabled), true},
		{&jetstream.APIError{Code: 503, ErrorCode: 10008, Description: "JetStream system temporarily unavailable"}, true},
		{fmt.Errorf("read k.key_1 at revision 7: %w", errStale), true},
		{fmt.Errorf("verify in k.key_1: %w", ErrContention), true},
		{nil, false},
		{ErrNotFound, false},
		{fmt.Errorf("%w: state: bad json", ErrCorrupt), false},
		{fmt.Errorf("put: %w", jetstream.ErrStreamNotFound), false},
		{&jetstream.APIError{Code: 400, ErrorCode: 10054, Description: "message size exceeds maximum allowed"}, false},
		{context.Canceled, false},
		{errors.New("boom"), false},
	} {
		if got := Unavailable(c.err); got != c.want {
			t.Errorf("Unavailable(%v) = %v, want %v", c.err, got, c.want)
		}
	}
}
