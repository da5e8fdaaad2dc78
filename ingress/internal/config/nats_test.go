package config

import (
	"strings"
	"testing"
)

// TestNATSReplicas checks OCR_NATS_REPLICAS: 1 by default, 1 to 5.
func TestNATSReplicas(t *testing.T) {
	env := func(v string) func(string) string {
		return func(k string) string {
			if k == "OCR_NATS_REPLICAS" {
				return v
			}
			return ""
		}
	}
	for v, want := range map[string]int{"": 1, "1": 1, "3": 3, "5": 5} {
		c, err := Load(env(v))
		if err != nil || c.Replicas != want {
			t.Errorf("OCR_NATS_REPLICAS=%q: %d, %v; want %d", v, c.Replicas, err, want)
		}
	}
	for _, bad := range []string{"0", "6", "three"} {
		if _, err := Load(env(bad)); err == nil || !strings.Contains(err.Error(), "OCR_NATS_REPLICAS") {
			t.Errorf("OCR_NATS_REPLICAS=%q: %v", bad, err)
		}
	}
}

// TestURLsRedacted checks that refused URLs are reported without the
// password they carry: OCR_NATS_URL, and the webhook and public URLs.
func TestURLsRedacted(t *testing.T) {
	cases := []struct {
		name, value, want string
	}{
		{"OCR_NATS_URL", "http://ingress:s3cret-pw@nats:4222", "ingress:xxxxx@nats:4222"},
		{"OCR_NATS_URL", "ingress:s3cret-pw@nats:4222", "ingress:xxxxx@nats:4222"},
		{"OCR_NOTICE_WEBHOOK_URL", "ftp://hook:s3cret-pw@example.com/x", "hook:xxxxx@example.com"},
		{"OCR_PUBLIC_URL", "ftp://u:s3cret-pw@example.com", "u:xxxxx@example.com"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Load(func(k string) string {
				if k == tc.name {
					return tc.value
				}
				return ""
			})
			if err == nil || !strings.Contains(err.Error(), tc.name) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("want %s refused, redacted to %s: %v", tc.name, tc.want, err)
			}
			if strings.Contains(err.Error(), "s3cret-pw") {
				t.Fatalf("the password is in the error: %v", err)
			}
		})
	}
}

// FuzzLoadNATS checks that Load never panics on any OCR_NATS_URL and
// OCR_NATS_REPLICAS, and that a password in a refused URL never reaches
// the error.
func FuzzLoadNATS(f *testing.F) {
	f.Add("http", "s3cret", "3")
	f.Add("nats", "pw", "")
	f.Add("", "a@b", "x")
	f.Fuzz(func(t *testing.T, scheme, password, replicas string) {
		load := func(password string) error {
			_, err := Load(func(k string) string {
				switch k {
				case "OCR_NATS_URL":
					return scheme + "://ingress:" + password + "@nats:4222"
				case "OCR_NATS_REPLICAS":
					return replicas
				}
				return ""
			})
			return err
		}
		err := load(password)
		if err == nil || strings.Contains(password, ",") {
			return
		}
		// What the error says with a placeholder password, it may say anyway.
		if ref := load("\x00"); ref != nil && strings.Contains(ref.Error(), password) {
			return
		}
		if strings.Contains(err.Error(), password) {
			t.Fatalf("the password %q is in the error: %v", password, err)
		}
	})
}
