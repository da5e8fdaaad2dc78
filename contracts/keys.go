package contracts

import "encoding/json"

// CreateKeyRequest asks keyservice (SubjectKeysCreate) for a new key. Field
// names and meanings follow Unkey v2's keys.createKey.
type CreateKeyRequest struct {
	// APIID is the key space the key belongs to.
	APIID string `json:"apiId"`
	// Prefix is put before the key body with an underscore; at most 16
	// characters of [a-zA-Z0-9].
	Prefix string `json:"prefix,omitempty"`
	// ByteLength is the number of random bytes in the key, 16 to 255; 0 means 16.
	ByteLength int `json:"byteLength,omitempty"`
	// Name is a human label for the key ("Production").
	Name string `json:"name,omitempty"`
	// ExternalID identifies the owner (the tutorial's ownerId, an email).
	ExternalID string `json:"externalId,omitempty"`
	// Meta is any JSON object, returned on every verification.
	Meta json.RawMessage `json:"meta,omitempty"`
	// Expires is when the key stops verifying, unix milliseconds; 0 = never.
	Expires int64 `json:"expires,omitempty"`
	// Credits, when set, limits the number of verifications in total.
	Credits *Credits `json:"credits,omitempty"`
	// Ratelimits are checked on every verification that names them, or
	// always when AutoApply is set.
	Ratelimits []Ratelimit `json:"ratelimits,omitempty"`
	// Enabled defaults to true.
	Enabled *bool `json:"enabled,omitempty"`
	// Roles are labels returned on verification.
	Roles []string `json:"roles,omitempty"`
	// Permissions are what a verification's permission query is checked
	// against ("documents.read"); at most 100 of at most 128 characters.
	Permissions []string `json:"permissions,omitempty"`
}

// Credits is a key's remaining usage budget.
type Credits struct {
	Remaining int64 `json:"remaining"`
	// Refill, when set, restores credits on a schedule.
	Refill *Refill `json:"refill,omitempty"`
}

// RefillInterval is how often credits are refilled.
type RefillInterval string

// Refill intervals.
const (
	RefillDaily   RefillInterval = "daily"
	RefillMonthly RefillInterval = "monthly"
)

// RefillMode is how a refill changes the balance.
type RefillMode string

// Refill modes. Replace is Unkey's behaviour; add carries unused credits over.
const (
	RefillReplace RefillMode = "replace"
	RefillAdd     RefillMode = "add"
)

// Refill restores credits at the start of every interval (UTC midnight; for
// monthly, on RefillDay, or the month's last day when shorter).
type Refill struct {
	Interval RefillInterval `json:"interval"`
	// Amount is the balance after a replace refill, or what an add refill adds.
	Amount int64 `json:"amount"`
	// RefillDay is the day of the month, 1-31, for monthly refills; 0 means 1.
	RefillDay int `json:"refillDay,omitempty"`
	// Mode is replace (default) or add.
	Mode RefillMode `json:"mode,omitempty"`
}

// Ratelimit is a named limit: at most Limit units of cost per Duration.
type Ratelimit struct {
	Name string `json:"name"`
	// Limit is the number of cost units allowed per window, at least 1.
	Limit int64 `json:"limit"`
	// Duration is the window in milliseconds, at least 1000.
	Duration  int64 `json:"duration"`
	AutoApply bool  `json:"autoApply"`
}

// CreateKeyResponse returns the key once; only its hash is stored.
type CreateKeyResponse struct {
	KeyID string `json:"keyId"`
	Key   string `json:"key"`
}

// VerifyKeyRequest asks keyservice (SubjectKeysVerify) whether a key may be
// used now, spending credits and rate-limit budget when it may.
type VerifyKeyRequest struct {
	// Key is the plaintext key as presented by the client. Never log it.
	Key string `json:"key"`
	// RequestID correlates the verification event with the caller's request.
	// It is only for tracing: it may come from an end user and repeat.
	RequestID string `json:"requestId,omitempty"`
	// IdempotencyKey, when set, makes a retry safe: a second verification of
	// the same key with the same IdempotencyKey within 10 minutes returns the
	// first outcome and spends nothing. Derive it from something an end user
	// cannot reuse for a different request (at most 256 characters).
	IdempotencyKey string `json:"idempotencyKey,omitempty"`
	// Credits.Cost is spent when every check passes; nil means a cost of 1.
	Credits *VerifyCredits `json:"credits,omitempty"`
	// Tags are recorded on the verification event.
	Tags []string `json:"tags,omitempty"`
	// Permissions is a query the key's permissions must satisfy:
	// "a.read", "a.read AND (b.write OR c.admin)"; at most 1000 characters.
	Permissions string `json:"permissions,omitempty"`
	// Ratelimits names the limits to check, beyond the auto-applied ones,
	// with their cost; a limit, duration pair checks an ad-hoc limit.
	Ratelimits []VerifyRatelimit `json:"ratelimits,omitempty"`
}

// VerifyRatelimit selects a limit for one verification.
type VerifyRatelimit struct {
	Name string `json:"name"`
	// Cost is charged against the limit; nil means 1, 0 only checks.
	Cost *int64 `json:"cost,omitempty"`
	// Limit and Duration (ms) override the stored limit for this call.
	Limit    *int64 `json:"limit,omitempty"`
	Duration *int64 `json:"duration,omitempty"`
}

// VerifyCredits sets the credits one verification spends.
type VerifyCredits struct {
	Cost int64 `json:"cost"`
}

// VerifyCode is the outcome of a verification, as in Unkey v2.
type VerifyCode string

// Verification outcomes. Append only.
const (
	VerifyValid                   VerifyCode = "VALID"
	VerifyNotFound                VerifyCode = "NOT_FOUND"
	VerifyForbidden               VerifyCode = "FORBIDDEN"
	VerifyInsufficientPermissions VerifyCode = "INSUFFICIENT_PERMISSIONS"
	VerifyUsageExceeded           VerifyCode = "USAGE_EXCEEDED"
	VerifyRateLimited             VerifyCode = "RATE_LIMITED"
	VerifyDisabled                VerifyCode = "DISABLED"
	VerifyExpired                 VerifyCode = "EXPIRED"
)

// VerifyKeyResponse is the outcome of a verification. An outcome is never an
// error reply: errors are reserved for malformed requests and outages.
type VerifyKeyResponse struct {
	Valid      bool            `json:"valid"`
	Code       VerifyCode      `json:"code"`
	KeyID      string          `json:"keyId,omitempty"`
	APIID      string          `json:"apiId,omitempty"`
	Name       string          `json:"name,omitempty"`
	ExternalID string          `json:"externalId,omitempty"`
	Meta       json.RawMessage `json:"meta,omitempty"`
	// Expires is unix milliseconds; 0 = never.
	Expires int64 `json:"expires,omitempty"`
	// Credits is what is left after this verification; nil = unlimited.
	Credits    *int64            `json:"credits,omitempty"`
	Enabled    bool              `json:"enabled"`
	Ratelimits []RatelimitResult `json:"ratelimits,omitempty"`
	// Identity is the key's owner record, when it has one.
	Identity    *Identity `json:"identity,omitempty"`
	Roles       []string  `json:"roles,omitempty"`
	Permissions []string  `json:"permissions,omitempty"`
}

// RatelimitResult is one limit's state after a verification.
type RatelimitResult struct {
	// ID identifies the limit: the key's or its identity's.
	ID        string `json:"id,omitempty"`
	Name      string `json:"name"`
	Limit     int64  `json:"limit"`
	Duration  int64  `json:"duration"`
	Remaining int64  `json:"remaining"`
	// Reset is when the current window ends, unix milliseconds.
	Reset     int64 `json:"reset"`
	Exceeded  bool  `json:"exceeded"`
	AutoApply bool  `json:"autoApply"`
}
