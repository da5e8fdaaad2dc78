// Package testschema gives a test a fresh ClickHouse database holding the
// analytics schema, applied by the real migrations from the repository's
// migrations directory. Only test files import it.
package testschema

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/ocrstack/ocrstack/analytics/internal/chstore"
	"github.com/ocrstack/ocrstack/analytics/internal/migrate"
	"github.com/ocrstack/ocrstack/analytics/internal/testenv"
)

// DB creates a database on the test ClickHouse (see testenv.ClickHouse),
// applies every shipped migration and returns a connection to it, closed
// and dropped when the test ends, with the address and database name.
func DB(t testing.TB) (conn driver.Conn, addr, database string) {
	t.Helper()
	addr, database = testenv.ClickHouse(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	conn, err := chstore.Open(ctx, chstore.Options{Addr: addr, Database: database, Username: "default"})
	if err != nil {
		t.Fatalf("open clickhouse: %v", err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	migrations, err := migrate.Load(os.DirFS(MigrationsDir()))
	if err != nil {
		t.Fatalf("load migrations: %v", err)
	}
	if _, err := migrate.New(conn, slog.New(slog.NewTextHandler(io.Discard, nil)), nil).Apply(ctx, migrations); err != nil {
		t.Fatalf("apply migrations: %v", err)
	}
	return conn, addr, database
}

// MigrationsDir is the path of analytics/migrations.
func MigrationsDir() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "migrations")
}
