package migrate

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
)

// ErrChanged is returned when an applied migration's file has changed since
// it was applied: a schema change must be a new migration.
var ErrChanged = errors.New("applied migration changed")

// The record of applied migrations. It is plain MergeTree: a version
// recorded twice by two instances starting at once is harmless.
const (
	createMigrationsTable = `CREATE TABLE IF NOT EXISTS schema_migrations (
    version    UInt32,
    name       String,
    checksum   String,
    applied_at DateTime
) ENGINE = MergeTree() ORDER BY version`
	selectApplied = `SELECT version, checksum FROM schema_migrations`
	insertApplied = `INSERT INTO schema_migrations (version, name, checksum, applied_at)`
)

// Migrator applies migrations through one ClickHouse connection.
type Migrator struct {
	conn    driver.Conn
	log     *slog.Logger
	now     func() time.Time
	cluster Cluster
}

// New returns a Migrator working in conn's database. now stamps the
// records; nil means time.Now.
func New(conn driver.Conn, log *slog.Logger, now func() time.Time) *Migrator {
	if now == nil {
		now = time.Now
	}
	return &Migrator{conn: conn, log: log, now: now}
}

// OnCluster makes m render every statement for c (see Cluster) and returns
// m. The checksums stay those of the files, so a schema applied to one
// server and one applied to a cluster record the same migrations.
func (m *Migrator) OnCluster(c Cluster) *Migrator {
	m.cluster = c
	return m
}

// Apply runs, in order, every migration that is not recorded yet, recording
// each after its last statement succeeded, and returns how many it ran.
func (m *Migrator) Apply(ctx context.Context, migrations []Migration) (int, error) {
	if err := m.conn.Exec(ctx, m.cluster.Render(createMigrationsTable)); err != nil {
		return 0, fmt.Errorf("create schema_migrations: %w", err)
	}
	applied, err := m.applied(ctx)
	if err != nil {
		return 0, err
	}
	known := make(map[uint32]bool, len(migrations))
	n := 0
	for _, mig := range migrations {
		known[mig.Version] = true
		if sum, ok := applied[mig.Version]; ok {
			if sum != mig.Checksum {
				return n, fmt.Errorf("%w: %s (recorded checksum %s, file %s)", ErrChanged, mig.Name, sum, mig.Checksum)
			}
			continue
		}
		for i, stmt := range mig.Statements {
			if err := m.conn.Exec(ctx, m.cluster.Render(stmt)); err != nil {
				return n, fmt.Errorf("apply %s statement %d: %w", mig.Name, i+1, err)
			}
		}
		if err := m.record(ctx, mig); err != nil {
			return n, err
		}
		m.log.Info("migration applied", "version", mig.Version, "name", mig.Name)
		n++
	}
	for v := range applied {
		if !known[v] {
			m.log.Warn("database has a migration this binary does not know", "version", v)
		}
	}
	return n, nil
}

func (m *Migrator) applied(ctx context.Context) (map[uint32]string, error) {
	rows, err := m.conn.Query(ctx, selectApplied)
	if err != nil {
		return nil, fmt.Errorf("read schema_migrations: %w", err)
	}
	defer rows.Close()
	out := map[uint32]string{}
	for rows.Next() {
		var (
			version uint32
			sum     string
		)
		if err := rows.Scan(&version, &sum); err != nil {
			return nil, fmt.Errorf("read schema_migrations: %w", err)
		}
		out[version] = sum
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read schema_migrations: %w", err)
	}
	return out, nil
}

func (m *Migrator) record(ctx context.Context, mig Migration) error {
	batch, err := m.conn.PrepareBatch(ctx, insertApplied)
	if err != nil {
		return fmt.Errorf("record %s: %w", mig.Name, err)
	}
	defer func() { _ = batch.Abort() }()
	if err := batch.Append(mig.Version, mig.Name, mig.Checksum, m.now().UTC()); err != nil {
		return fmt.Errorf("record %s: %w", mig.Name, err)
	}
	if err := batch.Send(); err != nil {
		return fmt.Errorf("record %s: %w", mig.Name, err)
	}
	return nil
}
