package config

import (
	"log/slog"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestLoad checks defaults, overrides, and that every invalid variable is
// reported in one error.
func TestLoad(t *testing.T) {
	installed := []string{"eng", "fra", "spa"}
	cases := []struct {
		name       string
		env        map[string]string
		want       Config
		wantErrs   []string
		wantNoErrs []string
	}{
		{
			name: "defaults",
			env:  nil,
			want: Config{NATSURL: DefaultNATSURL, Concurrency: runtime.NumCPU(), Languages: []string{"eng", "spa"}, Installed: installed,
				OpsAddr: "127.0.0.1:9102"},
		},
		{
			name: "overrides",
			env: map[string]string{EnvNATSURL: "nats://a:4222, tls://b:4222", EnvConcurrency: " 3 ", EnvLanguages: "fra+eng",
				"OCR_OPS_ADDR": "off"},
			want: Config{NATSURL: "nats://a:4222, tls://b:4222", Concurrency: 3, Languages: []string{"fra", "eng"}, Installed: installed},
		},
		{
			name: "all wrong at once",
			env: map[string]string{EnvNATSURL: "http://x", EnvConcurrency: "two", EnvLanguages: "eng+klingon+eng",
				"OCR_OPS_ADDR": "9102"},
			wantErrs: []string{
				`OCR_OPS_ADDR "9102": want host:port or "off"`,
				`OCR_NATS_URL: "http://x": scheme must be`,
				`OCR_WORKER_CONCURRENCY: "two" is not an integer`,
				`OCR_WORKER_LANGUAGES: "klingon" is not installed (installed: eng, fra, spa)`,
				`OCR_WORKER_LANGUAGES: "eng" is listed twice`,
			},
			wantNoErrs: []string{"is not between"},
		},
		{
			name:     "concurrency out of range",
			env:      map[string]string{EnvConcurrency: "0"},
			wantErrs: []string{"OCR_WORKER_CONCURRENCY: 0 is not between 1 and 64"},
		},
		{
			name:     "no host",
			env:      map[string]string{EnvNATSURL: "nats://"},
			wantErrs: []string{`"nats://" has no host`},
		},
		{
			name:     "only separators",
			env:      map[string]string{EnvLanguages: "+ +"},
			wantErrs: []string{"OCR_WORKER_LANGUAGES: no language given"},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Load(func(k string) string { return tc.env[k] }, installed)
			if len(tc.wantErrs) == 0 {
				require.NoError(t, err)
				want := tc.want
				want.AckWait, want.LogLevel, want.JobDeadline = DefaultAckWait, slog.LevelInfo, DefaultJobDeadline // see TestAckWaitAndLogLevel
				require.Equal(t, want, got)
				return
			}
			require.Error(t, err)
			for _, want := range tc.wantErrs {
				require.ErrorContains(t, err, want)
			}
			for _, notWant := range tc.wantNoErrs {
				require.NotContains(t, err.Error(), notWant)
			}
		})
	}
}

func TestAckWaitAndLogLevel(t *testing.T) {
	installed := []string{"eng", "spa"}
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	c, err := Load(env(nil), installed)
	if err != nil || c.AckWait != DefaultAckWait || c.LogLevel != slog.LevelInfo {
		t.Fatalf("defaults: %+v %v", c, err)
	}
	c, err = Load(env(map[string]string{EnvAckWait: "3s", EnvLogLevel: "debug"}), installed)
	if err != nil || c.AckWait != 3*time.Second || c.LogLevel != slog.LevelDebug {
		t.Fatalf("set: %+v %v", c, err)
	}
	_, err = Load(env(map[string]string{EnvAckWait: "10ms", EnvLogLevel: "chatty"}), installed)
	if err == nil || !strings.Contains(err.Error(), EnvAckWait) || !strings.Contains(err.Error(), EnvLogLevel) {
		t.Fatalf("bad values, every problem at once: %v", err)
	}
	_, err = Load(env(map[string]string{EnvAckWait: "soon"}), installed)
	if err == nil || !strings.Contains(err.Error(), EnvAckWait) {
		t.Fatalf("unparsable: %v", err)
	}
}

func TestJobDeadline(t *testing.T) {
	env := func(v string) func(string) string {
		return func(k string) string {
			if k == EnvJobDeadline {
				return v
			}
			return ""
		}
	}
	c, err := Load(env(""), []string{"eng", "spa"})
	if err != nil || c.JobDeadline != DefaultJobDeadline {
		t.Fatalf("default: %v %v", c.JobDeadline, err)
	}
	c, err = Load(env("90s"), []string{"eng", "spa"})
	if err != nil || c.JobDeadline != 90*time.Second {
		t.Fatalf("90s: %v %v", c.JobDeadline, err)
	}
	for _, bad := range []string{"0s", "-1m", "soon"} {
		if _, err := Load(env(bad), []string{"eng", "spa"}); err == nil || !strings.Contains(err.Error(), EnvJobDeadline) {
			t.Errorf("%s: %v", bad, err)
		}
	}
}
