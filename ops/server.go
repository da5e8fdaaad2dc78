package ops

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"slices"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// DefaultReadyTimeout bounds one readiness check.
const DefaultReadyTimeout = 2 * time.Second

// ReadyFunc reports each dependency's state by name; a nil error means
// usable. It must return within the context's deadline.
type ReadyFunc func(ctx context.Context) map[string]error

// Config is an ops server's configuration.
type Config struct {
	// Addr is host:port to listen on; port 0 picks a free one. Empty means
	// no server (Start returns a nil *Server, whose methods do nothing).
	Addr string
	// Registry is served on /metrics. Nil serves an empty registry.
	Registry *prometheus.Registry
	// Ready is asked on every /readyz; nil means always ready.
	Ready ReadyFunc
	// ReadyTimeout bounds Ready; 0 means DefaultReadyTimeout.
	ReadyTimeout time.Duration
	// Logger reports a server that stops serving; nil discards.
	Logger *slog.Logger
}

// Server is a running ops server.
type Server struct {
	srv  *http.Server
	addr string
	done chan struct{}
}

// Handler returns the ops routes: /metrics, /livez and /readyz.
func Handler(cfg Config) http.Handler {
	reg := cfg.Registry
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	timeout := cmp.Or(cfg.ReadyTimeout, DefaultReadyTimeout)
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
	mux.HandleFunc("GET /livez", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, status{Status: "ok"})
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), timeout)
		defer cancel()
		code, body := readiness(ctx, cfg.Ready)
		writeJSON(w, code, body)
	})
	return mux
}

// status is the body of /livez and /readyz.
type status struct {
	Status string            `json:"status"`
	Checks map[string]string `json:"checks,omitempty"`
}

// readiness runs ready and tells the status code and body of /readyz.
func readiness(ctx context.Context, ready ReadyFunc) (int, status) {
	if ready == nil {
		return http.StatusOK, status{Status: "ok"}
	}
	res := ready(ctx)
	body := status{Status: "ok", Checks: make(map[string]string, len(res))}
	code := http.StatusOK
	for _, name := range slices.Sorted(maps.Keys(res)) {
		body.Checks[name] = "ok"
		if err := res[name]; err != nil {
			body.Checks[name] = err.Error()
			body.Status, code = "unavailable", http.StatusServiceUnavailable
		}
	}
	return code, body
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

// Start listens on cfg.Addr and serves Handler(cfg) in the background until
// Shutdown. With an empty Addr it returns nil, nil: a nil *Server is a
// disabled one.
func Start(cfg Config) (*Server, error) {
	if cfg.Addr == "" {
		return nil, nil
	}
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("ops server: listen on %s: %w", cfg.Addr, err)
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	s := &Server{
		srv: &http.Server{
			Handler:           Handler(cfg),
			ReadHeaderTimeout: 5 * time.Second,
			ReadTimeout:       10 * time.Second,
			WriteTimeout:      30 * time.Second,
			IdleTimeout:       time.Minute,
		},
		addr: ln.Addr().String(),
		done: make(chan struct{}),
	}
	go func() {
		defer close(s.done)
		if err := s.srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			log.Error("ops server stopped", "addr", s.addr, "err", err)
		}
	}()
	return s, nil
}

// Addr is the address the server listens on (with the port picked, when
// port 0 was asked for), or "" for a disabled server.
func (s *Server) Addr() string {
	if s == nil {
		return ""
	}
	return s.addr
}

// Shutdown stops the server, waiting for requests in flight until ctx ends.
// Services call it last, after NATS is drained, so metrics stay scrapable
// through a graceful shutdown.
func (s *Server) Shutdown(ctx context.Context) error {
	if s == nil {
		return nil
	}
	err := s.srv.Shutdown(ctx)
	<-s.done
	return err
}

// Connection is what NATSCheck needs of a NATS connection; *nats.Conn has
// it.
type Connection interface{ IsConnected() bool }

// ErrNotConnected is NATSCheck's failure.
var ErrNotConnected = errors.New("not connected")

// NATSCheck is the readiness check of a NATS connection: nil while it is
// connected, ErrNotConnected while it is reconnecting or closed.
func NATSCheck(nc Connection) error {
	if !nc.IsConnected() {
		return ErrNotConnected
	}
	return nil
}

// ShutdownTimeout bounds Stop.
const ShutdownTimeout = 5 * time.Second

// Stop is Shutdown with ShutdownTimeout, logging a failure: what a
// service defers right after Start.
func (s *Server) Stop(log *slog.Logger) {
	ctx, cancel := context.WithTimeout(context.Background(), ShutdownTimeout)
	defer cancel()
	if err := s.Shutdown(ctx); err != nil && log != nil {
		log.Warn("ops server shutdown", "err", err)
	}
}
