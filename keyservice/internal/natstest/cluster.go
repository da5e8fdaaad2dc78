package natstest

import (
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// Cluster is an in-process JetStream cluster of len(Servers) nodes on
// loopback, for tests of replicated (R3) streams and buckets.
type Cluster struct {
	Servers []*server.Server
}

// StartCluster runs n clustered JetStream servers and waits until the meta
// leader sees all of them online. They are shut down when the test ends.
func StartCluster(t testing.TB, n int) *Cluster {
	t.Helper()
	ports := make([]int, n)
	routes := make([]string, n)
	for i := range n {
		ports[i] = freePort(t)
		routes[i] = fmt.Sprintf("nats://127.0.0.1:%d", ports[i])
	}
	c := &Cluster{}
	for i := range n {
		srv, err := server.NewServer(&server.Options{
			ServerName: fmt.Sprintf("n%d", i+1), Host: "127.0.0.1", Port: -1,
			JetStream: true, StoreDir: t.TempDir(), NoSigs: true,
			Cluster: server.ClusterOpts{Name: "test", Host: "127.0.0.1", Port: ports[i]},
			Routes:  server.RoutesFromStr(strings.Join(routes, ",")),
		})
		if err != nil {
			t.Fatal(err)
		}
		srv.Start()
		t.Cleanup(srv.Shutdown)
		c.Servers = append(c.Servers, srv)
	}
	for _, srv := range c.Servers {
		if !srv.ReadyForConnections(10 * time.Second) {
			t.Fatal("cluster node did not start")
		}
	}
	// A meta leader alone is not enough: until it has heard from every peer
	// (statistics received, not marked offline), placing an R3 asset fails
	// with "no suitable peers for placement, peer offline".
	deadline := time.Now().Add(30 * time.Second)
	for !c.ready() {
		if time.Now().After(deadline) {
			t.Fatalf("JetStream cluster not ready in 30 s: meta leader %v", c.leader() != nil)
		}
		time.Sleep(25 * time.Millisecond)
	}
	return c
}

// ready reports whether a meta leader sees every node online with JetStream
// and every node's meta log is current.
func (c *Cluster) ready() bool {
	l := c.leader()
	if l == nil || len(l.JetStreamClusterPeers()) != len(c.Servers) {
		return false
	}
	for _, s := range c.Servers {
		if !s.JetStreamIsCurrent() {
			return false
		}
	}
	return true
}

// URLs returns the client URLs of every node, comma-separated, for
// nats.Connect.
func (c *Cluster) URLs() string {
	urls := make([]string, len(c.Servers))
	for i, s := range c.Servers {
		urls[i] = s.ClientURL()
	}
	return strings.Join(urls, ",")
}

func (c *Cluster) leader() *server.Server {
	for _, s := range c.Servers {
		if s.JetStreamIsLeader() {
			return s
		}
	}
	return nil
}

func freePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}
