package accounts

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

var secret = []byte("0123456789abcdef0123456789abcdef")

// TestToken checks that a verification token names its owner until it
// expires, and that a changed owner, expiry or MAC, or another secret, is
// ErrBadToken.
func TestToken(t *testing.T) {
	now := time.Unix(1_767_225_600, 0)
	tok := signToken(secret, "ada@example.com", now.Add(time.Hour))
	owner, err := parseToken(secret, tok, now)
	require.NoError(t, err)
	require.Equal(t, "ada@example.com", owner)

	_, err = parseToken(secret, tok, now.Add(time.Hour+time.Second))
	require.ErrorIs(t, err, ErrBadToken, "expired")
	_, err = parseToken([]byte("another secret of thirty-two bytes"), tok, now)
	require.ErrorIs(t, err, ErrBadToken, "other secret")
	forged := signToken([]byte("x"), "eve@example.com", now.Add(time.Hour))
	p, _, _ := strings.Cut(forged, ".")
	_, m, _ := strings.Cut(tok, ".")
	_, err = parseToken(secret, p+"."+m, now)
	require.ErrorIs(t, err, ErrBadToken, "payload swapped")
	for _, bad := range []string{"", ".", "abc", tok + "x", "!!." + m} {
		_, err = parseToken(secret, bad, now)
		require.ErrorIs(t, err, ErrBadToken, bad)
	}
}

// FuzzParseToken checks that only a token this secret signed is accepted.
func FuzzParseToken(f *testing.F) {
	now := time.Unix(1_767_225_600, 0)
	f.Add(signToken(secret, "ada@example.com", now.Add(time.Hour)))
	f.Add("YWRh.YWRh")
	f.Add("")
	f.Fuzz(func(t *testing.T, tok string) {
		owner, err := parseToken(secret, tok, now)
		if err != nil {
			return
		}
		if signToken(secret, owner, time.Unix(0, 0)) == "" || owner == "" {
			t.Fatalf("accepted %q naming %q", tok, owner)
		}
		p, _, _ := strings.Cut(tok, ".")
		if !strings.Contains(tok, ".") || p == "" {
			t.Fatalf("accepted malformed %q", tok)
		}
	})
}

// TestNormalizeEmail checks which emails are accepted and the account id
// each maps to.
func TestNormalizeEmail(t *testing.T) {
	cases := []struct {
		in, want string
		wantErr  bool
	}{
		{"ada@example.com", "ada@example.com", false},
		{"  Ada@Example.COM ", "ada@example.com", false},
		{"Ada <ada@example.com>", "", true},
		{"not-an-email", "", true},
		{"", "", true},
		{strings.Repeat("a", 250) + "@b.co", "", true},
	}
	for _, tc := range cases {
		got, err := NormalizeEmail(tc.in)
		if tc.wantErr {
			require.ErrorIs(t, err, ErrInvalid, tc.in)
			continue
		}
		require.NoError(t, err, tc.in)
		require.Equal(t, tc.want, got)
	}
	_, err := CleanName("Ada\x00")
	require.ErrorIs(t, err, ErrInvalid)
	n, err := CleanName("  Ada Lovelace ")
	require.NoError(t, err)
	require.Equal(t, "Ada Lovelace", n)
}

// TestParseMeta checks that only an account's meta is taken for one, and
// what EmailUnverified says of each.
func TestParseMeta(t *testing.T) {
	cases := []struct {
		name           string
		meta           string
		wantErr        bool
		wantUnverified bool
	}{
		{"verified account", `{"email":"a@b.co","plan":"pro","emailVerified":true}`, false, false},
		{"unverified account", `{"email":"a@b.co","plan":"trial","emailVerified":false}`, false, true},
		{"identity from /v2", `{"tier":"gold"}`, true, false},
		{"not an object", `[1]`, true, false},
		{"empty", ``, true, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseMeta(json.RawMessage(tc.meta))
			require.Equal(t, tc.wantErr, err != nil, err)
			require.Equal(t, tc.wantUnverified, EmailUnverified(json.RawMessage(tc.meta)))
		})
	}
}

// FuzzParseMeta checks that decoding any identity meta never panics and
// that an accepted one has an email and a plan.
func FuzzParseMeta(f *testing.F) {
	f.Add(`{"email":"a@b.co","plan":"pro","emailVerified":true,"transactions":[{"id":"t","plan":"pro","at":1}]}`)
	f.Add(`{"email":1}`)
	f.Add(`null`)
	f.Fuzz(func(t *testing.T, s string) {
		m, err := ParseMeta(json.RawMessage(s))
		if err == nil && (m.Email == "" || m.Plan == "") {
			t.Fatalf("accepted %q", s)
		}
	})
}
