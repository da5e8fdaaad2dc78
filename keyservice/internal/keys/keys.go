// Package keys generates API keys and key ids and derives what is stored of
// them. Only the SHA-256 of the whole key and a short visible start are ever
// stored.
//
// A key is prefix_body (or just body without a prefix). The body is base58 of
// byteLength crypto/rand bytes followed by a 4-byte checksum: the first four
// bytes of SHA-256 over a domain tag, the prefix and the random bytes. A
// mistyped or truncated key therefore fails CheckSyntax without touching
// storage, except with probability 2^-32, and a prefix cannot be swapped.
// The checksum adds nothing to an attacker's odds: anyone can compute it, and
// the random bytes still carry byteLength*8 bits.
package keys

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
)

// Limits on generated keys, as in Unkey v2.
const (
	DefaultByteLength = 16
	MinByteLength     = 16
	MaxByteLength     = 255
	MaxPrefixLength   = 16
	// ChecksumLength is the number of checksum bytes after the random bytes.
	ChecksumLength = 4
	// MaxKeyLength bounds what verify accepts before hashing: 255 random
	// bytes and the checksum are at most 354 base58 characters, plus a
	// 16-character prefix and "_".
	MaxKeyLength = 400
	// startLength is how many characters of the body the visible start keeps.
	startLength = 4
)

// checksumTag separates this checksum from any other use of SHA-256.
const checksumTag = "ocrstack.key.v1\x00"

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
	if !ValidPrefix(prefix) {
		return "", fmt.Errorf("prefix %q: %w", prefix, ErrMalformed)
	}
	buf := make([]byte, byteLength)
	if _, err := rand.Read(buf); err != nil {
		return "", fmt.Errorf("read random bytes: %w", err)
	}
	return fromRandom(prefix, buf), nil
}

// fromRandom builds the key for the given prefix and random bytes.
func fromRandom(prefix string, random []byte) string {
	body := EncodeBase58(append(random[:len(random):len(random)], checksum(prefix, random)...))
	if prefix == "" {
		return body
	}
	return prefix + "_" + body
}

func checksum(prefix string, random []byte) []byte {
	h := sha256.New()
	h.Write([]byte(checksumTag))
	h.Write([]byte(prefix))
	h.Write([]byte{0})
	h.Write(random)
	return h.Sum(nil)[:ChecksumLength]
}

// CheckSyntax rejects a presented key that cannot be one we issued, before any
// storage is touched: wrong characters or length, a body that is not base58,
// too few or too many random bytes, or a checksum that does not match.
func CheckSyntax(key string) error {
	if key == "" || len(key) > MaxKeyLength {
		return ErrMalformed
	}
	prefix, body, found := strings.Cut(key, "_")
	if !found {
		prefix, body = "", key
	}
	if (found && prefix == "") || !ValidPrefix(prefix) {
		return ErrMalformed
	}
	raw, err := DecodeBase58(body)
	if err != nil {
		return ErrMalformed
	}
	n := len(raw) - ChecksumLength
	if n < MinByteLength || n > MaxByteLength {
		return ErrMalformed
	}
	if !bytes.Equal(raw[n:], checksum(prefix, raw[:n])) {
		return ErrMalformed
	}
	return nil
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
	n := 0
	if i := strings.LastIndexByte(key, '_'); i >= 0 {
		n = i + 1
	}
	return key[:min(n+startLength, len(key))]
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
