package migrate

import (
	"context"
	"io"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ocrstack/ocrstack/analytics/internal/chstore"
	"github.com/ocrstack/ocrstack/analytics/internal/testenv"
)

// TestApply checks, against a real ClickHouse, that the shipped migrations
// load on an empty database, that a second start-up applies nothing, that a
// new migration is applied alone, and that an applied migration whose file
// changed stops start-up.
func TestApply(t *testing.T) {
	addr, db := testenv.ClickHouse(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	conn, err := chstore.Open(ctx, chstore.Options{Addr: addr, Database: db, Username: "default"})
	require.NoError(t, err)
	defer conn.Close()

	shipped, err := Load(os.DirFS("../../migrations"))
	require.NoError(t, err)
	extra := Migration{Version: 9999, Name: "9999_extra.sql", Checksum: "x",
		Statements: []string{"CREATE TABLE IF NOT EXISTS extra (x UInt8) ENGINE = Memory"}}
	changed := shipped[0]
	changed.Checksum = "edited"

	m := New(conn, slog.New(slog.NewTextHandler(io.Discard, nil)), nil)
	steps := []struct {
		name        string
		migrations  []Migration
		wantApplied int
		wantErr     error
	}{
		{name: "empty database", migrations: shipped, wantApplied: len(shipped)},
		{name: "second start-up", migrations: shipped, wantApplied: 0},
		{name: "one new migration", migrations: append(shipped[:len(shipped):len(shipped)], extra), wantApplied: 1},
		{name: "older binary", migrations: shipped, wantApplied: 0},
		{name: "applied file changed", migrations: []Migration{changed}, wantErr: ErrChanged},
	}
	for _, step := range steps {
		n, err := m.Apply(ctx, step.migrations)
		if step.wantErr != nil {
			require.ErrorIs(t, err, step.wantErr, step.name)
			continue
		}
		require.NoError(t, err, step.name)
		require.Equal(t, step.wantApplied, n, step.name)
	}

	var tables []string
	rows, err := conn.Query(ctx, "SELECT name FROM system.tables WHERE database = currentDatabase() ORDER BY name")
	require.NoError(t, err)
	for rows.Next() {
		var name string
		require.NoError(t, rows.Scan(&name))
		tables = append(tables, name)
	}
	require.NoError(t, rows.Err())
	require.Equal(t, []string{"extra", "notices", "schema_migrations", "usage",
		"usage_per_day", "usage_per_hour", "usage_per_minute", "usage_per_month", "verifications",
		"verifications_per_day", "verifications_per_hour", "verifications_per_minute", "verifications_per_month"}, tables)
}
