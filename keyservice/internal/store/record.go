package store

import (
	"encoding/json"
	"fmt"

	"github.com/ocrstack/ocrstack/contracts"
	"github.com/ocrstack/ocrstack/keyservice/internal/limits"
)

// Record is a key as stored. Unknown fields are ignored when decoding, so a
// replica of an older version reads what a newer one wrote.
type Record struct {
	KeyID      string                `json:"keyId"`
	APIID      string                `json:"apiId"`
	Hash       string                `json:"hash"`
	Start      string                `json:"start"`
	Name       string                `json:"name,omitempty"`
	ExternalID string                `json:"externalId,omitempty"`
	Meta       json.RawMessage       `json:"meta,omitempty"`
	Expires    int64                 `json:"expires,omitempty"`
	Enabled    bool                  `json:"enabled"`
	Ratelimits []contracts.Ratelimit `json:"ratelimits,omitempty"`
	// CreatedAt and UpdatedAt are unix milliseconds.
	CreatedAt int64 `json:"createdAt"`
	UpdatedAt int64 `json:"updatedAt"`
}

// Policy returns what the record says about whether the key may be used.
func (r Record) Policy() limits.Policy {
	return limits.Policy{Enabled: r.Enabled, Expires: r.Expires, Ratelimits: r.Ratelimits}
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
	for _, rl := range r.Ratelimits {
		if rl.Limit < 1 || rl.Duration < 1 {
			return Record{}, fmt.Errorf("%w: rate limit %q out of range", ErrCorrupt, rl.Name)
		}
	}
	return r, nil
}

// DecodeState parses a stored usage state.
func DecodeState(b []byte) (limits.State, error) {
	var st limits.State
	if err := json.Unmarshal(b, &st); err != nil {
		return limits.State{}, fmt.Errorf("%w: state: %v", ErrCorrupt, err)
	}
	if st.Credits != nil && *st.Credits < 0 {
		return limits.State{}, fmt.Errorf("%w: negative credits", ErrCorrupt)
	}
	return st, nil
}
