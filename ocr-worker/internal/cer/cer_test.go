package cer

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// TestRate checks the scoring rules of the evaluation corpus: NFC, collapsed
// whitespace, case and punctuation counted, distance over reference length.
func TestRate(t *testing.T) {
	cases := []struct {
		name       string
		hyp, ref   string
		wantRate   float64
		wantNormal string
	}{
		{"identical", "hello world", "hello world", 0, "hello world"},
		{"whitespace runs", "hello \n\n world\n", "hello world", 0, "hello world"},
		{"one substitution", "hellO world", "hello world", 1.0 / 11, "hello world"},
		{"one deletion", "hello world", "hello, world", 1.0 / 12, "hello, world"},
		{"nfc", "nin\u0303o", "ni\u00f1o", 0, "ni\u00f1o"},
		{"empty hypothesis", "", "abcd", 1, "abcd"},
		{"empty both", "", "", 0, ""},
		{"empty reference", "x", "", 1, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			require.InDelta(t, tc.wantRate, Rate(tc.hyp, tc.ref), 1e-9)
			require.Equal(t, tc.wantNormal, Normalize(tc.ref))
		})
	}
}

// TestDistance checks the Levenshtein distance on classic pairs.
func TestDistance(t *testing.T) {
	cases := []struct {
		a, b string
		want int
	}{
		{"kitten", "sitting", 3},
		{"", "abc", 3},
		{"abc", "", 3},
		{"flaw", "lawn", 2},
		{"ñandú", "nandu", 2},
	}
	for _, tc := range cases {
		t.Run(tc.a+"/"+tc.b, func(t *testing.T) {
			require.Equal(t, tc.want, Distance([]rune(tc.a), []rune(tc.b)))
			require.Equal(t, tc.want, Distance([]rune(tc.b), []rune(tc.a)))
		})
	}
}
