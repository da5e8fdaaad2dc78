// Package chstore writes analytics events to ClickHouse over the native
// protocol, the only one that works with every ClickHouse the service meets
// (18.16 in development and tests, current releases in production).
//
// Rows go in with PrepareBatch and an explicit column list: ClickHouse 18.16
// does not report the columns of a bare INSERT to the client, and an
// INSERT ... VALUES through Exec hangs there.
//
// The tables are ReplacingMergeTree (see migrations/0001_events.sql):
// delivery from JetStream is at least once, and a batch may be inserted
// again after a failure, so the same event can be stored twice. Copies share
// their whole sorting key, which ends in event_id, so merges keep one of
// them; a query that must be exact (billing, quotas) reads with FINAL, for
// example SELECT count() FROM usage FINAL WHERE key_id = ?. Dashboards that
// can tolerate a brief over-count read without it.
package chstore

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
)

// ErrBadDatabase is returned for a database name that is not a plain
// identifier (it is written into SQL unquoted by the driver).
var ErrBadDatabase = errors.New("bad database name")

// Options says where ClickHouse is.
type Options struct {
	// Addr is host:port of the native protocol.
	Addr string
	// Database is created when missing and used by the connection.
	Database string
	Username string
	Password string
	// Cluster, when set, creates the database ON CLUSTER, on every node
	// (see migrate.Cluster).
	Cluster string
	// DialTimeout bounds each connection attempt; 0 means 5 s.
	DialTimeout time.Duration
}

var identifier = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// Open connects to ClickHouse, creates the database when it is missing, and
// returns a connection pool whose queries run in that database. The caller
// closes it, last, after everything that writes through it has stopped.
func Open(ctx context.Context, o Options) (driver.Conn, error) {
	if !identifier.MatchString(o.Database) {
		return nil, fmt.Errorf("%w: %q", ErrBadDatabase, o.Database)
	}
	// The database may not exist yet, and a connection cannot name a missing
	// one, so create it through a connection to the user's default database.
	admin, err := connect(ctx, o, "")
	if err != nil {
		return nil, err
	}
	create := "CREATE DATABASE IF NOT EXISTS " + o.Database
	if o.Cluster != "" {
		create += " ON CLUSTER `" + strings.NewReplacer("\\", "\\\\", "`", "\\`").Replace(o.Cluster) + "`"
	}
	err = admin.Exec(ctx, create)
	_ = admin.Close()
	if err != nil {
		return nil, fmt.Errorf("create database %s: %w", o.Database, err)
	}
	return connect(ctx, o, o.Database)
}

func connect(ctx context.Context, o Options, database string) (driver.Conn, error) {
	dial := o.DialTimeout
	if dial == 0 {
		dial = 5 * time.Second
	}
	conn, err := clickhouse.Open(&clickhouse.Options{
		Addr:        []string{o.Addr},
		Protocol:    clickhouse.Native,
		Auth:        clickhouse.Auth{Database: database, Username: o.Username, Password: o.Password},
		DialTimeout: dial,
	})
	if err != nil {
		return nil, fmt.Errorf("open clickhouse %s: %w", o.Addr, err)
	}
	if err := conn.Ping(ctx); err != nil {
		_ = conn.Close()
		return nil, fmt.Errorf("ping clickhouse %s: %w", o.Addr, err)
	}
	return conn, nil
}
