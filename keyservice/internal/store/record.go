package store

import (
	"encoding/json"
	"fmt"

	"github.com/ocrstack/ocrstack/contracts"
)

// Record is a key as stored under h.<hash>. Unknown fields are ignored when
// decoding, so a replica of an older version reads what a newer one wrote.
//
// An old key rerolled with a grace period keeps a Record too, an alias:
// AliasOf names the hash of the key it now stands for, until AliasExpires.
// An alias carries no settings of its own.
type Record struct {
	KeyID string `json:"keyId"`
	APIID string `json:"apiId"`
	Hash  string `json:"hash"`
	Start string `json:"start"`
	// Prefix and ByteLength are what the key was generated with; a reroll
	// generates the new key alike.
	Prefix      string                `json:"prefix,omitempty"`
	ByteLength  int                   `json:"byteLength,omitempty"`
	Name        string                `json:"name,omitempty"`
	ExternalID  string                `json:"externalId,omitempty"`
	Meta        json.RawMessage       `json:"meta,omitempty"`
	Expires     int64                 `json:"expires,omitempty"`
	Enabled     bool                  `json:"enabled"`
	Ratelimits  []contracts.Ratelimit `json:"ratelimits,omitempty"`
	Roles       []string              `json:"roles,omitempty"`
	Permissions []string              `json:"permissions,omitempty"`
	// StateID names the key's budget inside its Doc; a rerolled key keeps
	// the old key's. Empty means KeyID.
	StateID string `json:"stateId,omitempty"`
	// IdentityID is the identity the key is linked to: its budget lives in
	// that identity's Doc.
	IdentityID string `json:"identityId,omitempty"`
	// Aliases are the old keys rerolled into this one, in their grace period.
	Aliases []Alias `json:"aliases,omitempty"`
	// AliasOf and AliasExpires (unix milliseconds) make this record an alias.
	AliasOf      string `json:"aliasOf,omitempty"`
	AliasExpires int64  `json:"aliasExpires,omitempty"`
	// CreatedAt and UpdatedAt are unix milliseconds.
	CreatedAt int64 `json:"createdAt"`
	UpdatedAt int64 `json:"updatedAt"`
}

// Alias names an old key that resolves to this one until Expires (unix ms).
type Alias struct {
	KeyID   string `json:"keyId"`
	Hash    string `json:"hash"`
	Expires int64  `json:"expires"`
}

// IsAlias reports whether r is an old key standing for another.
func (r Record) IsAlias() bool { return r.AliasOf != "" }

// State returns the id of the key's budget.
func (r Record) State() string {
	if r.StateID != "" {
		return r.StateID
	}
	return r.KeyID
}

// home is the state entry the key's budget belongs in.
func (r Record) home() string {
	if r.IdentityID != "" {
		return "i." + r.IdentityID
	}
	return "k." + r.State()
}

// Identity is an owner of keys as stored under i.<identityId>. Its credits
// live in its Doc, with the budgets of its keys.
type Identity struct {
	ID         string                `json:"id"`
	ExternalID string                `json:"externalId"`
	Meta       json.RawMessage       `json:"meta,omitempty"`
	Ratelimits []contracts.Ratelimit `json:"ratelimits,omitempty"`
	// CreatedAt and UpdatedAt are unix milliseconds.
	CreatedAt int64 `json:"createdAt"`
	UpdatedAt int64 `json:"updatedAt"`
}

// DecodeRecord parses a stored record and checks its invariants, so a
// damaged or foreign value is reported, never trusted.
func DecodeRecord(b []byte) (Record, error) {
	var r Record
	if err := json.Unmarshal(b, &r); err != nil {
		return Record{}, fmt.Errorf("%w: record: %v", ErrCorrupt, err)
	}
	if r.KeyID == "" || len(r.Hash) != 64 {
		return Record{}, fmt.Errorf("%w: record without key id or hash", ErrCorrupt)
	}
	if r.IsAlias() && (len(r.AliasOf) != 64 || r.AliasExpires <= 0) {
		return Record{}, fmt.Errorf("%w: alias %s without target or expiry", ErrCorrupt, r.KeyID)
	}
	if (r.StateID != "" && !ValidID(r.StateID)) || (r.IdentityID != "" && !ValidID(r.IdentityID)) {
		return Record{}, fmt.Errorf("%w: record %s with a malformed state or identity id", ErrCorrupt, r.KeyID)
	}
	if err := checkLimits(r.Ratelimits); err != nil {
		return Record{}, err
	}
	return r, nil
}

// DecodeIdentity parses a stored identity and checks its invariants.
func DecodeIdentity(b []byte) (Identity, error) {
	var id Identity
	if err := json.Unmarshal(b, &id); err != nil {
		return Identity{}, fmt.Errorf("%w: identity: %v", ErrCorrupt, err)
	}
	if !ValidID(id.ID) || id.ExternalID == "" {
		return Identity{}, fmt.Errorf("%w: identity without id or external id", ErrCorrupt)
	}
	if err := checkLimits(id.Ratelimits); err != nil {
		return Identity{}, err
	}
	return id, nil
}

func checkLimits(rls []contracts.Ratelimit) error {
	for _, rl := range rls {
		if rl.Limit < 1 || rl.Duration < 1 {
			return fmt.Errorf("%w: rate limit %q out of range", ErrCorrupt, rl.Name)
		}
	}
	return nil
}
