package config

import (
	"strings"
	"testing"
)

func TestSignupLimit(t *testing.T) {
	env := func(v string) func(string) string {
		return func(k string) string {
			if k == "OCR_SIGNUP_LIMIT" {
				return v
			}
			return ""
		}
	}
	for v, want := range map[string]int{"": 10, "0": 0, "25": 25} {
		c, err := Load(env(v))
		if err != nil || c.SignupLimit != want {
			t.Errorf("OCR_SIGNUP_LIMIT=%q: %d, %v; want %d", v, c.SignupLimit, err, want)
		}
	}
	for _, bad := range []string{"-1", "many"} {
		if _, err := Load(env(bad)); err == nil || !strings.Contains(err.Error(), "OCR_SIGNUP_LIMIT") {
			t.Errorf("OCR_SIGNUP_LIMIT=%q: %v", bad, err)
		}
	}
}
