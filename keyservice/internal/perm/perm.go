// Package perm parses and evaluates permission queries, Unkey v2's syntax:
// permission names joined by AND and OR, with parentheses. AND binds tighter
// than OR ("a OR b AND c" is "a OR (b AND c)"), operators are
// case-insensitive, and a query is at most MaxQueryLength characters.
//
//	query := or
//	or    := and { OR and }
//	and   := term { AND term }
//	term  := NAME | "(" or ")"
//
// A name is a run of the characters ValidName allows. Parsing never
// recurses deeper than the query is long, so no input can exhaust the stack.
package perm

import (
	"errors"
	"fmt"
	"strings"
)

// Limits on queries and names.
const (
	// MaxQueryLength is the longest query accepted, in bytes.
	MaxQueryLength = 1000
	// MaxNameLength is the longest permission or role name, in bytes.
	MaxNameLength = 128
)

// ErrSyntax is wrapped by every parse error.
var ErrSyntax = errors.New("malformed permission query")

// Query is a parsed permission query.
type Query struct{ root node }

// Eval reports whether a holder of the permissions `has` reports satisfies q.
func (q Query) Eval(has func(name string) bool) bool { return q.root.eval(has) }

// Names returns every name the query mentions, in order of appearance.
func (q Query) Names() []string {
	var out []string
	q.root.walk(func(n string) { out = append(out, n) })
	return out
}

// ValidName reports whether s may name a permission or role: 1 to
// MaxNameLength characters of [A-Za-z0-9._:/-], and not an operator.
func ValidName(s string) bool {
	if s == "" || len(s) > MaxNameLength || strings.EqualFold(s, "and") || strings.EqualFold(s, "or") {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !nameChar(s[i]) {
			return false
		}
	}
	return true
}

func nameChar(c byte) bool {
	return ('a' <= c && c <= 'z') || ('A' <= c && c <= 'Z') || ('0' <= c && c <= '9') ||
		c == '.' || c == '_' || c == '-' || c == ':' || c == '/'
}

// Parse parses a query. Errors wrap ErrSyntax and say where and what was
// expected, as a 1-based character position.
func Parse(s string) (Query, error) {
	if len(s) > MaxQueryLength {
		return Query{}, fmt.Errorf("%w: longer than %d characters", ErrSyntax, MaxQueryLength)
	}
	toks, err := lex(s)
	if err != nil {
		return Query{}, err
	}
	if len(toks) == 0 {
		return Query{}, fmt.Errorf("%w: empty; give a permission name such as documents.read", ErrSyntax)
	}
	p := &parser{toks: toks}
	root, err := p.or()
	if err != nil {
		return Query{}, err
	}
	if t := p.peek(); t.kind != tokEOF {
		return Query{}, fmt.Errorf("%w: unexpected %s at position %d; join names with AND or OR", ErrSyntax, t, t.pos)
	}
	return Query{root: root}, nil
}
