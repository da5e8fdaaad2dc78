package store

import (
	"cmp"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/ocrstack/ocrstack/contracts"
	"github.com/ocrstack/ocrstack/keyservice/internal/limits"
)

// Bounds of what a Doc remembers.
const (
	// SeenWindow is how long a verification's request id is remembered: a
	// repeat within it returns the first outcome and spends nothing.
	SeenWindow = 10 * time.Minute
	// MaxSeen bounds the request ids remembered per Doc; the oldest go
	// first. Every verification of the Doc reads and writes them all, so
	// the bound trades replay detection against verification cost (about
	// 7 µs each in BenchmarkVerify: 0.31 ms without request ids, 0.78 ms
	// with 64 remembered).
	MaxSeen = 64
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
	// Seen are the recent spending verifications, oldest first.
	Seen []Seen `json:"seen,omitempty"`
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

// Seen remembers one verification's outcome under its request id. Only
// spending verifications are remembered, so the outcome is VALID; what is
// kept is what a replay must repeat, in short JSON, since a Doc carries up
// to MaxSeen of them through every verification.
type Seen struct {
	State string `json:"s"`
	// Request is the request id, or a tag of it when longer than 32 bytes.
	Request string `json:"r"`
	At      int64  `json:"t"`
	// Credits and IdentityCredits are the balances the outcome reported.
	Credits         *int64 `json:"k,omitempty"`
	IdentityCredits *int64 `json:"i,omitempty"`
	// Limits are the outcome's rate-limit results, in order.
	Limits []seenLimit `json:"l,omitempty"`
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
	return d, nil
}

// seen returns the outcome remembered for request id req of state id sid,
// if it is recent enough.
func (d Doc) seen(sid, req string, now int64) (limits.Outcome, bool) {
	if req == "" {
		return limits.Outcome{}, false
	}
	req = requestKey(req)
	for _, s := range d.Seen {
		if s.State == sid && s.Request == req && now-s.At < SeenWindow.Milliseconds() {
			out := limits.Outcome{Code: contracts.VerifyValid, Credits: s.Credits, IdentityCredits: s.IdentityCredits}
			for _, l := range s.Limits {
				out.Ratelimits = append(out.Ratelimits, contracts.RatelimitResult{ID: l.ID, Name: l.Name, Limit: l.Limit,
					Duration: l.Duration, Remaining: l.Remaining, Reset: l.Reset, AutoApply: l.AutoApply})
			}
			return out, true
		}
	}
	return limits.Outcome{}, false
}

// remember adds a spending (so VALID) verification's outcome under its
// request id.
func (d *Doc) remember(sid, req string, now int64, out limits.Outcome) {
	s := Seen{State: sid, Request: requestKey(req), At: now, Credits: out.Credits, IdentityCredits: out.IdentityCredits}
	for _, r := range out.Ratelimits {
		s.Limits = append(s.Limits, seenLimit{ID: r.ID, Name: r.Name, Limit: r.Limit, Duration: r.Duration,
			Remaining: r.Remaining, Reset: r.Reset, AutoApply: r.AutoApply})
	}
	d.Seen = append(d.Seen, s)
}

// encode tidies d before it is written: forgets request ids and forwarding
// marks past their time and keeps at most MaxSeen request ids.
func (d Doc) encode(now int64) ([]byte, error) {
	var seen []Seen
	for _, s := range d.Seen {
		if now-s.At < SeenWindow.Milliseconds() {
			seen = append(seen, s)
		}
	}
	slices.SortStableFunc(seen, func(a, b Seen) int { return cmp.Compare(a.At, b.At) })
	d.Seen = seen[max(len(seen)-MaxSeen, 0):]
	for sid, m := range d.Moved {
		if now-m.At >= movedKeep.Milliseconds() {
			delete(d.Moved, sid)
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
	c.Seen = append([]Seen(nil), d.Seen...)
	return c
}
