package admission

import (
	"bytes"
	"errors"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/stretchr/testify/require"
)

// TestLimitListener checks that no more than n connections are accepted at
// once, that closing one lets the next waiting client in, and that closing
// the listener ends an Accept waiting for a slot.
func TestLimitListener(t *testing.T) {
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	ln := LimitListener(inner, 2)

	var accepted atomic.Int64
	conns := make(chan net.Conn, 10)
	done := make(chan error, 1)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				done <- err
				return
			}
			accepted.Add(1)
			conns <- c
		}
	}()
	t.Cleanup(func() {
		for {
			select {
			case c := <-conns:
				_ = c.Close()
			default:
				return
			}
		}
	})
	dial := func() {
		c, err := net.Dial("tcp", inner.Addr().String()) // the kernel completes the handshake
		require.NoError(t, err)
		t.Cleanup(func() { _ = c.Close() })
	}
	for range 3 {
		dial()
	}
	require.Eventually(t, func() bool { return accepted.Load() == 2 }, 5*time.Second, time.Millisecond)
	require.Never(t, func() bool { return accepted.Load() > 2 }, 100*time.Millisecond, 5*time.Millisecond)

	first := <-conns
	require.NoError(t, first.Close())
	_ = first.Close() // frees nothing more
	require.Eventually(t, func() bool { return accepted.Load() == 3 }, 5*time.Second, time.Millisecond)
	dial()
	require.Never(t, func() bool { return accepted.Load() > 3 }, 100*time.Millisecond, 5*time.Millisecond,
		"two connections open, the fourth client waits")

	require.NoError(t, ln.Close()) // Accept now waits for a slot
	select {
	case err := <-done:
		require.True(t, errors.Is(err, net.ErrClosed), "%v", err)
	case <-time.After(5 * time.Second):
		t.Fatal("Accept still waiting after Close")
	}
}

// TestLimitListenerFiber checks that behind a LimitListener fiber runs at
// most n handlers at once, each after reading its body, and that the
// clients held back are served in turn.
func TestLimitListenerFiber(t *testing.T) {
	const n, clients = 2, 5
	var running, most atomic.Int64
	proceed := make(chan struct{})
	app := fiber.New(fiber.Config{DisableStartupMessage: true, DisableKeepalive: true})
	app.Post("/upload", func(c *fiber.Ctx) error {
		r := running.Add(1)
		defer running.Add(-1)
		for m := most.Load(); r > m && !most.CompareAndSwap(m, r); m = most.Load() {
		}
		<-proceed
		return c.SendString(strconv.Itoa(len(c.Body())))
	})
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	go func() { _ = app.Listener(LimitListener(inner, n)) }()
	t.Cleanup(func() { _ = app.Shutdown() })
	var release sync.Once
	unblock := func() { release.Do(func() { close(proceed) }) }
	t.Cleanup(unblock) // runs first, so a failed test does not hang in Shutdown

	body := bytes.Repeat([]byte("x"), 1<<20)
	answers := make(chan string, clients)
	for range clients {
		go func() {
			resp, err := http.Post("http://"+inner.Addr().String()+"/upload", "application/octet-stream", bytes.NewReader(body))
			if err != nil {
				answers <- err.Error()
				return
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			answers <- string(b)
		}()
	}
	require.Eventually(t, func() bool { return running.Load() == n }, 5*time.Second, time.Millisecond)
	require.Never(t, func() bool { return running.Load() > n }, 100*time.Millisecond, 5*time.Millisecond)
	unblock()
	for range clients {
		select {
		case a := <-answers:
			require.Equal(t, strconv.Itoa(len(body)), a)
		case <-time.After(10 * time.Second):
			t.Fatal("a client was never served")
		}
	}
	require.Equal(t, int64(n), most.Load())
}
