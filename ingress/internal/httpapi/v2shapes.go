package httpapi

import (
	"bytes"
	"encoding/json"
	"strings"

	"github.com/ocrstack/ocrstack/contracts"
)

// Response data of the /v2 routes in Unkey's shapes, and their translation
// from contracts. Unkey requires a few members contracts do not carry (a
// ratelimit's id, an identity's id when a key has only an external id);
// those are derived here, and members Unkey does not have (apiId, a
// refill's mode) are left out, except where Unkey's schema is open
// (Identity: its credits).

// v2Key is Unkey's KeyResponseData.
type v2Key struct {
	KeyID       string          `json:"keyId"`
	Start       string          `json:"start"`
	Enabled     bool            `json:"enabled"`
	Name        string          `json:"name,omitempty"`
	Meta        json.RawMessage `json:"meta,omitempty"`
	CreatedAt   int64           `json:"createdAt"`
	UpdatedAt   int64           `json:"updatedAt,omitempty"`
	LastUsedAt  int64           `json:"lastUsedAt,omitempty"`
	Expires     int64           `json:"expires,omitempty"`
	Permissions []string        `json:"permissions,omitempty"`
	Roles       []string        `json:"roles,omitempty"`
	Credits     *v2Credits      `json:"credits,omitempty"`
	Identity    *v2Identity     `json:"identity,omitempty"`
	Ratelimits  []v2Ratelimit   `json:"ratelimits,omitempty"`
}

// v2Credits is Unkey's KeyCreditsData; Remaining nil is unlimited.
type v2Credits struct {
	Remaining *int64    `json:"remaining"`
	Refill    *v2Refill `json:"refill,omitempty"`
}

// v2Refill is Unkey's KeyCreditsRefill.
type v2Refill struct {
	Interval  contracts.RefillInterval `json:"interval"`
	Amount    int64                    `json:"amount"`
	RefillDay int                      `json:"refillDay,omitempty"`
}

// v2Identity is Unkey's Identity, plus the identity's shared credits.
type v2Identity struct {
	ID         string          `json:"id"`
	ExternalID string          `json:"externalId"`
	Meta       json.RawMessage `json:"meta,omitempty"`
	Ratelimits []v2Ratelimit   `json:"ratelimits,omitempty"`
	Credits    *v2Credits      `json:"credits,omitempty"`
}

// v2Ratelimit is Unkey's RatelimitResponse.
type v2Ratelimit struct {
	ID        string `json:"id"`
	Name      string `json:"name"`
	Limit     int64  `json:"limit"`
	Duration  int64  `json:"duration"`
	AutoApply bool   `json:"autoApply"`
}

// v2VerifyData is Unkey's V2KeysVerifyKeyResponseData.
type v2VerifyData struct {
	Valid       bool                 `json:"valid"`
	Code        contracts.VerifyCode `json:"code"`
	KeyID       string               `json:"keyId,omitempty"`
	Name        string               `json:"name,omitempty"`
	Meta        json.RawMessage      `json:"meta,omitempty"`
	Expires     int64                `json:"expires,omitempty"`
	Credits     *int64               `json:"credits,omitempty"`
	Enabled     *bool                `json:"enabled,omitempty"`
	Permissions []string             `json:"permissions,omitempty"`
	Roles       []string             `json:"roles,omitempty"`
	Identity    *v2Identity          `json:"identity,omitempty"`
	Ratelimits  []v2VerifyRatelimit  `json:"ratelimits,omitempty"`
}

// v2VerifyRatelimit is Unkey's VerifyKeyRatelimitData; Reset is unix ms, as
// Unkey's handler sends it (its spec's text calls it a duration).
type v2VerifyRatelimit struct {
	Exceeded  bool   `json:"exceeded"`
	ID        string `json:"id"`
	Name      string `json:"name"`
	Limit     int64  `json:"limit"`
	Duration  int64  `json:"duration"`
	Reset     int64  `json:"reset"`
	Remaining int64  `json:"remaining"`
	AutoApply bool   `json:"autoApply"`
}

// toV2Key translates a stored key. A key with an external id but no identity
// record gets an identity with an empty id, since Unkey reports the owner
// only as identity.externalId.
func toV2Key(k contracts.KeyInfo) v2Key {
	return v2Key{
		KeyID: k.KeyID, Start: k.Start, Enabled: k.Enabled, Name: k.Name, Meta: objectOrNil(k.Meta),
		CreatedAt: k.CreatedAt, UpdatedAt: k.UpdatedAt, LastUsedAt: k.LastUsedAt, Expires: k.Expires,
		Permissions: k.Permissions, Roles: k.Roles, Credits: toV2Credits(k.Credits),
		Identity: toV2Identity(k.Identity, k.ExternalID), Ratelimits: toV2Ratelimits(k.KeyID, k.Ratelimits),
	}
}

func toV2Credits(c *contracts.Credits) *v2Credits {
	if c == nil {
		return nil
	}
	remaining := c.Remaining
	return &v2Credits{Remaining: &remaining, Refill: toV2Refill(c.Refill)}
}

func toV2Refill(r *contracts.Refill) *v2Refill {
	if r == nil {
		return nil
	}
	return &v2Refill{Interval: r.Interval, Amount: r.Amount, RefillDay: r.RefillDay}
}

func toV2Identity(i *contracts.Identity, externalID string) *v2Identity {
	if i == nil {
		if externalID == "" {
			return nil
		}
		return &v2Identity{ExternalID: externalID}
	}
	return &v2Identity{ID: i.ID, ExternalID: i.ExternalID, Meta: objectOrNil(i.Meta),
		Ratelimits: toV2Ratelimits(i.ID, i.Ratelimits), Credits: toV2Credits(i.Credits)}
}

func toV2Ratelimits(owner string, rls []contracts.Ratelimit) []v2Ratelimit {
	if len(rls) == 0 {
		return nil
	}
	out := make([]v2Ratelimit, len(rls))
	for i, rl := range rls {
		out[i] = v2Ratelimit{ID: ratelimitID(owner, rl.Name), Name: rl.Name, Limit: rl.Limit, Duration: rl.Duration, AutoApply: rl.AutoApply}
	}
	return out
}

// toV2Verify translates a verification outcome. Enabled is left out when no
// key was found, as Unkey does.
func toV2Verify(v contracts.VerifyKeyResponse) v2VerifyData {
	d := v2VerifyData{
		Valid: v.Valid, Code: v.Code, KeyID: v.KeyID, Name: v.Name, Meta: objectOrNil(v.Meta),
		Expires: v.Expires, Credits: v.Credits, Permissions: v.Permissions, Roles: v.Roles,
		Identity: toV2Identity(v.Identity, v.ExternalID),
	}
	if v.Code != contracts.VerifyNotFound && v.KeyID != "" {
		enabled := v.Enabled
		d.Enabled = &enabled
	}
	for _, r := range v.Ratelimits {
		d.Ratelimits = append(d.Ratelimits, v2VerifyRatelimit{
			Exceeded: r.Exceeded, ID: verifyRatelimitID(r, v.KeyID), Name: r.Name, Limit: r.Limit,
			Duration: r.Duration, Reset: r.Reset, Remaining: r.Remaining, AutoApply: r.AutoApply,
		})
	}
	return d
}

// verifyRatelimitID gives a checked limit the id getKey and getIdentity
// show for it: RatelimitResult.ID names the limit's owner (the key or its
// identity), or is already a limit id.
func verifyRatelimitID(r contracts.RatelimitResult, keyID string) string {
	switch {
	case strings.HasPrefix(r.ID, "rl_"):
		return r.ID
	case r.ID != "":
		return ratelimitID(r.ID, r.Name)
	}
	return ratelimitID(keyID, r.Name)
}

// objectOrNil drops a JSON null, which Unkey's meta (type object) never is.
func objectOrNil(m json.RawMessage) json.RawMessage {
	if len(m) == 0 || bytes.Equal(bytes.TrimSpace(m), []byte("null")) {
		return nil
	}
	return m
}
