// Package keys generates API keys and key ids and derives what is stored of
// them. A key is prefix_body, where body is base58 of crypto/rand bytes; only
// the SHA-256 of the whole key and a short visible start are ever stored.
package keys

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
)

// Limits on generated keys, as in Unkey v2.
const (
	DefaultByteLength = 16
	MinByteLength     = 16
	MaxByteLength     = 255
	MaxPrefixLength   = 16
	// MaxKeyLength bounds what verify accepts before hashing: a 255-byte body
	// is at most 349 base58 characters, plus a 16-character prefix and "_".
	MaxKeyLength = 400
	// startLength is how many characters of the body the visible start keeps.
	startLength = 4
)

// ErrMalformed reports a presented key that cannot be one we issued.
var ErrMalformed = errors.New("malformed key")

// New returns a fresh key with the given prefix and byteLength random bytes.
func New(prefix string, byteLength int) (string, error) {
	if byteLength == 0 {
		byteLength = DefaultByteLength
	}
	if byteLength < MinByteLength || byteLength > MaxByteLength {
		return "", fmt.Errorf("byteLength %d not in %d..%d", byteLength, MinByteLength, MaxByteLength)
	}
	buf := make([]byte, byteLength)
	if _, err := rand.Read(buf); err != nil {
		return "", fmt.Errorf("read random bytes: %w", err)
	}
	body := EncodeBase58(buf)
	if prefix == "" {
		return body, nil
	}
	return prefix + "_" + body, nil
}

// NewID returns a random identifier with the given prefix ("key", "evt").
func NewID(prefix string) string {
	buf := make([]byte, 12)
	if _, err := rand.Read(buf); err != nil {
		panic("crypto/rand failed: " + err.Error()) // never happens on Linux
	}
	return prefix + "_" + EncodeBase58(buf)
}

// Hash returns the hex SHA-256 of the whole key: the only form stored.
func Hash(key string) string {
	sum := sha256.Sum256([]byte(key))
	return hex.EncodeToString(sum[:])
}

// Start returns the visible start of a key: its prefix and the first
// characters of its body, enough to tell keys apart in a list.
func Start(key string) string {
	n := len(key)
	for i := 0; i < len(key); i++ {
		if key[i] == '_' {
			n = i + 1
		}
	}
	end := min(n+startLength, len(key))
	return key[:end]
}

// CheckSyntax rejects a presented key that cannot be one we issued, before any
// storage is touched.
func CheckSyntax(key string) error {
	if key == "" || len(key) > MaxKeyLength {
		return ErrMalformed
	}
	for i := 0; i < len(key); i++ {
		c := key[i]
		if !(c == '_' || ('0' <= c && c <= '9') || ('a' <= c && c <= 'z') || ('A' <= c && c <= 'Z')) {
			return ErrMalformed
		}
	}
	return nil
}

// HashEqual compares two hex hashes in constant time.
func HashEqual(a, b string) bool {
	return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}

// ValidPrefix reports whether p may prefix a key: at most MaxPrefixLength
// characters of [a-zA-Z0-9].
func ValidPrefix(p string) bool {
	if len(p) > MaxPrefixLength {
		return false
	}
	for i := 0; i < len(p); i++ {
		c := p[i]
		if !(('0' <= c && c <= '9') || ('a' <= c && c <= 'z') || ('A' <= c && c <= 'Z')) {
			return false
		}
	}
	return true
}
