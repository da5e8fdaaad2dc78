package service

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/ocrstack/ocrstack/contracts"
	"github.com/ocrstack/ocrstack/keyservice/internal/keys"
)

// Bounds on what a create request may ask for.
const (
	maxNameLength     = 200
	maxExternalIDLen  = 256
	maxAPIIDLength    = 64
	maxMetaBytes      = 16 << 10
	maxRatelimits     = 16
	minLimitDuration  = 1000
	maxRatelimitName  = 64
	maxRequestBodyLen = 64 << 10
)

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

// validateCreate reports every problem of a create request at once, each
// naming the field and the fix.
func validateCreate(r *contracts.CreateKeyRequest, nowMs int64) error {
	var errs []error
	bad := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }
	if r.APIID == "" || len(r.APIID) > maxAPIIDLength {
		bad("apiId: required, at most %d characters", maxAPIIDLength)
	}
	if !keys.ValidPrefix(r.Prefix) {
		bad("prefix: at most %d characters of a-z, A-Z, 0-9", keys.MaxPrefixLength)
	}
	if r.ByteLength != 0 && (r.ByteLength < keys.MinByteLength || r.ByteLength > keys.MaxByteLength) {
		bad("byteLength: must be between %d and %d", keys.MinByteLength, keys.MaxByteLength)
	}
	if len(r.Name) > maxNameLength {
		bad("name: at most %d characters", maxNameLength)
	}
	if len(r.ExternalID) > maxExternalIDLen {
		bad("externalId: at most %d characters", maxExternalIDLen)
	}
	if len(r.Meta) > 0 {
		if len(r.Meta) > maxMetaBytes {
			bad("meta: at most %d bytes of JSON", maxMetaBytes)
		} else if t := bytes.TrimSpace(r.Meta); len(t) == 0 || t[0] != '{' {
			bad("meta: must be a JSON object")
		}
	}
	if r.Expires < 0 || (r.Expires > 0 && r.Expires <= nowMs) {
		bad("expires: must be a unix time in milliseconds in the future")
	}
	if r.Credits != nil && r.Credits.Remaining < 0 {
		bad("credits.remaining: must not be negative")
	}
	if len(r.Ratelimits) > maxRatelimits {
		bad("ratelimits: at most %d", maxRatelimits)
	}
	seen := map[string]bool{}
	for i, rl := range r.Ratelimits {
		if rl.Name == "" || len(rl.Name) > maxRatelimitName {
			bad("ratelimits[%d].name: required, at most %d characters", i, maxRatelimitName)
		}
		if seen[rl.Name] {
			bad("ratelimits[%d].name: %q is used twice", i, rl.Name)
		}
		seen[rl.Name] = true
		if rl.Limit < 1 {
			bad("ratelimits[%d].limit: must be at least 1", i)
		}
		if rl.Duration < minLimitDuration {
			bad("ratelimits[%d].duration: must be at least %d milliseconds", i, minLimitDuration)
		}
	}
	return errors.Join(errs...)
}
