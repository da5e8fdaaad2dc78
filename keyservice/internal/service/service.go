// Package service serves key management over NATS request/reply with the
// micro framework: contracts.SubjectKeysCreate and contracts.SubjectKeysVerify
// in queue group contracts.KeyServiceQueue, so any number of replicas share
// the load. Every verification emits a contracts.VerificationEvent.
//
// Outcomes of a verification (VALID, RATE_LIMITED, ...) are normal replies;
// micro error replies (Nats-Service-Error-Code = a contracts.Code) are kept
// for malformed requests (BAD_REQUEST) and broken invariants (INTERNAL).
package service

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nats.go/micro"
	"github.com/ocrstack/ocrstack/contracts"
	"github.com/ocrstack/ocrstack/keyservice/internal/keys"
	"github.com/ocrstack/ocrstack/keyservice/internal/limits"
	"github.com/ocrstack/ocrstack/keyservice/internal/store"
)

// Version is reported by the micro service's INFO.
const Version = "0.1.0"

// Config holds a Service's dependencies.
type Config struct {
	Store  *store.Store
	JS     jetstream.JetStream
	Logger *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Timeout bounds the storage work of one request; 0 means 5 s.
	Timeout time.Duration
}

// Service handles key requests. Handlers answer before they return, as
// micro requires: it reads the reply's outcome for its statistics once the
// handler returns, so a reply sent from another goroutine would race with it.
// Requests are spread across replicas by the queue group.
type Service struct {
	cfg Config
}

// New returns a Service.
func New(cfg Config) *Service {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = 5 * time.Second
	}
	return &Service{cfg: cfg}
}

// Register adds the micro service and its endpoints on nc.
func (s *Service) Register(nc *nats.Conn) (micro.Service, error) {
	svc, err := micro.AddService(nc, micro.Config{
		Name: contracts.KeyServiceName, Version: Version, QueueGroup: contracts.KeyServiceQueue,
		Description: "API key creation and verification",
	})
	if err != nil {
		return nil, err
	}
	if err := svc.AddEndpoint("create", micro.HandlerFunc(s.handleCreate), micro.WithEndpointSubject(contracts.SubjectKeysCreate)); err != nil {
		return nil, err
	}
	if err := svc.AddEndpoint("verify", micro.HandlerFunc(s.handleVerify), micro.WithEndpointSubject(contracts.SubjectKeysVerify)); err != nil {
		return nil, err
	}
	return svc, nil
}

func (s *Service) handleCreate(req micro.Request) {
	var r contracts.CreateKeyRequest
	if err := decodeStrict(req.Data(), &r); err != nil {
		s.fail(req, contracts.CodeBadRequest, err.Error())
		return
	}
	now := s.cfg.Now().UnixMilli()
	if err := validateCreate(&r, now); err != nil {
		s.fail(req, contracts.CodeBadRequest, err.Error())
		return
	}
	key, err := keys.New(r.Prefix, r.ByteLength)
	if err != nil {
		s.fail(req, contracts.CodeBadRequest, err.Error())
		return
	}
	rec := store.Record{
		KeyID: keys.NewID("key"), APIID: r.APIID, Hash: keys.Hash(key), Start: keys.Start(key),
		Name: r.Name, ExternalID: r.ExternalID, Meta: r.Meta, Expires: r.Expires,
		Enabled: r.Enabled == nil || *r.Enabled, Ratelimits: r.Ratelimits, CreatedAt: now, UpdatedAt: now,
	}
	var st limits.State
	if r.Credits != nil {
		st.Credits = &r.Credits.Remaining
	}
	ctx, cancel := context.WithTimeout(context.Background(), s.cfg.Timeout)
	defer cancel()
	if err := s.cfg.Store.Create(ctx, rec, st); err != nil {
		s.cfg.Logger.Error("create key", "key_id", rec.KeyID, "owner_id", rec.ExternalID, "err", err)
		s.fail(req, contracts.CodeInternal, "the key could not be stored")
		return
	}
	s.cfg.Logger.Info("key created", "key_id", rec.KeyID, "owner_id", rec.ExternalID, "api_id", rec.APIID)
	s.reply(req, contracts.CreateKeyResponse{KeyID: rec.KeyID, Key: key})
}

func (s *Service) handleVerify(req micro.Request) {
	began := time.Now()
	var r contracts.VerifyKeyRequest
	if err := decodeStrict(req.Data(), &r); err != nil {
		s.fail(req, contracts.CodeBadRequest, err.Error())
		return
	}
	cost := int64(1)
	if r.Credits != nil {
		cost = r.Credits.Cost
	}
	if cost < 0 {
		s.fail(req, contracts.CodeBadRequest, "credits.cost: must not be negative")
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), s.cfg.Timeout)
	defer cancel()
	resp, rec, err := s.verify(ctx, r.Key, cost)
	if err != nil {
		s.cfg.Logger.Error("verify key", "key_id", rec.KeyID, "request_id", r.RequestID, "err", err)
		s.fail(req, contracts.CodeInternal, "the key could not be verified")
		return
	}
	s.reply(req, resp)
	s.emit(contracts.VerificationEvent{
		EventID: keys.NewID("ver"), Time: s.cfg.Now().UnixMilli(), RequestID: r.RequestID,
		KeyID: rec.KeyID, APIID: rec.APIID, OwnerID: rec.ExternalID, Outcome: resp.Code, Cost: cost,
		CreditsRemaining: creditsOrUnlimited(resp.Credits), LatencyUs: time.Since(began).Microseconds(), Tags: r.Tags,
	})
}

// verify looks the key up by hash and spends its budget. An unknown or
// malformed key is the outcome NOT_FOUND, not an error.
func (s *Service) verify(ctx context.Context, key string, cost int64) (contracts.VerifyKeyResponse, store.Record, error) {
	notFound := contracts.VerifyKeyResponse{Code: contracts.VerifyNotFound}
	if keys.CheckSyntax(key) != nil {
		return notFound, store.Record{}, nil
	}
	hash := keys.Hash(key)
	rec, err := s.cfg.Store.ByHash(ctx, hash)
	if errors.Is(err, store.ErrNotFound) {
		return notFound, store.Record{}, nil
	}
	if err != nil {
		return notFound, rec, err
	}
	if !keys.HashEqual(rec.Hash, hash) {
		return notFound, store.Record{}, nil
	}
	out, err := s.cfg.Store.Spend(ctx, rec, cost, s.cfg.Now)
	if err != nil {
		return notFound, rec, err
	}
	return contracts.VerifyKeyResponse{
		Valid: out.Code == contracts.VerifyValid, Code: out.Code, KeyID: rec.KeyID, APIID: rec.APIID,
		Name: rec.Name, ExternalID: rec.ExternalID, Meta: rec.Meta, Expires: rec.Expires,
		Credits: out.Credits, Enabled: rec.Enabled, Ratelimits: out.Ratelimits,
	}, rec, nil
}

// emit publishes an event asynchronously; the JetStream context's error
// handler logs a publish that is not acknowledged.
func (s *Service) emit(ev contracts.VerificationEvent) {
	b, err := json.Marshal(ev)
	if err != nil {
		s.cfg.Logger.Error("encode verification event", "err", err)
		return
	}
	msg := &nats.Msg{Subject: contracts.SubjectEventsVerification, Data: b, Header: nats.Header{}}
	msg.Header.Set(contracts.HeaderMsgID, ev.EventID)
	if ev.RequestID != "" {
		msg.Header.Set(contracts.HeaderRequestID, ev.RequestID)
	}
	if _, err := s.cfg.JS.PublishMsgAsync(msg); err != nil {
		s.cfg.Logger.Error("publish verification event", "request_id", ev.RequestID, "key_id", ev.KeyID, "err", err)
	}
}

func (s *Service) reply(req micro.Request, v any) {
	if err := req.RespondJSON(v); err != nil {
		s.cfg.Logger.Warn("reply", "subject", req.Subject(), "err", err)
	}
}

// fail sends a micro error reply: the code and a one-line description in the
// headers, and the contracts.Error as the body.
func (s *Service) fail(req micro.Request, code contracts.Code, msg string) {
	msg = strings.ReplaceAll(strings.ReplaceAll(msg, "\r", " "), "\n", "; ")
	body, _ := json.Marshal(contracts.Error{Code: code, Message: msg})
	if err := req.Error(string(code), msg, body); err != nil {
		s.cfg.Logger.Warn("reply error", "subject", req.Subject(), "err", err)
	}
}

func creditsOrUnlimited(c *int64) int64 {
	if c == nil {
		return -1
	}
	return *c
}
