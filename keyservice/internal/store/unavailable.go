package store

import (
	"context"
	"errors"
	"net/http"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Unavailable reports whether err is a failure of storage that passes on
// its own, so the same request may succeed in a moment: nothing answering
// a JetStream request (a server restarting, JetStream not ready yet, a
// stream between leaders), a request or an acknowledgement timing out,
// the connection closed or reconnecting, a read no server was current
// enough to answer (lastOf), or ErrContention. A write that failed so may
// still have landed: a verification reported unavailable may have charged.
func Unavailable(err error) bool {
	if err == nil {
		return false
	}
	for _, target := range []error{
		nats.ErrNoResponders, nats.ErrTimeout, context.DeadlineExceeded,
		nats.ErrConnectionClosed, nats.ErrConnectionDraining, nats.ErrConnectionReconnecting,
		nats.ErrDisconnected, nats.ErrReconnectBufExceeded,
		jetstream.ErrNoStreamResponse, jetstream.ErrAsyncPublishTimeout, jetstream.ErrConnectionClosed,
		jetstream.ErrServerShutdown, jetstream.ErrJetStreamPublisherClosed,
		errStale, ErrContention,
	} {
		if errors.Is(err, target) {
			return true
		}
	}
	// JetStream not enabled (yet), a cluster without quorum, a stream
	// without a leader: the API answers 503.
	var apiErr *jetstream.APIError
	return errors.As(err, &apiErr) && apiErr.Code == http.StatusServiceUnavailable
}
