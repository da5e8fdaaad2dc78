package perm

import (
	"errors"
	"strings"
	"testing"
)

// TestParse checks that queries parse with AND binding tighter than OR,
// operators in any case, and that every malformed query is an ErrSyntax
// saying where it went wrong.
func TestParse(t *testing.T) {
	held := map[string]bool{"a": true, "b.read": true, "c:write": true}
	has := func(n string) bool { return held[n] }
	cases := []struct {
		name      string
		query     string
		wantErr   string
		wantAllow bool
		wantNames []string
	}{
		{"one held", "a", "", true, []string{"a"}},
		{"one missing", "x", "", false, []string{"x"}},
		{"and", "a AND b.read", "", true, []string{"a", "b.read"}},
		{"and missing", "a AND x", "", false, nil},
		{"or", "x OR c:write", "", true, nil},
		{"and binds tighter", "a OR x AND y", "", true, nil},
		{"and binds tighter, false", "x OR y AND a", "", false, nil},
		{"parentheses override", "(a OR x) AND y", "", false, nil},
		{"nested", "a AND (x OR (b.read AND c:write))", "", true, nil},
		{"lowercase operators", "a and b.read or x", "", true, nil},
		{"mixed case operators", "x Or a AnD b.read", "", true, nil},
		{"no spaces around parentheses", "(a)AND(b.read)", "", true, nil},
		{"tabs and newlines", "a\tAND\nb.read", "", true, nil},
		{"empty", "", "empty", false, nil},
		{"blank", "   ", "empty", false, nil},
		{"dangling and", "a AND", "expected a permission name or \"(\" at position 6", false, nil},
		{"leading or", "OR a", "at position 1", false, nil},
		{"two names", "a b", "unexpected name \"b\" at position 3", false, nil},
		{"unclosed", "(a OR b", "expected \")\" to close the \"(\" at position 1", false, nil},
		{"stray close", "a)", "unexpected \")\" at position 2", false, nil},
		{"empty parentheses", "()", "at position 2", false, nil},
		{"bad character", "a AND b*", "character '*' at position 8", false, nil},
		{"quote", `"a"`, "position 1", false, nil},
		{"too long", strings.Repeat("a", MaxQueryLength+1), "longer than 1000", false, nil},
		{"long name", strings.Repeat("a", MaxNameLength+1), "longer than 128", false, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			q, err := Parse(tc.query)
			if tc.wantErr != "" {
				if !errors.Is(err, ErrSyntax) || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("Parse(%q) error = %v, want ErrSyntax containing %q", tc.query, err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Parse(%q): %v", tc.query, err)
			}
			if got := q.Eval(has); got != tc.wantAllow {
				t.Errorf("Eval(%q) = %v, want %v", tc.query, got, tc.wantAllow)
			}
			if tc.wantNames != nil && strings.Join(q.Names(), ",") != strings.Join(tc.wantNames, ",") {
				t.Errorf("Names = %v, want %v", q.Names(), tc.wantNames)
			}
		})
	}
}

// TestParseDeepNesting checks that the most deeply nested query that fits
// the length limit parses, so no accepted query can exhaust the stack.
func TestParseDeepNesting(t *testing.T) {
	depth := (MaxQueryLength - 1) / 2
	q, err := Parse(strings.Repeat("(", depth) + "a" + strings.Repeat(")", depth))
	if err != nil {
		t.Fatal(err)
	}
	if !q.Eval(func(n string) bool { return n == "a" }) {
		t.Error("deeply nested a not satisfied by a")
	}
}

// TestValidName checks which strings may name a permission or role.
func TestValidName(t *testing.T) {
	cases := []struct {
		name string
		want bool
	}{
		{"documents.read", true}, {"api:v1/keys-admin_2", true}, {"", false}, {"AND", false},
		{"or", false}, {"a b", false}, {"a(b)", false}, {"é", false},
		{strings.Repeat("x", MaxNameLength), true}, {strings.Repeat("x", MaxNameLength+1), false},
	}
	for _, tc := range cases {
		if got := ValidName(tc.name); got != tc.want {
			t.Errorf("ValidName(%q) = %v, want %v", tc.name, got, tc.want)
		}
	}
}

// FuzzParsePermissions checks that Parse never panics, and that a query it
// accepts mentions only valid names and evaluates consistently: satisfied
// when every name is held, and not when none is.
func FuzzParsePermissions(f *testing.F) {
	for _, s := range []string{"a", "a AND (b OR c)", "((a))", "a or b and c", "(", ")", "AND", "a AND", strings.Repeat("(", 600)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		q, err := Parse(s)
		if err != nil {
			if !errors.Is(err, ErrSyntax) {
				t.Fatalf("error %v does not wrap ErrSyntax", err)
			}
			return
		}
		names := q.Names()
		if len(names) == 0 {
			t.Fatalf("accepted %q without a name", s)
		}
		for _, n := range names {
			if !ValidName(n) {
				t.Fatalf("accepted invalid name %q in %q", n, s)
			}
		}
		if !q.Eval(func(string) bool { return true }) || q.Eval(func(string) bool { return false }) {
			t.Fatalf("%q is not monotone", s)
		}
	})
}
