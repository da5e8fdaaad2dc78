package ops

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"
)

// HealthcheckCommand is the first argument that makes a service binary
// probe itself instead of serving: `ingress healthcheck`.
const HealthcheckCommand = "healthcheck"

// HealthcheckTimeout bounds RunHealthcheck's request.
const HealthcheckTimeout = 3 * time.Second

// ErrUnhealthy is wrapped by Healthcheck's errors.
var ErrUnhealthy = errors.New("unhealthy")

// Healthcheck GETs /livez of the ops server listening on addr (a listen
// address: an unspecified host such as 0.0.0.0 is reached on loopback) and
// returns nil when it answers 200.
func Healthcheck(ctx context.Context, addr string) error {
	url := "http://" + dialable(addr) + "/livez"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return fmt.Errorf("%w: %s: %w", ErrUnhealthy, url, err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrUnhealthy, err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4096))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%w: %s answered %s", ErrUnhealthy, url, resp.Status)
	}
	return nil
}

// RunHealthcheck is the healthcheck subcommand: it reads EnvAddr through
// getenv (def when unset), probes it, and returns the exit code, 0 when the
// service is live and 1 otherwise, after saying why on stderr. Docker's
// HEALTHCHECK in a distroless image runs it as ["/ingress", "healthcheck"].
func RunHealthcheck(getenv func(string) string, def string, stderr io.Writer) int {
	addr, err := ParseAddr(getenv(EnvAddr), def)
	if err == nil && addr == "" {
		err = fmt.Errorf("%w: %s=%s disables the ops server, so there is nothing to probe", ErrUnhealthy, EnvAddr, Off)
	}
	if err == nil {
		ctx, cancel := context.WithTimeout(context.Background(), HealthcheckTimeout)
		defer cancel()
		err = Healthcheck(ctx, addr)
	}
	if err != nil {
		fmt.Fprintln(stderr, "healthcheck:", err)
		return 1
	}
	return 0
}
