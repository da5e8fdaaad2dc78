package config

import (
	"strings"
	"testing"
)

func TestLoad(t *testing.T) {
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	c, err := Load(env(nil))
	if err != nil || c.Replicas != 1 || c.KeysReplicas != 1 || c.NATSURL != "nats://127.0.0.1:4222" {
		t.Fatalf("defaults: %+v %v", c, err)
	}
	for _, tc := range []struct {
		env                        map[string]string
		wantReplicas, wantKeysRepl int
	}{
		{map[string]string{"OCR_NATS_REPLICAS": "3"}, 3, 3},
		{map[string]string{"OCR_KEYS_REPLICAS": "3"}, 1, 3},
		{map[string]string{"OCR_NATS_REPLICAS": "3", "OCR_KEYS_REPLICAS": "5"}, 3, 5},
	} {
		c, err := Load(env(tc.env))
		if err != nil || c.Replicas != tc.wantReplicas || c.KeysReplicas != tc.wantKeysRepl {
			t.Errorf("%v: %+v %v", tc.env, c, err)
		}
	}
	for _, name := range []string{"OCR_NATS_REPLICAS", "OCR_KEYS_REPLICAS"} {
		for _, bad := range []string{"0", "6", "three"} {
			_, err := Load(env(map[string]string{name: bad}))
			if err == nil || !strings.Contains(err.Error(), name) {
				t.Errorf("%s=%s: %v", name, bad, err)
			}
		}
	}
	if c.OpsAddr != "127.0.0.1:9101" {
		t.Errorf("default OCR_OPS_ADDR: %q", c.OpsAddr)
	}
	if c, err := Load(env(map[string]string{"OCR_OPS_ADDR": "off"})); err != nil || c.OpsAddr != "" {
		t.Errorf("OCR_OPS_ADDR=off: %+v %v", c, err)
	}
	_, err = Load(env(map[string]string{"OCR_LOG_LEVEL": "loud", "OCR_SHUTDOWN_TIMEOUT": "soon", "OCR_OPS_ADDR": "9101"}))
	if err == nil || !strings.Contains(err.Error(), "OCR_LOG_LEVEL") || !strings.Contains(err.Error(), "OCR_SHUTDOWN_TIMEOUT") ||
		!strings.Contains(err.Error(), "OCR_OPS_ADDR") {
		t.Errorf("every problem at once: %v", err)
	}
}

// TestNATSURLRedacted checks that a refused OCR_NATS_URL is reported
// without its password.
func TestNATSURLRedacted(t *testing.T) {
	_, err := Load(func(k string) string {
		if k == "OCR_NATS_URL" {
			return "http://keyservice:s3cret-pw@nats:4222"
		}
		return ""
	})
	if err == nil || !strings.Contains(err.Error(), "OCR_NATS_URL") || !strings.Contains(err.Error(), "keyservice:xxxxx@nats:4222") {
		t.Fatalf("want OCR_NATS_URL refused, redacted: %v", err)
	}
	if strings.Contains(err.Error(), "s3cret-pw") {
		t.Fatalf("the password is in the error: %v", err)
	}
}

// FuzzLoad checks that Load never panics on any OCR_NATS_URL and
// OCR_NATS_REPLICAS, and that a password in a refused URL never reaches
// the error.
func FuzzLoad(f *testing.F) {
	f.Add("http", "s3cret", "3")
	f.Add("nats", "pw", "")
	f.Add("", "a@b", "x")
	f.Fuzz(func(t *testing.T, scheme, password, replicas string) {
		load := func(password string) error {
			_, err := Load(func(k string) string {
				switch k {
				case "OCR_NATS_URL":
					return scheme + "://keyservice:" + password + "@nats:4222"
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
