package service

import (
	"context"
	"log/slog"

	"github.com/nats-io/nats.go/micro"
	"github.com/ocrstack/ocrstack/contracts"
	"github.com/ocrstack/ocrstack/ops"
)

// requestIDs identify the request a log line is about, as the worker logs
// its jobs: the caller's request id (contracts.HeaderRequestID, which the
// ingress sends) and the trace id of its traceparent header, so that one
// request can be followed through every service's logs.
type requestIDs struct{ requestID, traceID string }

type requestIDsKey struct{}

// idsOf reads the ids of req's headers. The request id is cut to
// maxRequestIDLen, the bound a verification's requestId has, so a caller
// cannot make log lines arbitrarily long; a traceparent that does not
// parse gives no trace id.
func idsOf(req micro.Request) requestIDs {
	h := req.Headers()
	id := h.Get(contracts.HeaderRequestID)
	if len(id) > maxRequestIDLen {
		id = id[:maxRequestIDLen]
	}
	return requestIDs{requestID: id, traceID: ops.TraceID(h.Get(ops.HeaderTraceparent))}
}

// withIDs returns ctx carrying ids, for s.log.
func withIDs(ctx context.Context, ids requestIDs) context.Context {
	return context.WithValue(ctx, requestIDsKey{}, ids)
}

// log is the logger for lines about the request ctx was made for: every
// one carries request_id and trace_id (empty when the caller sent none).
// It is built on demand, so a request that logs nothing pays nothing.
func (s *Service) log(ctx context.Context) *slog.Logger {
	ids, _ := ctx.Value(requestIDsKey{}).(requestIDs)
	return s.cfg.Logger.With("request_id", ids.requestID, "trace_id", ids.traceID)
}
