package service

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"log/slog"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/micro"
	"github.com/ocrstack/ocrstack/contracts"
	"github.com/ocrstack/ocrstack/keyservice/internal/keys"
	"github.com/ocrstack/ocrstack/keyservice/internal/limits"
	"github.com/ocrstack/ocrstack/keyservice/internal/perm"
	"github.com/ocrstack/ocrstack/keyservice/internal/store"
)

// Bounds on a verification request.
const (
	maxTags         = 20
	maxTagLength    = 256
	maxRequestIDLen = 256
)

// verifyRequest is a validated verification.
type verifyRequest struct {
	*contracts.VerifyKeyRequest
	// query is nil when no permissions are asked for.
	query *perm.Query
	cost  int64
}

// handleVerify decides req and answers it before it returns, waiting on
// storage as long as it takes.
func (s *Service) handleVerify(req micro.Request) { s.startVerify(req, true, func() {}) }

// startVerify decides req and answers it, then calls done. With wait, it
// returns once answered. Without, it never waits on storage: it answers
// at once what needs no storage (a malformed request, a malformed key) and
// hands the rest to the store's cached verification, which answers from
// whichever goroutine decides it; when the key is not in the caches it
// returns false, having done nothing, and the request must be handled
// again where it can wait.
func (s *Service) startVerify(req micro.Request, wait bool, done func()) bool {
	began := time.Now()
	ids := idsOf(req)
	var r contracts.VerifyKeyRequest
	if err := decodeStrict(req.Data(), &r); err != nil {
		s.fail(withIDs(context.Background(), ids), req, contracts.CodeBadRequest, err.Error())
		s.cfg.Metrics.verified(outcomeBadRequest, time.Since(began))
		done()
		return true
	}
	vr, err := validateVerify(&r)
	if ids.requestID == "" && err == nil {
		ids.requestID = r.RequestID // a caller that sends it in the body only
	}
	ctx := withIDs(context.Background(), ids)
	if err != nil {
		s.failWith(ctx, req, err)
		s.cfg.Metrics.verified(outcomeBadRequest, time.Since(began))
		done()
		return true
	}
	now := s.cfg.Now().UnixMilli()
	finish := func(v store.Verification, err error) {
		s.finishVerify(ctx, req, vr, now, began, v, err)
		done()
	}
	if keys.CheckSyntax(r.Key) != nil {
		finish(store.Verification{}, store.ErrNotFound)
		return true
	}
	hash := keys.Hash(r.Key)
	if !wait {
		return s.cfg.Store.VerifyCached(hash, r.IdempotencyKey, now, plan(vr), finish)
	}
	vctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
	v, err := s.cfg.Store.Verify(vctx, hash, r.IdempotencyKey, now, plan(vr))
	cancel()
	finish(v, err)
	return true
}

// finishVerify answers the verification vr, decided at now (unix ms) as v
// or failed with err: its metrics, its log line, its event and its reply.
// An unknown key is the outcome NOT_FOUND, not an error.
func (s *Service) finishVerify(ctx context.Context, req micro.Request, vr verifyRequest, now int64, began time.Time, v store.Verification, err error) {
	outcome := outcomeError
	defer func() { s.cfg.Metrics.verified(outcome, time.Since(began)) }()
	switch {
	case errors.Is(err, store.ErrNotFound):
		v, err = store.Verification{Outcome: limits.Outcome{Code: contracts.VerifyNotFound}}, nil
	case errors.Is(err, store.ErrCancelled):
		outcome = outcomeCancelled
		s.fail(ctx, req, contracts.CodeConflict, "idempotencyKey: a refund cancelled this idempotency key before any verification charged it; nothing was spent; verify with a new idempotency key")
		return
	case err != nil:
		s.failWith(ctx, req, err)
		return
	}
	resp := response(v)
	outcome = string(resp.Code)
	s.cfg.Metrics.decided(resp, vr.cost, v.Replayed)
	// One line per verification, at debug level: at the rates verify
	// serves, info would drown everything else.
	if s.cfg.Logger.Enabled(ctx, slog.LevelDebug) {
		s.log(ctx).Debug("key verified", "key_id", v.Record.KeyID, "owner_id", v.Record.ExternalID,
			"outcome", resp.Code, "replayed", v.Replayed, "latency_us", time.Since(began).Microseconds())
	}
	// The event goes out before the answer (both are buffered writes), so
	// a client that waits for each answer sees its events in order. A
	// replay publishes the first verification's event again, under the
	// same id: when the first answer was lost (the commit landed, NATS
	// went away), so may its event have been, and the retry is the only
	// chance left to publish it. The stream's duplicate window, and
	// analytics' one row per event id, keep it counted once.
	at := v.DecidedAt
	if at == 0 {
		at = now
	}
	rec := v.Record
	s.emit(ctx, contracts.VerificationEvent{
		EventID: verificationEventID(rec.KeyID, vr.IdempotencyKey, at), Time: at, RequestID: vr.RequestID,
		KeyID: rec.KeyID, APIID: rec.APIID, OwnerID: rec.ExternalID, Outcome: resp.Code, Cost: vr.cost,
		CreditsRemaining: creditsOrUnlimited(resp.Credits), LatencyUs: time.Since(began).Microseconds(), Tags: vr.Tags,
	})
	s.reply(ctx, req, resp)
}

// verificationEventID names the event of a verification decided at (unix
// ms). With an idempotency key it is derived from the key, the idempotency
// key and the time of the decision, so a replay of a spending verification
// publishes its event under the first one's id, while a later, separate
// decision under the same idempotency key (a denial is not remembered)
// gets an id of its own. Without one it is random.
func verificationEventID(keyID, idempotencyKey string, at int64) string {
	if idempotencyKey == "" {
		return keys.NewID("ver")
	}
	sum := sha256.Sum256([]byte(keyID + "\n" + idempotencyKey + "\n" + strconv.FormatInt(at, 10)))
	return "ver_" + hex.EncodeToString(sum[:16])
}

// validateVerify reports every problem of a verification at once. It runs
// before the key is looked up, so a malformed query never spends anything.
func validateVerify(r *contracts.VerifyKeyRequest) (verifyRequest, error) {
	var p problems
	vr := verifyRequest{VerifyKeyRequest: r, cost: 1}
	if r.Credits != nil {
		vr.cost = r.Credits.Cost
		if vr.cost < 0 || vr.cost > maxCost {
			p.add("credits.cost: must be between 0 and %d", maxCost)
		}
	}
	if len(r.RequestID) > maxRequestIDLen {
		p.add("requestId: at most %d characters", maxRequestIDLen)
	}
	if len(r.IdempotencyKey) > maxRequestIDLen {
		p.add("idempotencyKey: at most %d characters", maxRequestIDLen)
	}
	if len(r.Tags) > maxTags {
		p.add("tags: at most %d", maxTags)
	}
	for i, t := range r.Tags {
		if t == "" || len(t) > maxTagLength {
			p.add("tags[%d]: 1 to %d characters", i, maxTagLength)
		}
	}
	if r.Permissions != "" {
		q, err := perm.Parse(r.Permissions)
		if err != nil {
			p.add("permissions: %v", err)
		}
		vr.query = &q
	}
	if len(r.Ratelimits) > maxRatelimits {
		p.add("ratelimits: at most %d", maxRatelimits)
	}
	seen := map[string]bool{}
	for i, rl := range r.Ratelimits {
		if rl.Name == "" || len(rl.Name) > maxRatelimitName {
			p.add("ratelimits[%d].name: required, at most %d characters", i, maxRatelimitName)
		}
		if seen[rl.Name] {
			p.add("ratelimits[%d].name: %q is named twice", i, rl.Name)
		}
		seen[rl.Name] = true
		if rl.Cost != nil && (*rl.Cost < 0 || *rl.Cost > maxCost) {
			p.add("ratelimits[%d].cost: must be between 0 and %d", i, maxCost)
		}
		if rl.Limit != nil && *rl.Limit < 1 {
			p.add("ratelimits[%d].limit: must be at least 1", i)
		}
		if rl.Duration != nil && (*rl.Duration < minLimitDuration || *rl.Duration > maxLimitDuration) {
			p.add("ratelimits[%d].duration: must be between %d and %d milliseconds", i, minLimitDuration, maxLimitDuration)
		}
	}
	return vr, p.err()
}

// response is the answer to a verification decided as v.
func response(v store.Verification) contracts.VerifyKeyResponse {
	rec, out := v.Record, v.Outcome
	if out.Code == contracts.VerifyNotFound {
		return contracts.VerifyKeyResponse{Code: contracts.VerifyNotFound}
	}
	resp := contracts.VerifyKeyResponse{
		Valid: out.Code == contracts.VerifyValid, Code: out.Code, KeyID: rec.KeyID, APIID: rec.APIID,
		Name: rec.Name, ExternalID: rec.ExternalID, Meta: rec.Meta, Expires: rec.Expires,
		Credits: out.Credits, Enabled: rec.Enabled, Ratelimits: out.Ratelimits,
		Identity: identityInfo(v.Identity, v.IdentityBudget), Roles: rec.Roles, Permissions: rec.Permissions,
	}
	if resp.Identity != nil && resp.Identity.Credits != nil && out.IdentityCredits != nil {
		resp.Identity.Credits.Remaining = *out.IdentityCredits // a replay's, as first answered
	}
	return resp
}

// emit hands an event to Events, which publishes it until the stream
// acknowledges it (see package ops/emit).
func (s *Service) emit(ctx context.Context, ev contracts.VerificationEvent) {
	b, err := json.Marshal(ev)
	if err != nil {
		s.log(ctx).Error("encode verification event", "err", err)
		return
	}
	msg := &nats.Msg{Subject: contracts.SubjectEventsVerification, Data: b, Header: nats.Header{}}
	msg.Header.Set(contracts.HeaderMsgID, ev.EventID)
	if ev.RequestID != "" {
		msg.Header.Set(contracts.HeaderRequestID, ev.RequestID)
	}
	if s.cfg.Events == nil {
		return
	}
	if err := s.cfg.Events.Emit(msg.Subject, msg.Data, msg.Header); err != nil {
		s.log(ctx).Error("publish verification event", "key_id", ev.KeyID, "err", err)
	}
}

func creditsOrUnlimited(c *int64) int64 {
	if c == nil {
		return -1
	}
	return *c
}

// verifyWorkerIdle is how long a verify worker waits for another request
// before it ends.
const verifyWorkerIdle = 10 * time.Second

// verifyAsync is the verify endpoint. It takes one of MaxInFlight tokens
// for the request (waiting, and leaving NATS to buffer, while none is
// free) and starts deciding it inline: a key in this replica's caches is
// queued with the store, which answers it from the goroutine that decides
// its group, so the endpoint is free for the next request at once and the
// answers of one group go out together. A key that must be read first
// goes to an idle verify worker, or to a new one. Workers outlive their
// request, so a verification neither starts a goroutine nor grows a fresh
// one's stack (which was 5% of the CPU a verification cost).
func (s *Service) verifyAsync(req micro.Request) {
	s.running.Add(1)
	s.inflight <- struct{}{}
	r := &asyncRequest{nc: s.nc, data: req.Data(), headers: req.Headers(), reply: req.Reply(), subject: req.Subject()}
	if s.startVerify(r, false, s.verified) {
		return
	}
	select {
	case s.work <- r:
	default:
		go s.verifyWorker(r)
	}
}

// verified returns the token of a verification answered.
func (s *Service) verified() {
	<-s.inflight
	s.running.Done()
}

// verifyWorker decides r, then each request handed to it, waiting on
// storage as long as each needs, until none came for verifyWorkerIdle.
func (s *Service) verifyWorker(r *asyncRequest) {
	idle := time.NewTimer(verifyWorkerIdle)
	defer idle.Stop()
	for {
		s.startVerify(r, true, s.verified)
		idle.Reset(verifyWorkerIdle)
		select {
		case r = <-s.work:
		case <-idle.C:
			return
		}
	}
}

// asyncRequest is a micro.Request answered by publishing to its reply
// subject directly, as micro does (same error headers), but without
// touching micro's own request, which micro reads once the handler returns.
type asyncRequest struct {
	nc             *nats.Conn
	data           []byte
	headers        micro.Headers
	reply, subject string
}

func (r *asyncRequest) Respond(b []byte, opts ...micro.RespondOpt) error {
	m := &nats.Msg{Subject: r.reply, Data: b}
	for _, o := range opts {
		o(m)
	}
	return r.publish(m)
}

func (r *asyncRequest) RespondJSON(v any, opts ...micro.RespondOpt) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return r.Respond(b, opts...)
}

func (r *asyncRequest) Error(code, description string, data []byte, opts ...micro.RespondOpt) error {
	m := &nats.Msg{Subject: r.reply, Data: data, Header: nats.Header{
		micro.ErrorHeader: []string{description}, micro.ErrorCodeHeader: []string{code},
	}}
	for _, o := range opts {
		o(m)
	}
	return r.publish(m)
}

func (r *asyncRequest) publish(m *nats.Msg) error {
	if r.reply == "" {
		return nats.ErrMsgNoReply
	}
	return r.nc.PublishMsg(m)
}

func (r *asyncRequest) Data() []byte           { return r.data }
func (r *asyncRequest) Headers() micro.Headers { return r.headers }
func (r *asyncRequest) Subject() string        { return r.subject }
func (r *asyncRequest) Reply() string          { return r.reply }
