package httpapi

import "testing"

func TestSFString(t *testing.T) {
	for in, want := range map[string]string{
		"requests":    `"requests"`,
		`say "hi" \o`: `"say \"hi\" \\o"`,
		"día\n":       `"da"`,
	} {
		if got := sfString(in); got != want {
			t.Errorf("sfString(%q) = %s, want %s", in, got, want)
		}
	}
}
