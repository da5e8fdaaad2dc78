package ops

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// EnvNATSReplicas is the environment variable every service reads for the
// JetStream replicas of the streams and buckets it creates.
const EnvNATSReplicas = "OCR_NATS_REPLICAS"

// MaxReplicas is JetStream's largest replica count.
const MaxReplicas = 5

// ErrReplicas is wrapped by every error of ParseReplicas.
var ErrReplicas = errors.New("invalid replicas")

// ParseReplicas reads a value of EnvNATSReplicas: 1 when v is empty, else
// a whole number from 1 to MaxReplicas. Odd counts are the useful ones (a
// stream of R3 survives the loss of one server, R5 of two; R2 and R4 need
// as many servers up as R3 and R5 for their quorum), but even ones are
// JetStream's to allow.
func ParseReplicas(name, v string) (int, error) {
	if v == "" {
		return 1, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > MaxReplicas {
		return 1, fmt.Errorf("%w: %s %q: want a whole number from 1 to %d (3 for a 3-node cluster)", ErrReplicas, name, v, MaxReplicas)
	}
	return n, nil
}

// RedactURL returns raw, a NATS server URL or a comma-separated list of
// them as nats.Connect takes, with every password or token replaced by
// "xxxxx" and the user name kept, for error messages and logs. It never
// fails: a part it cannot read keeps only what follows its last '@' (the
// host), so a malformed value cannot carry a secret through either.
//
// nats.go splits a list on commas, so a password with a comma cannot work
// unless percent-encoded; one is still hidden here: a part with no "://"
// after the first is taken as the rest of the previous one.
func RedactURL(raw string) string {
	var parts []string
	for i, p := range strings.Split(raw, ",") {
		if i > 0 && !strings.Contains(p, "://") {
			parts[len(parts)-1] += "," + p
			continue
		}
		parts = append(parts, p)
	}
	for i, p := range parts {
		parts[i] = redactOne(p)
	}
	return strings.Join(parts, ",")
}

// redactOne hides the userinfo of one URL: everything between the scheme
// and the last '@'.
func redactOne(p string) string {
	at := strings.LastIndex(p, "@")
	if at < 0 {
		return p
	}
	scheme, userinfo := "", p[:at]
	if i := strings.Index(userinfo, "://"); i > 0 && isScheme(userinfo[:i]) {
		scheme, userinfo = userinfo[:i+3], userinfo[i+3:]
	}
	user, _, hasPassword := strings.Cut(userinfo, ":")
	if !hasPassword {
		// A lone token (nats://token@host) is a secret as a whole.
		return scheme + "xxxxx@" + p[at+1:]
	}
	return scheme + user + ":xxxxx@" + p[at+1:]
}

// isScheme reports whether s is a URL scheme (RFC 3986: a letter, then
// letters, digits, '+', '-' or '.'), so that a "://" inside a password is
// not mistaken for the end of one.
func isScheme(s string) bool {
	for i, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z':
		case i > 0 && (r >= '0' && r <= '9' || r == '+' || r == '-' || r == '.'):
		default:
			return false
		}
	}
	return s != ""
}
