// Package query answers the analytics queries of contracts (usage of an
// owner or of keys, verification counts grouped by time, key, owner or
// outcome) over NATS request/reply, as endpoints of the analytics micro
// service in queue group contracts.AnalyticsQueue, so that any replica
// answers.
//
// The answers are exact: they read the raw tables with FINAL, which counts
// an event stored twice (at-least-once delivery) once, and includes events
// stored a moment ago, which the rollups (package rollup) may not hold yet.
// The rollups serve analysts and dashboards over long ranges; a query here
// is bounded to contracts.MaxAnalyticsRange and, for VerificationsQuery, to
// one key space, key or owner when the caller names one.
//
// Requests are untrusted input: they are decoded strictly (an unknown field
// is refused, so a filter this version does not know is never silently
// dropped, widening the answer) and checked; a refusal is a micro error
// reply with code BAD_REQUEST and a message naming the field. A failure of
// ClickHouse is INTERNAL, logged here, never detailed to the caller.
package query

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/nats-io/nats.go/micro"

	"github.com/ocrstack/ocrstack/contracts"
)

// Config holds a Service's dependencies.
type Config struct {
	// Conn reaches the database holding the analytics tables.
	Conn   driver.Conn
	Logger *slog.Logger
	// Timeout bounds one query. Default 10 s.
	Timeout time.Duration
}

// Service answers analytics queries.
type Service struct {
	cfg Config
}

// New returns a Service.
func New(cfg Config) *Service {
	if cfg.Timeout <= 0 {
		cfg.Timeout = 10 * time.Second
	}
	return &Service{cfg: cfg}
}

// Register adds the query endpoints to svc.
func (s *Service) Register(svc micro.Service) error {
	endpoints := []struct {
		name, subject string
		handler       micro.HandlerFunc
	}{
		{"usage", contracts.SubjectAnalyticsUsage, handle(s, DecodeUsage, s.usage)},
		{"verifications", contracts.SubjectAnalyticsVerifications, handle(s, DecodeVerifications, s.verifications)},
	}
	for _, e := range endpoints {
		err := svc.AddEndpoint(e.name, e.handler, micro.WithEndpointSubject(e.subject),
			micro.WithEndpointQueueGroup(contracts.AnalyticsQueue))
		if err != nil {
			return err
		}
	}
	return nil
}

// handle makes a handler of a query: decode checks the request, run
// answers it within the Service's timeout.
func handle[Q, R any](s *Service, decode func([]byte) (Q, error), run func(context.Context, Q) (R, error)) micro.HandlerFunc {
	return func(req micro.Request) {
		q, err := decode(req.Data())
		if err != nil {
			s.fail(req, err)
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), s.cfg.Timeout)
		defer cancel()
		resp, err := run(ctx, q)
		if err != nil {
			s.fail(req, err)
			return
		}
		if err := req.RespondJSON(resp); err != nil {
			s.cfg.Logger.Warn("reply", "subject", req.Subject(), "err", err)
		}
	}
}

// fail answers err: a *contracts.Error as it is, anything else as INTERNAL,
// logged here with its detail, which the caller never sees.
func (s *Service) fail(req micro.Request, err error) {
	var ce *contracts.Error
	if !errors.As(err, &ce) {
		s.cfg.Logger.Error("query failed", "subject", req.Subject(),
			"request_id", req.Headers().Get(contracts.HeaderRequestID), "err", err)
		ce = &contracts.Error{Code: contracts.CodeInternal, Message: "the query could not be answered; try again"}
	}
	msg := strings.NewReplacer("\r", " ", "\n", "; ").Replace(ce.Message)
	body, _ := json.Marshal(contracts.Error{Code: ce.Code, Message: msg})
	if err := req.Error(string(ce.Code), msg, body); err != nil {
		s.cfg.Logger.Warn("reply error", "subject", req.Subject(), "err", err)
	}
}
