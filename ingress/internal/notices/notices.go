// Package notices tells an account's owner that its credits run low.
//
// The Notifier watches the verifications the ingress makes: when a VALID
// one leaves an account's shared credits at or under its plan's
// threshold, from above it, it publishes a contracts.NoticeEvent on
// contracts.SubjectEventsNotice (stream OCR_EVENTS, where analytics stores
// it). Credits are spent atomically in keyservice, so exactly one
// verification makes each crossing; its event id is derived from the key,
// the threshold and the balance, so a retried publish of the same crossing
// is stored once (Nats-Msg-Id de-duplication).
//
// The notice goes through an emit.Emitter (package ops/emit), shared with
// keyservice's verification events: the request never waits on NATS, and
// the notice is kept and published again, with the same Nats-Msg-Id, until
// the stream acknowledges it, so a NATS restart loses none. The ingress
// drains it on shutdown before it drains its connection.
//
// The Webhook, when a URL is configured, POSTs each notice there, signed
// exactly like job callbacks (X-OCR-Signature, see package callback), from
// a durable consumer all ingress replicas share: at least once, retried
// with a growing delay, surviving a restart.
package notices

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"log/slog"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/ocrstack/ocrstack/contracts"
)

// Events publishes events until the stream has them (emit.Emitter does).
type Events interface {
	// Emit publishes data on subject with header, which carries the
	// event's Nats-Msg-Id, without waiting on NATS.
	Emit(subject string, data []byte, header nats.Header) error
}

// Config holds a Notifier's dependencies.
type Config struct {
	// Events publishes the notices.
	Events Events
	// Threshold returns the low-credit threshold of an identity from its
	// meta, false when it has none (not an account, or threshold 0).
	Threshold func(meta json.RawMessage) (int64, bool)
	Logger    *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Notifier publishes low-credit notices.
type Notifier struct {
	cfg Config
}

// New returns a Notifier.
func New(cfg Config) *Notifier {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Notifier{cfg: cfg}
}

// Crossing returns the notice a verification that spent cost calls for,
// false when it crossed no threshold.
func Crossing(v contracts.VerifyKeyResponse, cost int64, threshold func(json.RawMessage) (int64, bool), now time.Time) (contracts.NoticeEvent, bool) {
	if !v.Valid || cost <= 0 || v.Identity == nil || v.Identity.Credits == nil {
		return contracts.NoticeEvent{}, false
	}
	thr, ok := threshold(v.Identity.Meta)
	left := v.Identity.Credits.Remaining
	if !ok || thr <= 0 || left > thr || left+cost <= thr {
		return contracts.NoticeEvent{}, false
	}
	sum := sha256.Sum256([]byte(string(contracts.NoticeLowCredits) + "\n" + v.KeyID + "\n" + strconv.FormatInt(thr, 10) + "\n" + strconv.FormatInt(left, 10)))
	return contracts.NoticeEvent{
		EventID: "ntc_" + hex.EncodeToString(sum[:12]), Time: now.UnixMilli(), Kind: contracts.NoticeLowCredits,
		KeyID: v.KeyID, APIID: v.APIID, OwnerID: v.ExternalID, CreditsRemaining: left, Threshold: thr,
	}, true
}

// Observe publishes a notice when the verification v, which spent cost,
// crossed its account's threshold. The publish is asynchronous and retried
// by Events until stored: it never delays or fails the request.
func (n *Notifier) Observe(v contracts.VerifyKeyResponse, cost int64, requestID string) {
	ev, ok := Crossing(v, cost, n.cfg.Threshold, n.cfg.Now())
	if !ok {
		return
	}
	b, err := json.Marshal(ev)
	if err != nil {
		n.cfg.Logger.Error("encode notice", "err", err)
		return
	}
	h := nats.Header{}
	h.Set(contracts.HeaderMsgID, ev.EventID)
	if requestID != "" {
		h.Set(contracts.HeaderRequestID, requestID)
	}
	if err := n.cfg.Events.Emit(contracts.SubjectEventsNotice, b, h); err != nil {
		n.cfg.Logger.Error("publish notice", "request_id", requestID, "key_id", ev.KeyID, "owner_id", ev.OwnerID, "err", err)
		return
	}
	n.cfg.Logger.Info("low credits", "request_id", requestID, "key_id", ev.KeyID, "owner_id", ev.OwnerID, "credits", ev.CreditsRemaining)
}
