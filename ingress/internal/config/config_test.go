package config

import (
	"slices"
	"strings"
	"testing"
	"time"
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

// TestCallbackSettings checks OCR_CALLBACK_SECRET's minimum length and
// OCR_CALLBACK_ALLOW_PRIVATE's values.
func TestCallbackSettings(t *testing.T) {
	cases := []struct {
		name, secret, allow string
		wantErr             string
		wantAllow           bool
	}{
		{"none", "", "", "", false},
		{"secret", strings.Repeat("s", 32), "", "", false},
		{"short secret", "short", "", "OCR_CALLBACK_SECRET", false},
		{"allow private", strings.Repeat("s", 32), "true", "", true},
		{"bad allow", "", "yes", "OCR_CALLBACK_ALLOW_PRIVATE", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Load(func(k string) string {
				return map[string]string{"OCR_CALLBACK_SECRET": tc.secret, "OCR_CALLBACK_ALLOW_PRIVATE": tc.allow}[k]
			})
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err %v, want one naming %s", err, tc.wantErr)
				}
				return
			}
			if err != nil || c.CallbackSecret != tc.secret || c.CallbackAllowPrivate != tc.wantAllow {
				t.Fatalf("got %q %v, %v", c.CallbackSecret, c.CallbackAllowPrivate, err)
			}
		})
	}
}

// TestAdmissionLimits checks the defaults and bounds of the overload
// settings.
func TestAdmissionLimits(t *testing.T) {
	for _, tc := range []struct {
		name                                string
		env                                 map[string]string
		wantInFlight, wantQueued, wantConns int
		wantErr                             string
	}{
		{name: "defaults", wantInFlight: 16, wantQueued: 1000, wantConns: 256},
		{name: "set", env: map[string]string{"OCR_MAX_IN_FLIGHT": "8", "OCR_MAX_QUEUED": "0", "OCR_MAX_CONNS": "0"}, wantInFlight: 8},
		{name: "no in-flight", env: map[string]string{"OCR_MAX_IN_FLIGHT": "0"}, wantErr: "OCR_MAX_IN_FLIGHT 0"},
		{name: "negative queue", env: map[string]string{"OCR_MAX_QUEUED": "-1"}, wantErr: "OCR_MAX_QUEUED -1"},
		{name: "negative conns", env: map[string]string{"OCR_MAX_CONNS": "-1"}, wantErr: "OCR_MAX_CONNS -1"},
		{name: "not a number", env: map[string]string{"OCR_MAX_CONNS": "many"}, wantErr: "OCR_MAX_CONNS"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Load(func(k string) string { return tc.env[k] })
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v; want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.MaxInFlight != tc.wantInFlight || c.MaxQueued != tc.wantQueued || c.MaxConns != tc.wantConns {
				t.Errorf("got %d, %d, %d; want %d, %d, %d", c.MaxInFlight, c.MaxQueued, c.MaxConns, tc.wantInFlight, tc.wantQueued, tc.wantConns)
			}
		})
	}
}

func TestTrustedProxies(t *testing.T) {
	env := map[string]string{"OCR_TRUSTED_PROXIES": " 10.0.0.0/8, 192.168.1.5 ,,::1"}
	c, err := Load(func(k string) string { return env[k] })
	if err != nil || !slices.Equal(c.TrustedProxies, []string{"10.0.0.0/8", "192.168.1.5", "::1"}) {
		t.Fatalf("Load = %v, %v", c.TrustedProxies, err)
	}
	env["OCR_TRUSTED_PROXIES"] = "10.0.0.0/8,proxy.internal"
	if _, err := Load(func(k string) string { return env[k] }); err == nil || !strings.Contains(err.Error(), `OCR_TRUSTED_PROXIES "proxy.internal"`) {
		t.Fatalf("Load with a host name: %v", err)
	}
}

// TestOpsAddr checks OCR_OPS_ADDR: the ingress's default port, "off" for
// none, and a value that is not host:port refused.
func TestOpsAddr(t *testing.T) {
	for v, want := range map[string]string{"": "127.0.0.1:9104", "off": "", "0.0.0.0:9104": "0.0.0.0:9104"} {
		c, err := Load(func(k string) string { return map[string]string{"OCR_OPS_ADDR": v}[k] })
		if err != nil || c.OpsAddr != want {
			t.Errorf("OCR_OPS_ADDR=%q: %q, %v; want %q", v, c.OpsAddr, err, want)
		}
	}
	if _, err := Load(func(k string) string { return map[string]string{"OCR_OPS_ADDR": "9104"}[k] }); err == nil || !strings.Contains(err.Error(), "OCR_OPS_ADDR") {
		t.Errorf("OCR_OPS_ADDR=9104: %v; want an error naming it", err)
	}
}

// TestExpiry checks the defaults and bounds of the expired-job sweep: the
// margin and interval must leave the refund inside keyservice's window.
func TestExpiry(t *testing.T) {
	for _, tc := range []struct {
		name                   string
		margin, interval       string
		wantMargin, wantPeriod time.Duration
		wantErr                string
	}{
		{name: "defaults", wantMargin: 15 * time.Minute, wantPeriod: time.Minute},
		{name: "set", margin: "0s", interval: "5s", wantPeriod: 5 * time.Second},
		{name: "negative margin", margin: "-1m", wantErr: "OCR_EXPIRY_MARGIN -1m0s"},
		{name: "interval too short", interval: "10ms", wantErr: "OCR_EXPIRY_INTERVAL 10ms"},
		{name: "past the refund window", margin: "59m", interval: "1m", wantErr: "together under 1h0m0s"},
		{name: "not a duration", margin: "soon", wantErr: "OCR_EXPIRY_MARGIN"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Load(func(k string) string {
				return map[string]string{"OCR_EXPIRY_MARGIN": tc.margin, "OCR_EXPIRY_INTERVAL": tc.interval}[k]
			})
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v; want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil || c.ExpiryMargin != tc.wantMargin || c.ExpiryInterval != tc.wantPeriod {
				t.Fatalf("got %s, %s, %v; want %s, %s", c.ExpiryMargin, c.ExpiryInterval, err, tc.wantMargin, tc.wantPeriod)
			}
		})
	}
}
