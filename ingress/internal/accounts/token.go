package accounts

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"strconv"
	"strings"
	"time"
)

// contractsCallBudget bounds the calls that clean up after a failure.
const contractsCallBudget = 5 * time.Second

// tokenPurpose separates these MACs from any other use of the secret.
const tokenPurpose = "ocrstack/verify-email/v1"

// signToken returns a verification token for owner valid until exp:
// base64url("<owner>\n<exp unix s>") "." base64url(HMAC-SHA256).
func signToken(secret []byte, owner string, exp time.Time) string {
	payload := owner + "\n" + strconv.FormatInt(exp.Unix(), 10)
	return base64.RawURLEncoding.EncodeToString([]byte(payload)) + "." + base64.RawURLEncoding.EncodeToString(tokenMAC(secret, payload))
}

// parseToken checks a token's MAC (in constant time) and expiry and
// returns the owner it names; any fault is ErrBadToken.
func parseToken(secret []byte, token string, now time.Time) (string, error) {
	if len(token) > 1024 {
		return "", ErrBadToken
	}
	p64, m64, ok := strings.Cut(token, ".")
	if !ok {
		return "", ErrBadToken
	}
	payload, err1 := base64.RawURLEncoding.DecodeString(p64)
	mac, err2 := base64.RawURLEncoding.DecodeString(m64)
	if err1 != nil || err2 != nil || !hmac.Equal(mac, tokenMAC(secret, string(payload))) {
		return "", ErrBadToken
	}
	owner, exp, ok := strings.Cut(string(payload), "\n")
	sec, err := strconv.ParseInt(exp, 10, 64)
	if !ok || err != nil || owner == "" || now.Unix() > sec {
		return "", ErrBadToken
	}
	return owner, nil
}

func tokenMAC(secret []byte, payload string) []byte {
	h := hmac.New(sha256.New, secret)
	h.Write([]byte(tokenPurpose + "\n" + payload))
	return h.Sum(nil)
}

// DeriveSecret derives the verification-link secret from the root key,
// for a deployment that sets no secret of its own: every replica with the
// same root key derives the same one, and a link never reveals the key.
func DeriveSecret(rootKey string) []byte {
	h := hmac.New(sha256.New, []byte(rootKey))
	h.Write([]byte(tokenPurpose))
	return h.Sum(nil)
}
