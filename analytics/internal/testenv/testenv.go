// Package testenv starts the real dependencies the analytics tests run
// against: an in-process JetStream server per test, and a fresh database on
// the ClickHouse named by OCR_TEST_CLICKHOUSE_ADDR.
//
// Only test files import it; nothing here is linked into the service.
package testenv

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// NATS starts an embedded JetStream server that is shut down when the test
// ends, and returns a connection to it and its URL.
func NATS(t testing.TB) (*nats.Conn, jetstream.JetStream, string) {
	t.Helper()
	srv, err := server.NewServer(&server.Options{
		Host: "127.0.0.1", Port: -1, JetStream: true, StoreDir: t.TempDir(), NoLog: true, NoSigs: true,
	})
	if err != nil {
		t.Fatalf("new nats server: %v", err)
	}
	srv.Start()
	t.Cleanup(srv.Shutdown)
	if !srv.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats server not ready")
	}
	nc, err := nats.Connect(srv.ClientURL())
	if err != nil {
		t.Fatalf("connect to nats: %v", err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatalf("jetstream: %v", err)
	}
	return nc, js, srv.ClientURL()
}

// ClickHouseAddr returns OCR_TEST_CLICKHOUSE_ADDR. When it is unset the test
// is skipped, or fails when CI is "true": CI must never pass by skipping.
func ClickHouseAddr(t testing.TB) string {
	t.Helper()
	addr := os.Getenv("OCR_TEST_CLICKHOUSE_ADDR")
	if addr == "" {
		const msg = "OCR_TEST_CLICKHOUSE_ADDR is not set: start one with " +
			"deploy/scripts/clickhouse.sh start <port> <dir> and export OCR_TEST_CLICKHOUSE_ADDR=127.0.0.1:<port>"
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	return addr
}

// ClickHouse returns the test ClickHouse's address and the name of a
// database unique to this test. The database does not exist yet (creating it
// is part of what the service does); it is dropped when the test ends.
func ClickHouse(t testing.TB) (addr, database string) {
	t.Helper()
	addr = ClickHouseAddr(t)
	var b [6]byte
	_, _ = rand.Read(b[:])
	database = "test_" + hex.EncodeToString(b[:])
	t.Cleanup(func() {
		conn, err := open(addr, "default")
		if err != nil {
			t.Errorf("drop test database %s: %v", database, err)
			return
		}
		defer conn.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+database); err != nil {
			t.Errorf("drop test database %s: %v", database, err)
		}
	})
	return addr, database
}

// Conn opens a native-protocol connection to database on addr, closed when
// the test ends.
func Conn(t testing.TB, addr, database string) driver.Conn {
	t.Helper()
	conn, err := open(addr, database)
	if err != nil {
		t.Fatalf("open clickhouse %s: %v", addr, err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return conn
}

func open(addr, database string) (driver.Conn, error) {
	return clickhouse.Open(&clickhouse.Options{
		Addr: []string{addr}, Auth: clickhouse.Auth{Database: database, Username: "default"},
		DialTimeout: 5 * time.Second,
	})
}
