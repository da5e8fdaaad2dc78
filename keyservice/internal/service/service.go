// Package service serves keyservice's operations over NATS request/reply
// with the micro framework, one endpoint per subject in contracts: keys
// (create, verify, get, whoami, update, updateCredits, delete, reroll,
// list, refund), identities (create, get, update, delete, list) and standalone rate
// limits (limit, multiLimit), all in queue group contracts.KeyServiceQueue,
// so any number of replicas share the load. Every verification but an
// idempotent replay emits one contracts.VerificationEvent.
//
// Every request is decoded strictly (an unknown field is an error) and
// validated in full before anything is read or written, so a refused
// request writes nothing and its BAD_REQUEST names every bad field and the
// fix. Outcomes of a verification (VALID, RATE_LIMITED, ...) are normal
// replies; micro error replies (Nats-Service-Error-Code = a contracts.Code,
// body = contracts.Error) are kept for bad requests (BAD_REQUEST), unknown
// ids (NOT_FOUND), clashes with existing state (CONFLICT) and broken
// invariants or outages (INTERNAL, details logged, never sent).
package service

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nats.go/micro"
	"github.com/ocrstack/ocrstack/contracts"
	"github.com/ocrstack/ocrstack/keyservice/internal/store"
	"github.com/ocrstack/ocrstack/ops/emit"
)

// Version is reported by the micro service's INFO.
const Version = "0.2.0"

// Config holds a Service's dependencies.
type Config struct {
	Store *store.Store
	// Events publishes the verification events (emit.Emitter does); nil
	// means an emit.Emitter of its own on JS's connection.
	Events Events
	JS     jetstream.JetStream
	Logger *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Timeout bounds the storage work of one request; 0 means 5 s.
	Timeout time.Duration
	// MaxInFlight bounds the verifications one replica has in progress
	// (queued, being decided or answered); 0 means 1024. Beyond it the
	// endpoint waits, and NATS buffers.
	MaxInFlight int
	// Metrics records verification outcomes and decisions; nil records
	// nothing.
	Metrics *Metrics
}

// Events publishes events until the stream has them.
type Events interface {
	// Emit publishes data on subject with header, which carries the
	// event's Nats-Msg-Id, without waiting on NATS.
	Emit(subject string, data []byte, header nats.Header) error
}

// Service handles keyservice's requests. Management handlers answer
// before they return, as micro requires: it reads the reply's outcome for
// its statistics once the handler returns, so a reply sent through the
// micro.Request from another goroutine would race with it.
//
// Verifications are the exception, because a replica must decide many at
// once to keep up (the store groups concurrent verifications of one budget
// into one write). The endpoint decodes each request and, when the key is
// in the replica's caches, queues it with the store without waiting: the
// store answers it (by publishing to the request's reply subject itself,
// see asyncRequest) from the goroutine that decides its group, or at once
// when the cached state decides it without a write. A key that must be
// read first goes to a worker goroutine that may wait. At most MaxInFlight
// verifications are in progress at a time. micro's statistics for verify
// therefore count requests but not errors, and their processing time is
// the endpoint's share.
type Service struct {
	cfg Config
	// inflight holds a token per verification in progress; work hands a
	// verification that must wait on storage to an idle verify worker.
	inflight chan struct{}
	work     chan *asyncRequest
	running  sync.WaitGroup
	// nc answers handed-off verifications; set by Register.
	nc *nats.Conn
}

// New returns a Service.
func New(cfg Config) *Service {
	if cfg.Events == nil && cfg.JS != nil {
		if e, err := emit.New(emit.Config{Conn: cfg.JS.Conn(), Logger: cfg.Logger}); err == nil {
			cfg.Events = e
		}
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = 5 * time.Second
	}
	if cfg.MaxInFlight == 0 {
		cfg.MaxInFlight = 1024
	}
	return &Service{cfg: cfg, inflight: make(chan struct{}, cfg.MaxInFlight), work: make(chan *asyncRequest)}
}

// Wait returns once every verification handed off has been answered; call
// it after stopping the micro service and before closing the connection.
func (s *Service) Wait() { s.running.Wait() }

// Subjects lists every subject Register serves.
func (s *Service) Subjects() []string {
	var out []string
	for _, e := range s.endpoints() {
		out = append(out, e.subject)
	}
	return out
}

type endpoint struct {
	name, subject string
	handler       micro.HandlerFunc
}

func (s *Service) endpoints() []endpoint {
	return []endpoint{
		{"create", contracts.SubjectKeysCreate, handle(s, s.createKey)},
		{"verify", contracts.SubjectKeysVerify, s.verifyAsync},
		{"get", contracts.SubjectKeysGet, handle(s, s.getKey)},
		{"whoami", contracts.SubjectKeysWhoami, handle(s, s.whoami)},
		{"update", contracts.SubjectKeysUpdate, handle(s, s.updateKey)},
		{"updateCredits", contracts.SubjectKeysUpdateCredits, handle(s, s.updateCredits)},
		{"delete", contracts.SubjectKeysDelete, handle(s, s.deleteKey)},
		{"reroll", contracts.SubjectKeysReroll, handle(s, s.rerollKey)},
		{"list", contracts.SubjectKeysList, handle(s, s.listKeys)},
		{"refund", contracts.SubjectKeysRefund, handle(s, s.refund)},
		{"identitiesCreate", contracts.SubjectIdentitiesCreate, handle(s, s.createIdentity)},
		{"identitiesGet", contracts.SubjectIdentitiesGet, handle(s, s.getIdentity)},
		{"identitiesUpdate", contracts.SubjectIdentitiesUpdate, handle(s, s.updateIdentity)},
		{"identitiesDelete", contracts.SubjectIdentitiesDelete, handle(s, s.deleteIdentity)},
		{"identitiesList", contracts.SubjectIdentitiesList, handle(s, s.listIdentities)},
		{"ratelimitLimit", contracts.SubjectRatelimitLimit, handle(s, s.limit)},
		{"ratelimitMultiLimit", contracts.SubjectRatelimitMultiLimit, handle(s, s.multiLimit)},
	}
}

// Register adds the micro service and its endpoints on nc.
func (s *Service) Register(nc *nats.Conn) (micro.Service, error) {
	svc, err := micro.AddService(nc, micro.Config{
		Name: contracts.KeyServiceName, Version: Version, QueueGroup: contracts.KeyServiceQueue,
		Description: "API keys, identities and rate limits",
	})
	if err != nil {
		return nil, err
	}
	s.nc = nc
	for _, e := range s.endpoints() {
		if err := svc.AddEndpoint(e.name, e.handler, micro.WithEndpointSubject(e.subject)); err != nil {
			_ = svc.Stop()
			return nil, err
		}
	}
	return svc, nil
}

// handle makes a handler of an operation on requests of type T: the
// request is decoded strictly, op runs with a deadline and the time in
// unix milliseconds, and its answer or error is sent before returning.
func handle[T any](s *Service, op func(ctx context.Context, r *T, now int64) (any, error)) micro.HandlerFunc {
	return func(req micro.Request) {
		ctx, cancel := context.WithTimeout(withIDs(context.Background(), idsOf(req)), s.cfg.Timeout)
		defer cancel()
		var r T
		if err := decodeStrict(req.Data(), &r); err != nil {
			s.fail(ctx, req, contracts.CodeBadRequest, err.Error())
			return
		}
		resp, err := op(ctx, &r, s.cfg.Now().UnixMilli())
		if err != nil {
			s.failWith(ctx, req, err)
			return
		}
		s.reply(ctx, req, resp)
	}
}

func (s *Service) reply(ctx context.Context, req micro.Request, v any) {
	if err := req.RespondJSON(v); err != nil {
		s.log(ctx).Warn("reply", "subject", req.Subject(), "err", err)
	}
}

// failWith answers an operation's error: a *contracts.Error as it is, a
// storage outage that passes on its own (store.Unavailable) as
// UNAVAILABLE, anything else as INTERNAL; the last two are logged here and
// never shown to the caller.
func (s *Service) failWith(ctx context.Context, req micro.Request, err error) {
	var ce *contracts.Error
	switch {
	case errors.As(err, &ce):
		s.fail(ctx, req, ce.Code, ce.Message)
	case store.Unavailable(err):
		s.log(ctx).Warn("storage unavailable", "subject", req.Subject(), "err", err)
		s.fail(ctx, req, contracts.CodeUnavailable, unavailableMessage)
	default:
		s.log(ctx).Error("request failed", "subject", req.Subject(), "err", err)
		s.fail(ctx, req, contracts.CodeInternal, "the request could not be completed; try again")
	}
}

// unavailableMessage answers an operation that failed with a storage
// outage. What it says of verifications holds: a commit whose
// acknowledgement was lost may have landed, and a retry with the same
// idempotency key replays it rather than charging again.
const unavailableMessage = "key storage is unavailable for a moment; retry (a verification may have been charged: retry it with the same idempotencyKey to be charged once)"

// fail sends a micro error reply: the code and a one-line description in the
// headers, and the contracts.Error as the body.
func (s *Service) fail(ctx context.Context, req micro.Request, code contracts.Code, msg string) {
	msg = strings.ReplaceAll(strings.ReplaceAll(msg, "\r", " "), "\n", "; ")
	body, _ := json.Marshal(contracts.Error{Code: code, Message: msg})
	if err := req.Error(string(code), msg, body); err != nil {
		s.log(ctx).Warn("reply error", "subject", req.Subject(), "err", err)
	}
}
