package migrate

import (
	"fmt"
	"regexp"
)

// Cluster says how to render the schema for a ClickHouse cluster. The zero
// value renders it for a single server, unchanged.
//
// On a cluster each statement runs ON CLUSTER Name, so every node gets the
// table, and every *MergeTree engine becomes its Replicated twin, keeping
// its arguments (the ReplacingMergeTree version column), with the
// conventional ZooKeeper path /clickhouse/tables/{shard}/<database>.<table>
// and replica name {replica}, both macros each node defines. Replicated
// tables also drop an inserted block identical to a recent one, which makes
// a retried batch cheaper, but exactness never depends on it: FINAL and the
// rollups' versions are what count each event once. The layout is one shard
// with any number of replicas: every node holds every row, so the analytics
// service may read through any of them; sharding would need Distributed
// tables, which this schema does not create.
type Cluster struct {
	// Name is the cluster as named in the servers' remote_servers; empty
	// means a single server.
	Name string
	// Database is the database the tables live in, part of their path.
	Database string
}

var (
	createTable = regexp.MustCompile(`^(CREATE TABLE IF NOT EXISTS )([A-Za-z_][A-Za-z0-9_]*)`)
	engine      = regexp.MustCompile(`ENGINE = ([A-Za-z]*)MergeTree\(([^)]*)\)`)
)

// Render returns stmt as it must run on c. Only CREATE TABLE IF NOT EXISTS
// statements change; a statement of any other kind is returned as is.
func (c Cluster) Render(stmt string) string {
	if c.Name == "" {
		return stmt
	}
	m := createTable.FindStringSubmatch(stmt)
	if m == nil {
		return stmt
	}
	table := m[2]
	out := createTable.ReplaceAllString(stmt, "${1}${2} ON CLUSTER "+quoteIdent(c.Name))
	return engine.ReplaceAllStringFunc(out, func(s string) string {
		parts := engine.FindStringSubmatch(s)
		args := fmt.Sprintf("'/clickhouse/tables/{shard}/%s.%s', '{replica}'", c.Database, table)
		if parts[2] != "" {
			args += ", " + parts[2]
		}
		return "ENGINE = Replicated" + parts[1] + "MergeTree(" + args + ")"
	})
}

// quoteIdent quotes a cluster name for SQL with backquotes.
func quoteIdent(s string) string {
	return "`" + regexp.MustCompile("[`\\\\]").ReplaceAllString(s, "\\$0") + "`"
}
