package store

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/ocrstack/ocrstack/contracts"
	"github.com/ocrstack/ocrstack/keyservice/internal/limits"
)

// Bounds of what a Doc remembers.
const (
	// SeenWindow is how long a verification's idempotency key is
	// replayed: a repeat within it returns the first outcome and spends
	// nothing. Each is its own state entry ("p.<tag>"), committed with the
	// spend and expiring by TTL, so there is no bound on how many.
	SeenWindow = 10 * time.Minute
	// keepSeen is how long an idempotency record is kept: for replays
	// within SeenWindow, and for a refund of its charge within
	// contracts.RefundWindow (25 hours), which makes it the longer. Every
	// spending verification with an idempotency key therefore keeps one
	// entry of about 300 bytes in the state bucket that long.
	keepSeen = max(SeenWindow, contracts.RefundWindow)
	// movedKeep is how long a forwarding mark outlives a move: far longer
	// than any request that read the record before the move can take.
	movedKeep = 10 * time.Minute
)

// Doc is one state entry: a key's budget (k.<stateId>), or an identity's
// budget with those of its keys (i.<identityId>). A verification changes
// exactly one Doc with one compare-and-set.
type Doc struct {
	// Identity is the identity's own budget; nil in a key's Doc, and after
	// the identity was deleted.
	Identity *limits.Budget `json:"identity,omitempty"`
	// Keys holds key budgets by state id.
	Keys map[string]KeyState `json:"keys,omitempty"`
	// Moved forwards a state id whose budget moved to another Doc.
	Moved map[string]Moved `json:"moved,omitempty"`
	// Pending holds idempotency records committed with this Doc, by their
	// entry key ("p.<tag>"), until they are also in those entries of their
	// own: see pending.go.
	Pending map[string]Seen `json:"pending,omitempty"`
}

// KeyState is one key's budget and last use.
type KeyState struct {
	limits.Budget
	// LastUsedAt is the last verification that spent something, unix ms;
	// one that counts nothing is not written, so not recorded.
	LastUsedAt int64 `json:"lastUsedAt,omitempty"`
}

// Moved forwards to the Doc a budget moved to, since At (unix ms).
type Moved struct {
	To string `json:"to"`
	At int64  `json:"at"`
}

// Seen is an idempotency record: the outcome of a spending (so VALID)
// verification, kept under "p.<tag(state id, idempotency key)>" for
// keepSeen, so a retry within SeenWindow gets the same answer and spends
// nothing, and a refund within contracts.RefundWindow can give back what
// it spent, once.
type Seen struct {
	State string `json:"s"`
	// Request is the request id, or a tag of it when longer than 32 bytes.
	Request string `json:"r"`
	At      int64  `json:"t"`
	// Credits and IdentityCredits are the balances the outcome reported:
	// each is set exactly when that budget's credits were charged.
	Credits         *int64 `json:"k,omitempty"`
	IdentityCredits *int64 `json:"i,omitempty"`
	// Limits are the outcome's rate-limit results, in order.
	Limits []seenLimit `json:"l,omitempty"`
	// Cost is the credits charged; nil in a record written before refunds
	// existed, which cannot be refunded.
	Cost *int64 `json:"c,omitempty"`
	// Doc is the state entry the budgets were charged in, so identity
	// credits are only given back to the identity that paid them.
	Doc string `json:"d,omitempty"`
	// Refunded is when the charge was given back (unix ms); 0 if never.
	Refunded int64 `json:"x,omitempty"`
	// Cancelled is when a refund settled the idempotency key before any
	// verification charged it (unix ms); 0 if never. Such a record charged
	// nothing (Cost is nil) and refuses every later verification with the
	// key with ErrCancelled: see Refund.
	Cancelled int64 `json:"z,omitempty"`
}

// seenLimit is a passed contracts.RatelimitResult in short JSON.
type seenLimit struct {
	ID        string `json:"i"`
	Name      string `json:"n"`
	Limit     int64  `json:"l"`
	Duration  int64  `json:"d"`
	Remaining int64  `json:"r"`
	Reset     int64  `json:"t"`
	AutoApply bool   `json:"a,omitempty"`
}

// requestKey is how a request id is remembered: as is when short, else as
// a 128-bit tag, so a Doc's size does not depend on callers' ids.
func requestKey(req string) string {
	if len(req) <= 32 {
		return req
	}
	return "#" + tag(req)
}

// DecodeDoc parses a stored state entry and checks its invariants.
func DecodeDoc(b []byte) (Doc, error) {
	var d Doc
	if err := json.Unmarshal(b, &d); err != nil {
		return Doc{}, fmt.Errorf("%w: state: %v", ErrCorrupt, err)
	}
	check := func(b limits.Budget) error {
		if b.Credits != nil && *b.Credits < 0 {
			return fmt.Errorf("%w: negative credits", ErrCorrupt)
		}
		for name, w := range b.Windows {
			if w.Count < 0 {
				return fmt.Errorf("%w: negative count in window %q", ErrCorrupt, name)
			}
		}
		return nil
	}
	if d.Identity != nil {
		if err := check(*d.Identity); err != nil {
			return Doc{}, err
		}
	}
	for _, ks := range d.Keys {
		if err := check(ks.Budget); err != nil {
			return Doc{}, err
		}
	}
	for pk := range d.Pending {
		if !validRecordKey(pk) {
			return Doc{}, fmt.Errorf("%w: pending idempotency record under %q", ErrCorrupt, pk)
		}
	}
	return d, nil
}

// validRecordKey reports whether pk can name an idempotency record: "p."
// and 32 lowercase hex digits, as idempotencyKey makes, so a corrupt Doc
// never has a copy written to another entry or a wildcard subject.
func validRecordKey(pk string) bool {
	if len(pk) != 34 || pk[:2] != "p." {
		return false
	}
	for i := 2; i < len(pk); i++ {
		c := pk[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// idempotencyKey is the state-bucket entry remembering a verification made
// with idempotency key req on state sid: "p." and a 128-bit tag of both.
func idempotencyKey(sid, req string) string {
	return "p." + tag(sid+"\x00"+req)
}

// outcome is the remembered verification's answer.
func (s Seen) outcome() limits.Outcome {
	out := limits.Outcome{Code: contracts.VerifyValid, Credits: s.Credits, IdentityCredits: s.IdentityCredits}
	for _, l := range s.Limits {
		out.Ratelimits = append(out.Ratelimits, contracts.RatelimitResult{ID: l.ID, Name: l.Name, Limit: l.Limit,
			Duration: l.Duration, Remaining: l.Remaining, Reset: l.Reset, AutoApply: l.AutoApply})
	}
	return out
}

// seenOf records a spending (so VALID) verification's outcome: what it
// charged (cost, in Doc doc) and what it answered.
func seenOf(doc, sid, req string, now, cost int64, out limits.Outcome) Seen {
	s := Seen{State: sid, Request: requestKey(req), At: now, Credits: out.Credits, IdentityCredits: out.IdentityCredits,
		Cost: &cost, Doc: doc}
	for _, r := range out.Ratelimits {
		s.Limits = append(s.Limits, seenLimit{ID: r.ID, Name: r.Name, Limit: r.Limit, Duration: r.Duration,
			Remaining: r.Remaining, Reset: r.Reset, AutoApply: r.AutoApply})
	}
	return s
}

// encode tidies d before it is written: forgets forwarding marks and
// pending idempotency records past their time.
func (d Doc) encode(now int64) ([]byte, error) {
	for sid, m := range d.Moved {
		if now-m.At >= movedKeep.Milliseconds() {
			delete(d.Moved, sid)
		}
	}
	for pk, r := range d.Pending {
		if now-r.At >= keepSeen.Milliseconds() {
			delete(d.Pending, pk)
		}
	}
	b, err := json.Marshal(d)
	if err != nil {
		return nil, fmt.Errorf("encode state: %w", err)
	}
	return b, nil
}

// clone copies d's maps, so a retry starts from what was read.
func (d Doc) clone() Doc {
	c := d
	c.Keys = make(map[string]KeyState, len(d.Keys)+1)
	for k, v := range d.Keys {
		c.Keys[k] = v
	}
	c.Moved = make(map[string]Moved, len(d.Moved))
	for k, v := range d.Moved {
		c.Moved[k] = v
	}
	c.Pending = make(map[string]Seen, len(d.Pending))
	for k, v := range d.Pending {
		c.Pending[k] = v
	}
	return c
}
