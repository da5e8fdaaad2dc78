package admission

import (
	"net"
	"sync"
)

// LimitListener returns a Listener that holds at most n accepted
// connections open at once: Accept waits while n are open, so further
// clients wait in the kernel's accept queue (their request bytes in socket
// buffers, not in this process) until one closes. n must be at least 1.
//
// fasthttp serves each connection on one goroutine and reads a request's
// whole body before the handler runs, so this bounds the bodies being read
// or held to n. An idle keep-alive connection holds its slot until the
// server's IdleTimeout closes it.
func LimitListener(l net.Listener, n int) net.Listener {
	return &limitListener{Listener: l, sem: make(chan struct{}, n), done: make(chan struct{})}
}

type limitListener struct {
	net.Listener
	sem       chan struct{}
	closeOnce sync.Once
	done      chan struct{}
}

// Accept waits for a free slot, then for a connection.
func (l *limitListener) Accept() (net.Conn, error) {
	select {
	case l.sem <- struct{}{}:
	case <-l.done:
		return nil, net.ErrClosed
	}
	c, err := l.Listener.Accept()
	if err != nil {
		<-l.sem
		return nil, err
	}
	return &limitConn{Conn: c, release: func() { <-l.sem }}, nil
}

// Close closes the listener and wakes an Accept waiting for a slot.
func (l *limitListener) Close() error {
	err := l.Listener.Close()
	l.closeOnce.Do(func() { close(l.done) })
	return err
}

// limitConn gives its slot back on its first Close.
type limitConn struct {
	net.Conn
	once    sync.Once
	release func()
}

func (c *limitConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}
