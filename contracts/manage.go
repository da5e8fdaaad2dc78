package contracts

import "encoding/json"

// KeyRef names a key by id, for the management requests.
type KeyRef struct {
	KeyID string `json:"keyId"`
}

// GetKeyRequest (SubjectKeysGet) is answered with KeyInfo.
type GetKeyRequest = KeyRef

// WhoamiRequest (SubjectKeysWhoami) looks a key up by its plaintext, without
// spending anything, and is answered with KeyInfo.
type WhoamiRequest struct {
	Key string `json:"key"`
}

// KeyInfo is everything stored about a key but its hash: the plaintext is
// never stored, so never returned after creation.
type KeyInfo struct {
	KeyID string `json:"keyId"`
	APIID string `json:"apiId"`
	// Start is the prefix and the first characters of the key, to tell keys
	// apart in a list.
	Start       string          `json:"start"`
	Name        string          `json:"name,omitempty"`
	ExternalID  string          `json:"externalId,omitempty"`
	Meta        json.RawMessage `json:"meta,omitempty"`
	Enabled     bool            `json:"enabled"`
	Expires     int64           `json:"expires,omitempty"`
	Credits     *Credits        `json:"credits,omitempty"`
	Ratelimits  []Ratelimit     `json:"ratelimits,omitempty"`
	Roles       []string        `json:"roles,omitempty"`
	Permissions []string        `json:"permissions,omitempty"`
	Identity    *Identity       `json:"identity,omitempty"`
	// CreatedAt, UpdatedAt and LastUsedAt are unix milliseconds.
	CreatedAt  int64 `json:"createdAt"`
	UpdatedAt  int64 `json:"updatedAt,omitempty"`
	LastUsedAt int64 `json:"lastUsedAt,omitempty"`
}

// UpdateKeyRequest (SubjectKeysUpdate) changes a key, answered with KeyInfo.
// Each optional field is raw JSON with Unkey's three meanings: absent keeps
// the value, null clears it, anything else replaces it with that value
// (decoded as the matching CreateKeyRequest field).
type UpdateKeyRequest struct {
	KeyID       string          `json:"keyId"`
	Name        json.RawMessage `json:"name,omitempty"`
	ExternalID  json.RawMessage `json:"externalId,omitempty"`
	Meta        json.RawMessage `json:"meta,omitempty"`
	Expires     json.RawMessage `json:"expires,omitempty"`
	Credits     json.RawMessage `json:"credits,omitempty"`
	Ratelimits  json.RawMessage `json:"ratelimits,omitempty"`
	Enabled     json.RawMessage `json:"enabled,omitempty"`
	Roles       json.RawMessage `json:"roles,omitempty"`
	Permissions json.RawMessage `json:"permissions,omitempty"`
}

// CreditsOperation is how UpdateCreditsRequest changes the balance.
type CreditsOperation string

// Credit operations.
const (
	CreditsSet       CreditsOperation = "set"
	CreditsIncrement CreditsOperation = "increment"
	CreditsDecrement CreditsOperation = "decrement"
)

// UpdateCreditsRequest (SubjectKeysUpdateCredits) changes a key's balance
// atomically, answered with UpdateCreditsResponse. Value nil with set makes
// the key unlimited. A decrement never takes the balance below zero.
type UpdateCreditsRequest struct {
	KeyID     string           `json:"keyId"`
	Operation CreditsOperation `json:"operation"`
	Value     *int64           `json:"value"`
}

// UpdateCreditsResponse is the balance after the change; nil = unlimited.
type UpdateCreditsResponse struct {
	Remaining *int64  `json:"remaining"`
	Refill    *Refill `json:"refill,omitempty"`
}

// DeleteKeyRequest (SubjectKeysDelete) revokes a key at once, answered with
// an empty object.
type DeleteKeyRequest = KeyRef

// RerollKeyRequest (SubjectKeysReroll) issues a new key with the same
// settings and answers with CreateKeyResponse. The old key keeps verifying
// for Expiration milliseconds (0 revokes it at once): key rotation.
type RerollKeyRequest struct {
	KeyID      string `json:"keyId"`
	Expiration int64  `json:"expiration"`
}

// ListKeysRequest (SubjectKeysList) pages through a key space, optionally
// one owner's keys, answered with ListKeysResponse.
type ListKeysRequest struct {
	APIID      string `json:"apiId"`
	ExternalID string `json:"externalId,omitempty"`
	// Cursor is the previous page's cursor; empty for the first page.
	Cursor string `json:"cursor,omitempty"`
	// Limit is the page size, 1-100; 0 means 100.
	Limit int `json:"limit,omitempty"`
}

// ListKeysResponse is one page. Cursor is empty on the last page.
type ListKeysResponse struct {
	Keys    []KeyInfo `json:"keys"`
	Cursor  string    `json:"cursor,omitempty"`
	HasMore bool      `json:"hasMore"`
}

// Empty is the answer of operations that return nothing.
type Empty struct{}
