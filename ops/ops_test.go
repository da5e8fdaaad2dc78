package ops

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"
)

// start runs an ops server on a free port for the test.
func start(t *testing.T, cfg Config) *Server {
	t.Helper()
	cfg.Addr = "127.0.0.1:0"
	s, err := Start(cfg)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, s.Shutdown(context.Background())) })
	return s
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, string(b)
}

// TestServerRoutes checks that the server answers /livez, serves the
// registry it was given (and only it) on /metrics, and refuses other paths
// and methods.
func TestServerRoutes(t *testing.T) {
	reg := NewRegistry()
	c := prometheus.NewCounter(prometheus.CounterOpts{Name: "ocr_test_things_total", Help: "Things."})
	reg.MustRegister(c)
	c.Add(3)
	s := start(t, Config{Registry: reg})
	base := "http://" + s.Addr()

	code, body := get(t, base+"/livez")
	require.Equal(t, http.StatusOK, code)
	require.JSONEq(t, `{"status":"ok"}`, body)

	code, body = get(t, base+"/metrics")
	require.Equal(t, http.StatusOK, code)
	require.Contains(t, body, "ocr_test_things_total 3")
	require.Contains(t, body, "go_goroutines", "the Go collector is registered")
	require.Contains(t, body, "process_cpu_seconds_total", "the process collector is registered")

	code, _ = get(t, base+"/nope")
	require.Equal(t, http.StatusNotFound, code)
	resp, err := http.Post(base+"/livez", "text/plain", nil)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusMethodNotAllowed, resp.StatusCode)
}

// TestPrivateRegistry checks that a metric registered on the global
// registry never shows on a service's /metrics, and that two registries
// hold the same metric name without a clash (two services in one test
// process).
func TestPrivateRegistry(t *testing.T) {
	global := prometheus.NewCounter(prometheus.CounterOpts{Name: "ocr_test_global_total", Help: "Global."})
	require.NoError(t, prometheus.DefaultRegisterer.Register(global))
	t.Cleanup(func() { prometheus.DefaultRegisterer.Unregister(global) })
	for range 2 {
		reg := NewRegistry()
		reg.MustRegister(prometheus.NewCounter(prometheus.CounterOpts{Name: "ocr_test_same_total", Help: "Same."}))
		s := start(t, Config{Registry: reg})
		_, body := get(t, "http://"+s.Addr()+"/metrics")
		require.Contains(t, body, "ocr_test_same_total 0")
		require.NotContains(t, body, "ocr_test_global_total")
	}
}

// TestReadiness checks /readyz: 200 with every check when all pass, 503
// naming the failing dependency when one fails, and a check that hangs is
// cut at ReadyTimeout.
func TestReadiness(t *testing.T) {
	tests := []struct {
		name       string
		ready      ReadyFunc
		wantCode   int
		wantChecks map[string]string
	}{
		{name: "no check", wantCode: http.StatusOK},
		{
			name:       "all ready",
			ready:      func(context.Context) map[string]error { return map[string]error{"nats": nil, "clickhouse": nil} },
			wantCode:   http.StatusOK,
			wantChecks: map[string]string{"nats": "ok", "clickhouse": "ok"},
		},
		{
			name: "one down",
			ready: func(context.Context) map[string]error {
				return map[string]error{"nats": nil, "clickhouse": errors.New("connection refused")}
			},
			wantCode:   http.StatusServiceUnavailable,
			wantChecks: map[string]string{"nats": "ok", "clickhouse": "connection refused"},
		},
		{
			name: "check past its deadline",
			ready: func(ctx context.Context) map[string]error {
				<-ctx.Done()
				return map[string]error{"nats": ctx.Err()}
			},
			wantCode:   http.StatusServiceUnavailable,
			wantChecks: map[string]string{"nats": context.DeadlineExceeded.Error()},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := start(t, Config{Ready: tt.ready, ReadyTimeout: 50 * time.Millisecond})
			code, body := get(t, "http://"+s.Addr()+"/readyz")
			require.Equal(t, tt.wantCode, code, body)
			var got status
			require.NoError(t, json.Unmarshal([]byte(body), &got))
			require.Equal(t, tt.wantChecks, got.Checks)
			require.Equal(t, map[bool]string{true: "ok", false: "unavailable"}[tt.wantCode == http.StatusOK], got.Status)
		})
	}
}

// TestDisabledServer checks that an empty address starts nothing and that
// the nil server it returns is safe to use.
func TestDisabledServer(t *testing.T) {
	s, err := Start(Config{})
	require.NoError(t, err)
	require.Nil(t, s)
	require.Empty(t, s.Addr())
	require.NoError(t, s.Shutdown(context.Background()))
}

// TestStartBusyPort checks that a port in use is an error at start-up, not
// a server that silently never serves.
func TestStartBusyPort(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	_, err = Start(Config{Addr: ln.Addr().String()})
	require.ErrorContains(t, err, "listen on "+ln.Addr().String())
}

// TestParseAddr checks OCR_OPS_ADDR's values: unset takes the default,
// "off" disables, anything else must be host:port.
func TestParseAddr(t *testing.T) {
	tests := []struct {
		in, want, wantErr string
	}{
		{in: "", want: DefaultIngressAddr},
		{in: "off", want: ""},
		{in: "0.0.0.0:9104", want: "0.0.0.0:9104"},
		{in: "127.0.0.1:0", want: "127.0.0.1:0"},
		{in: ":9101", want: ":9101"},
		{in: "[::]:9101", want: "[::]:9101"},
		{in: "9101", wantErr: "want host:port"},
		{in: "localhost:http", wantErr: "port must be 0 to 65535"},
		{in: "localhost:70000", wantErr: "port must be 0 to 65535"},
		{in: "OFF", wantErr: "want host:port"},
	}
	for _, tt := range tests {
		got, err := ParseAddr(tt.in, DefaultIngressAddr)
		if tt.wantErr != "" {
			require.ErrorIs(t, err, ErrAddr, tt.in)
			require.ErrorContains(t, err, tt.wantErr, tt.in)
			continue
		}
		require.NoError(t, err, tt.in)
		require.Equal(t, tt.want, got, tt.in)
	}
}

// TestDialable checks that a wildcard listen address is probed on loopback.
func TestDialable(t *testing.T) {
	for in, want := range map[string]string{
		"0.0.0.0:9101":   "127.0.0.1:9101",
		":9101":          "127.0.0.1:9101",
		"[::]:9101":      "[::1]:9101",
		"10.0.0.7:9101":  "10.0.0.7:9101",
		"localhost:9101": "localhost:9101",
	} {
		require.Equal(t, want, dialable(in), in)
	}
}

// TestRunHealthcheck checks the healthcheck subcommand's exit codes: 0 for
// a live server (also through a wildcard address), 1 with a reason for
// nothing listening, a non-200 answer, a bad address and a disabled server.
func TestRunHealthcheck(t *testing.T) {
	live := start(t, Config{})
	_, port, _ := net.SplitHostPort(live.Addr())
	sick := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusInternalServerError)
	})}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	go func() { _ = sick.Serve(ln) }()
	t.Cleanup(func() { _ = sick.Close() })
	closed, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	closedAddr := closed.Addr().String()
	closed.Close()

	tests := []struct {
		name, env, def string
		wantCode       int
		wantStderr     string
	}{
		{name: "live", env: live.Addr(), wantCode: 0},
		{name: "live by default", def: live.Addr(), wantCode: 0},
		{name: "wildcard address", env: "0.0.0.0:" + port, wantCode: 0},
		{name: "nothing listening", env: closedAddr, wantCode: 1, wantStderr: "connection refused"},
		{name: "not 200", env: ln.Addr().String(), wantCode: 1, wantStderr: "500 Internal Server Error"},
		{name: "bad address", env: "nowhere", wantCode: 1, wantStderr: "want host:port"},
		{name: "disabled", env: "off", wantCode: 1, wantStderr: "disables the ops server"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stderr strings.Builder
			getenv := func(k string) string {
				if k == EnvAddr {
					return tt.env
				}
				return ""
			}
			require.Equal(t, tt.wantCode, RunHealthcheck(getenv, tt.def, &stderr), stderr.String())
			if tt.wantStderr == "" {
				require.Empty(t, stderr.String())
			} else {
				require.Contains(t, stderr.String(), tt.wantStderr)
			}
		})
	}
}

// TestPollGauge checks that a polled gauge takes each value read, keeps the
// last one through a failed read, and stops reading with its context.
func TestPollGauge(t *testing.T) {
	g := prometheus.NewGauge(prometheus.GaugeOpts{Name: "ocr_test_lag_messages", Help: "Lag."})
	type result struct {
		v   float64
		err error
	}
	asked, answers := make(chan struct{}), make(chan result)
	ctx, cancel := context.WithCancel(context.Background())
	PollGauge(ctx, g, time.Millisecond, func(rctx context.Context) (float64, error) {
		select {
		case asked <- struct{}{}:
		case <-rctx.Done():
			return 0, rctx.Err()
		}
		r := <-answers
		return r.v, r.err
	})
	// Each answer is applied by the time the poller asks again.
	for _, step := range []struct {
		answer result
		want   float64
	}{
		{result{v: 7}, 7},
		{result{err: errors.New("nats away")}, 7},
		{result{v: 2}, 2},
	} {
		<-asked
		answers <- step.answer
		<-asked
		require.Equal(t, step.want, testutil.ToFloat64(g))
		answers <- result{v: step.want}
	}
	cancel()
	select {
	case <-asked:
		t.Fatal("the poller read after its context ended")
	case <-time.After(100 * time.Millisecond):
	}
}

// FuzzParseAddr checks that any OCR_OPS_ADDR value is refused with ErrAddr
// or gives an address net.Listen accepts the form of.
func FuzzParseAddr(f *testing.F) {
	for _, s := range []string{"", "off", "127.0.0.1:9101", ":0", "[::]:9101", "9101", "host:-1", "a:b:c"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		addr, err := ParseAddr(v, DefaultWorkerAddr)
		if err != nil {
			require.ErrorIs(t, err, ErrAddr)
			return
		}
		if addr == "" {
			require.Equal(t, Off, v)
			return
		}
		_, _, err = net.SplitHostPort(addr)
		require.NoError(t, err)
	})
}
