package e2e

import "testing"

func TestCER(t *testing.T) {
	cases := []struct {
		name, ref, got string
		want           float64
	}{
		{"equal after whitespace", "a  b\nc", "a b c", 0},
		{"one substitution", "abcd", "abxd", 0.25},
		{"insertion", "abc", "abxc", 1.0 / 3},
		{"all missing", "abcd", "", 1},
		{"empty reference", "", "", 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := CER(tc.ref, tc.got); got != tc.want {
				t.Errorf("CER = %v, want %v", got, tc.want)
			}
		})
	}
}
