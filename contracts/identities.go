package contracts

import "encoding/json"

// Identity is an owner of keys: its rate limits are shared by all its keys,
// and so, beyond Unkey, are its credits when it has them.
type Identity struct {
	ID         string          `json:"id"`
	ExternalID string          `json:"externalId"`
	Meta       json.RawMessage `json:"meta,omitempty"`
	Ratelimits []Ratelimit     `json:"ratelimits,omitempty"`
	// Credits, when set, are spent by every key of the identity; a
	// verification needs both the key's and the identity's.
	Credits *Credits `json:"credits,omitempty"`
}

// CreateIdentityRequest (SubjectIdentitiesCreate) is answered with
// IdentityRef. A second identity with the same ExternalID is a CONFLICT.
type CreateIdentityRequest struct {
	ExternalID string          `json:"externalId"`
	Meta       json.RawMessage `json:"meta,omitempty"`
	Ratelimits []Ratelimit     `json:"ratelimits,omitempty"`
	Credits    *Credits        `json:"credits,omitempty"`
}

// IdentityRef names an identity by id or by external id (one of them);
// SubjectIdentitiesGet and SubjectIdentitiesDelete take it.
type IdentityRef struct {
	IdentityID string `json:"identityId,omitempty"`
	ExternalID string `json:"externalId,omitempty"`
}

// UpdateIdentityRequest (SubjectIdentitiesUpdate) answers with Identity;
// optional fields follow UpdateKeyRequest's absent / null / value rule.
type UpdateIdentityRequest struct {
	IdentityID string          `json:"identityId,omitempty"`
	ExternalID string          `json:"externalId,omitempty"`
	Meta       json.RawMessage `json:"meta,omitempty"`
	Ratelimits json.RawMessage `json:"ratelimits,omitempty"`
	Credits    json.RawMessage `json:"credits,omitempty"`
}

// ListIdentitiesRequest (SubjectIdentitiesList) pages through identities.
type ListIdentitiesRequest struct {
	Cursor string `json:"cursor,omitempty"`
	Limit  int    `json:"limit,omitempty"`
}

// ListIdentitiesResponse is one page.
type ListIdentitiesResponse struct {
	Identities []Identity `json:"identities"`
	Cursor     string     `json:"cursor,omitempty"`
	HasMore    bool       `json:"hasMore"`
}

// RatelimitRequest (SubjectRatelimitLimit) spends Cost (default 1) of a
// standalone limit on Identifier within Namespace ("signup.ip"). The same
// namespace and identifier share one budget across every replica.
type RatelimitRequest struct {
	Namespace  string `json:"namespace"`
	Identifier string `json:"identifier"`
	Limit      int64  `json:"limit"`
	// Duration is the window in milliseconds, at least 1000.
	Duration int64  `json:"duration"`
	Cost     *int64 `json:"cost,omitempty"`
}

// RatelimitResponse is Unkey's ratelimit.limit answer.
type RatelimitResponse struct {
	Success   bool  `json:"success"`
	Limit     int64 `json:"limit"`
	Remaining int64 `json:"remaining"`
	// Reset is when the window ends, unix milliseconds.
	Reset int64 `json:"reset"`
}

// MultiRatelimitRequest (SubjectRatelimitMultiLimit) checks several limits
// at once: all are spent only when all pass.
type MultiRatelimitRequest struct {
	Limits []RatelimitRequest `json:"limits"`
}

// MultiRatelimitResponse gives each limit's answer, in request order.
type MultiRatelimitResponse struct {
	Passed bool                `json:"passed"`
	Limits []RatelimitResponse `json:"limits"`
}
