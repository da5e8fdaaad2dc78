package service

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/ocrstack/ocrstack/contracts"
	"github.com/ocrstack/ocrstack/keyservice/internal/keys"
	"github.com/ocrstack/ocrstack/keyservice/internal/limits"
	"github.com/ocrstack/ocrstack/keyservice/internal/perm"
	"github.com/ocrstack/ocrstack/keyservice/internal/store"
)

// Bounds on what a request may ask for.
const (
	maxNameLength     = 200
	maxExternalIDLen  = 256
	maxAPIIDLength    = 64
	maxMetaBytes      = 16 << 10
	maxRatelimits     = 16
	minLimitDuration  = 1000
	maxLimitDuration  = 366 * 24 * 3600 * 1000 // a leap year, in ms
	maxRatelimitName  = 64
	maxNames          = 100 // roles, permissions
	maxRequestBodyLen = 64 << 10
	maxPageSize       = 100
)

// problems collects every problem of a request, each naming the field and
// the fix, so one BAD_REQUEST reports them all.
type problems []error

func (p *problems) add(format string, a ...any) { *p = append(*p, fmt.Errorf(format, a...)) }

// err is nil without problems, else a BAD_REQUEST listing them.
func (p problems) err() error {
	if len(p) == 0 {
		return nil
	}
	return badRequest(errors.Join(p...))
}

// decodeStrict decodes a request body, refusing unknown fields and trailing
// data, so a misspelt field is an error and not a silently ignored option.
func decodeStrict(b []byte, v any) error {
	if len(b) > maxRequestBodyLen {
		return fmt.Errorf("request body over %d bytes", maxRequestBodyLen)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("invalid JSON: %v", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return errors.New("invalid JSON: data after the object")
	}
	return nil
}

// validateCreate reports every problem of a create request at once.
func validateCreate(r *contracts.CreateKeyRequest, nowMs int64) error {
	var p problems
	if r.APIID == "" || len(r.APIID) > maxAPIIDLength {
		p.add("apiId: required, at most %d characters", maxAPIIDLength)
	}
	if !keys.ValidPrefix(r.Prefix) {
		p.add("prefix: at most %d characters of a-z, A-Z, 0-9", keys.MaxPrefixLength)
	}
	if r.ByteLength != 0 && (r.ByteLength < keys.MinByteLength || r.ByteLength > keys.MaxByteLength) {
		p.add("byteLength: must be between %d and %d", keys.MinByteLength, keys.MaxByteLength)
	}
	if len(r.Name) > maxNameLength {
		p.add("name: at most %d characters", maxNameLength)
	}
	if len(r.ExternalID) > maxExternalIDLen {
		p.add("externalId: at most %d characters", maxExternalIDLen)
	}
	p.meta("meta", r.Meta)
	if r.Expires < 0 || (r.Expires > 0 && r.Expires <= nowMs) {
		p.add("expires: must be a unix time in milliseconds in the future")
	}
	p.credits("credits", r.Credits)
	p.ratelimits("ratelimits", r.Ratelimits)
	p.names("roles", r.Roles)
	p.names("permissions", r.Permissions)
	return p.err()
}

func (p *problems) meta(field string, m json.RawMessage) {
	if len(m) == 0 {
		return
	}
	if len(m) > maxMetaBytes {
		p.add("%s: at most %d bytes of JSON", field, maxMetaBytes)
	} else if t := bytes.TrimSpace(m); len(t) == 0 || t[0] != '{' {
		p.add("%s: must be a JSON object", field)
	}
}

func (p *problems) credits(field string, c *contracts.Credits) {
	if c == nil {
		return
	}
	if c.Remaining < 0 || c.Remaining > limits.MaxCredits {
		p.add("%s.remaining: must be between 0 and %d", field, limits.MaxCredits)
	}
	if r := c.Refill; r != nil {
		switch r.Interval {
		case contracts.RefillDaily:
			if r.RefillDay != 0 {
				p.add("%s.refill.refillDay: only for a monthly refill; leave it out for daily", field)
			}
		case contracts.RefillMonthly:
			if r.RefillDay < 0 || r.RefillDay > 31 {
				p.add("%s.refill.refillDay: must be a day of the month, 1 to 31", field)
			}
		default:
			p.add("%s.refill.interval: must be daily or monthly", field)
		}
		if r.Amount < 1 || r.Amount > limits.MaxCredits {
			p.add("%s.refill.amount: must be between 1 and %d", field, limits.MaxCredits)
		}
		if r.Mode != "" && r.Mode != contracts.RefillReplace && r.Mode != contracts.RefillAdd {
			p.add("%s.refill.mode: must be replace or add", field)
		}
	}
}

func (p *problems) ratelimits(field string, rls []contracts.Ratelimit) {
	if len(rls) > maxRatelimits {
		p.add("%s: at most %d", field, maxRatelimits)
	}
	seen := map[string]bool{}
	for i, rl := range rls {
		if rl.Name == "" || len(rl.Name) > maxRatelimitName {
			p.add("%s[%d].name: required, at most %d characters", field, i, maxRatelimitName)
		}
		if seen[rl.Name] {
			p.add("%s[%d].name: %q is used twice", field, i, rl.Name)
		}
		seen[rl.Name] = true
		if rl.Limit < 1 {
			p.add("%s[%d].limit: must be at least 1", field, i)
		}
		if rl.Duration < minLimitDuration || rl.Duration > maxLimitDuration {
			p.add("%s[%d].duration: must be between %d and %d milliseconds", field, i, minLimitDuration, maxLimitDuration)
		}
	}
}

func (p *problems) names(field string, names []string) {
	if len(names) > maxNames {
		p.add("%s: at most %d", field, maxNames)
	}
	for i, n := range names {
		if !perm.ValidName(n) {
			p.add("%s[%d]: 1 to %d characters of A-Z a-z 0-9 . _ - : /, and not AND or OR", field, i, perm.MaxNameLength)
		}
	}
}

func (p *problems) id(field, id string) {
	if !store.ValidID(id) {
		p.add("%s: required, 1 to 64 characters of A-Z a-z 0-9 _", field)
	}
}

// page checks a list request's cursor and size and returns the page size.
func (p *problems) page(cursor string, limit int) int {
	if cursor != "" && !store.ValidID(cursor) {
		p.add("cursor: must be the cursor of the previous page")
	}
	if limit < 0 || limit > maxPageSize {
		p.add("limit: must be between 1 and %d (0 means %d)", maxPageSize, maxPageSize)
	}
	if limit == 0 {
		return maxPageSize
	}
	return limit
}
