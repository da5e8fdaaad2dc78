package ops

import (
	"errors"
	"fmt"
	"net"
	"strconv"
)

// EnvAddr is the environment variable naming the ops server's address.
const EnvAddr = "OCR_OPS_ADDR"

// Off is the value of EnvAddr that disables the ops server.
const Off = "off"

// Default addresses of each service's ops server: one port each, so the
// four services run side by side on one host with their defaults.
const (
	DefaultKeyServiceAddr = "127.0.0.1:9101"
	DefaultWorkerAddr     = "127.0.0.1:9102"
	DefaultAnalyticsAddr  = "127.0.0.1:9103"
	DefaultIngressAddr    = "127.0.0.1:9104"
)

// ErrAddr is wrapped by every error of ParseAddr.
var ErrAddr = errors.New("invalid ops address")

// ParseAddr returns the address the ops server listens on given the value
// v of EnvAddr: def when v is empty, "" (disabled) when v is Off, else v
// itself when it is host:port with a port from 0 to 65535 (0 picks a free
// port, for tests).
func ParseAddr(v, def string) (string, error) {
	switch v {
	case "":
		return def, nil
	case Off:
		return "", nil
	}
	_, port, err := net.SplitHostPort(v)
	if err != nil {
		return "", fmt.Errorf("%w: %s %q: want host:port or %q", ErrAddr, EnvAddr, v, Off)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		return "", fmt.Errorf("%w: %s %q: port must be 0 to 65535", ErrAddr, EnvAddr, v)
	}
	return v, nil
}

// dialable turns a listen address into one to connect to: an unspecified
// host (0.0.0.0, ::, or none) becomes the loopback address of its family.
func dialable(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	switch ip := net.ParseIP(host); {
	case host == "":
		host = "127.0.0.1"
	case ip != nil && ip.IsUnspecified() && ip.To4() == nil:
		host = "::1"
	case ip != nil && ip.IsUnspecified():
		host = "127.0.0.1"
	}
	return net.JoinHostPort(host, port)
}
