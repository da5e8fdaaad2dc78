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
				OpsAddr: "127.0.0.1:9102", Replicas: 1, Nice: DefaultNice},
		},
		{
			name: "overrides",
			env: map[string]string{EnvNATSURL: "nats://a:4222, tls://b:4222", EnvConcurrency: " 3 ", EnvLanguages: "fra+eng",
				"OCR_OPS_ADDR": "off", EnvReplicas: "3", EnvNice: " 0 "},
			want: Config{NATSURL: "nats://a:4222, tls://b:4222", Concurrency: 3, Languages: []string{"fra", "eng"}, Installed: installed, Replicas: 3},
		},
		{
			name: "all wrong at once",
			env: map[string]string{EnvNATSURL: "http://x", EnvConcurrency: "two", EnvLanguages: "eng+klingon+eng",
				"OCR_OPS_ADDR": "9102", EnvNice: "low"},
			wantErrs: []string{
				`OCR_WORKER_NICE: "low" is not an integer`,
				`OCR_OPS_ADDR "9102": want host:port or "off"`,
				`OCR_NATS_URL "http://x": entry 1 has a scheme other than nats, tls, ws or wss`,
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
			name:     "nice above 19",
			env:      map[string]string{EnvNice: "20"},
			wantErrs: []string{"OCR_WORKER_NICE: 20 is not between 0 and 19"},
		},
		{
			name:     "negative nice",
			env:      map[string]string{EnvNice: "-5"},
			wantErrs: []string{"OCR_WORKER_NICE: -5 is not between 0 and 19"},
		},
		{
			name:     "no host",
			env:      map[string]string{EnvNATSURL: "nats://"},
			wantErrs: []string{`"nats://": entry 1 has no host`},
		},
		{
			name:     "replicas out of range",
			env:      map[string]string{EnvReplicas: "7"},
			wantErrs: []string{`OCR_NATS_REPLICAS "7": want a whole number from 1 to 5`},
		},
		{
			name:       "a refused URL is shown without its password",
			env:        map[string]string{EnvNATSURL: "nats://w:4222,http://ocr-worker:s3cret-pw@nats:4222"},
			wantErrs:   []string{`OCR_NATS_URL "nats://w:4222,http://ocr-worker:xxxxx@nats:4222": entry 2 has a scheme other than`},
			wantNoErrs: []string{"s3cret-pw"},
		},
		{
			name:       "a comma in the password does not split it out",
			env:        map[string]string{EnvNATSURL: "nats://ocr-worker:s3cret,pw@nats:4222"},
			wantErrs:   []string{`OCR_NATS_URL "nats://ocr-worker:xxxxx@nats:4222": entry 1 is not a URL`},
			wantNoErrs: []string{"s3cret"},
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
				case EnvNATSURL:
					return scheme + "://ocr-worker:" + password + "@nats:4222"
				case EnvReplicas:
					return replicas
				}
				return ""
			}, []string{"eng", "spa"})
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

// FuzzLoadNice checks that any OCR_WORKER_NICE is either refused with an
// error naming the variable or taken as a value from 0 to MaxNice.
func FuzzLoadNice(f *testing.F) {
	for _, seed := range []string{"10", "0", "19", "20", "-1", " 7 ", "ten", "1e1", "99999999999999999999"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, v string) {
		c, err := Load(func(k string) string {
			if k == EnvNice {
				return v
			}
			return ""
		}, []string{"eng", "spa"})
		if err != nil {
			if !strings.Contains(err.Error(), EnvNice) {
				t.Fatalf("%q: error does not name %s: %v", v, EnvNice, err)
			}
			return
		}
		if c.Nice < 0 || c.Nice > MaxNice {
			t.Fatalf("%q: accepted %d", v, c.Nice)
		}
	})
}
