package service

import (
	"encoding/json"

	"github.com/ocrstack/ocrstack/contracts"
	"github.com/ocrstack/ocrstack/keyservice/internal/limits"
	"github.com/ocrstack/ocrstack/keyservice/internal/store"
)

// keyInfo is what callers see of a key: never its hash.
func keyInfo(v store.KeyView) contracts.KeyInfo {
	r := v.Record
	return contracts.KeyInfo{
		KeyID: r.KeyID, APIID: r.APIID, Start: r.Start, Name: r.Name, ExternalID: r.ExternalID,
		Meta: r.Meta, Enabled: r.Enabled, Expires: r.Expires, Credits: credits(v.State.Budget),
		Ratelimits: r.Ratelimits, Roles: r.Roles, Permissions: r.Permissions,
		Identity:  identityInfo(v.Identity, v.IdentityBudget),
		CreatedAt: r.CreatedAt, UpdatedAt: r.UpdatedAt, LastUsedAt: v.State.LastUsedAt,
	}
}

// credits is a budget's balance and refill; nil when unlimited.
func credits(b limits.Budget) *contracts.Credits {
	if b.Credits == nil {
		return nil
	}
	return &contracts.Credits{Remaining: *b.Credits, Refill: b.Refill}
}

func identityInfo(id *store.Identity, b *limits.Budget) *contracts.Identity {
	if id == nil {
		return nil
	}
	out := &contracts.Identity{ID: id.ID, ExternalID: id.ExternalID, Meta: id.Meta, Ratelimits: id.Ratelimits}
	if b != nil {
		out.Credits = credits(*b)
	}
	return out
}

// budgetOf is the starting budget for credits given at creation or update:
// unlimited for nil, and a refill schedule starting now.
func budgetOf(c *contracts.Credits, now int64) limits.Budget {
	if c == nil {
		return limits.Budget{}
	}
	remaining := c.Remaining
	b := limits.Budget{Credits: &remaining, Refill: c.Refill}
	if c.Refill != nil {
		b.RefilledAt = now
	}
	return b
}

// maxPageBytes bounds the JSON of one list page, well under NATS's default
// max_payload of 1 MiB: 100 keys with 16 KiB of meta each would not fit.
const maxPageBytes = 768 << 10

// pageFit counts the bytes of a page being built.
type pageFit struct{ bytes int }

// add reports whether v still fits on the page; the first item always does.
func (p *pageFit) add(v any) bool {
	b, err := json.Marshal(v)
	if err != nil {
		return false
	}
	if p.bytes > 0 && p.bytes+len(b) > maxPageBytes {
		return false
	}
	p.bytes += len(b) + 1
	return true
}
