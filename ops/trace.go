package ops

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
)

// HeaderTraceparent is the W3C trace context header, under the same name
// in HTTP and in NATS message headers.
const HeaderTraceparent = "traceparent"

// maxTraceparent bounds what ParseTraceparent reads: a future version may
// append fields, but nothing legitimate comes near this.
const maxTraceparent = 512

// ErrTraceparent is wrapped by every error of ParseTraceparent. A receiver
// that gets one starts a new trace, as the W3C recommendation says; it never
// refuses the request.
var ErrTraceparent = errors.New("invalid traceparent")

// TraceContext is a parsed traceparent: lowercase hex strings of 32, 16 and
// 2 characters.
type TraceContext struct {
	TraceID  string
	ParentID string
	Flags    string
}

// ParseTraceparent reads a traceparent header value (W3C Trace Context,
// level 1): version-traceid-parentid-flags. Version 00 must be exactly 55
// characters; a later version may append "-..." fields, which are dropped;
// version ff, upper-case hex and all-zero ids are invalid.
func ParseTraceparent(s string) (TraceContext, error) {
	bad := func(why string) (TraceContext, error) {
		return TraceContext{}, fmt.Errorf("%w: %s", ErrTraceparent, why)
	}
	switch {
	case len(s) > maxTraceparent:
		return bad(fmt.Sprintf("longer than %d characters", maxTraceparent))
	case len(s) < 55:
		return bad("want version-traceid-parentid-flags, 55 characters")
	case s[2] != '-' || s[35] != '-' || s[52] != '-':
		return bad("fields must be separated by '-'")
	case !lowerHex(s[0:2]) || s[0:2] == "ff":
		return bad("version must be 2 lowercase hex digits, not ff")
	case s[0:2] == "00" && len(s) != 55:
		return bad("version 00 is exactly 55 characters")
	case len(s) > 55 && s[55] != '-':
		return bad("fields after flags must be separated by '-'")
	}
	tc := TraceContext{TraceID: s[3:35], ParentID: s[36:52], Flags: s[53:55]}
	switch {
	case !lowerHex(tc.TraceID) || allZero(tc.TraceID):
		return bad("trace-id must be 32 lowercase hex digits, not all zero")
	case !lowerHex(tc.ParentID) || allZero(tc.ParentID):
		return bad("parent-id must be 16 lowercase hex digits, not all zero")
	case !lowerHex(tc.Flags):
		return bad("trace-flags must be 2 lowercase hex digits")
	}
	return tc, nil
}

// NewTrace starts a trace: a random trace id and parent id, not sampled
// (nothing here records spans).
func NewTrace() TraceContext {
	return TraceContext{TraceID: randomHex(16), ParentID: randomHex(8), Flags: "00"}
}

// Child is the context a hop passes on: the same trace and flags, with a
// parent id of its own.
func (t TraceContext) Child() TraceContext {
	t.ParentID = randomHex(8)
	return t
}

// String renders t as a version 00 traceparent.
func (t TraceContext) String() string {
	return "00-" + t.TraceID + "-" + t.ParentID + "-" + t.Flags
}

// TraceID returns the trace id of a traceparent value, or "" when it is
// missing or invalid: what services log as trace_id.
func TraceID(traceparent string) string {
	if traceparent == "" {
		return ""
	}
	tc, err := ParseTraceparent(traceparent)
	if err != nil {
		return ""
	}
	return tc.TraceID
}

type traceparentKey struct{}

// WithTraceparent returns a context whose outgoing NATS messages carry the
// traceparent tp (when not empty).
func WithTraceparent(ctx context.Context, tp string) context.Context {
	if tp == "" {
		return ctx
	}
	return context.WithValue(ctx, traceparentKey{}, tp)
}

// TraceparentFrom returns the traceparent WithTraceparent put in ctx, or "".
func TraceparentFrom(ctx context.Context) string {
	tp, _ := ctx.Value(traceparentKey{}).(string)
	return tp
}

func lowerHex(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

func allZero(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] != '0' {
			return false
		}
	}
	return true
}

// randomHex returns n random bytes in hex; never all zero.
func randomHex(n int) string {
	b := make([]byte, n)
	for {
		_, _ = rand.Read(b)
		if s := hex.EncodeToString(b); !allZero(s) {
			return s
		}
	}
}
