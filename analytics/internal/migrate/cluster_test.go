package migrate

import (
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestClusterRender checks the text of the cluster variant: ON CLUSTER
// after the table name, each MergeTree engine replaced by its Replicated
// twin with the table's own ZooKeeper path and its arguments kept, other
// statements untouched, and no change at all without a cluster.
func TestClusterRender(t *testing.T) {
	c := Cluster{Name: "ocr", Database: "analytics"}
	cases := []struct {
		name    string
		cluster Cluster
		stmt    string
		want    string
	}{
		{
			name: "replacing without version", cluster: c,
			stmt: "CREATE TABLE IF NOT EXISTS usage (\n    event_id String\n) ENGINE = ReplacingMergeTree()\nORDER BY (event_id)",
			want: "CREATE TABLE IF NOT EXISTS usage ON CLUSTER `ocr` (\n    event_id String\n) ENGINE = " +
				"ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/analytics.usage', '{replica}')\nORDER BY (event_id)",
		},
		{
			name: "replacing with version", cluster: c,
			stmt: "CREATE TABLE IF NOT EXISTS usage_per_day (jobs UInt64) ENGINE = ReplacingMergeTree(jobs) ORDER BY jobs",
			want: "CREATE TABLE IF NOT EXISTS usage_per_day ON CLUSTER `ocr` (jobs UInt64) ENGINE = " +
				"ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/analytics.usage_per_day', '{replica}', jobs) ORDER BY jobs",
		},
		{
			name: "plain merge tree", cluster: c,
			stmt: createMigrationsTable,
			want: strings.Replace(strings.Replace(createMigrationsTable, "schema_migrations", "schema_migrations ON CLUSTER `ocr`", 1),
				"ENGINE = MergeTree()", "ENGINE = ReplicatedMergeTree('/clickhouse/tables/{shard}/analytics.schema_migrations', '{replica}')", 1),
		},
		{name: "other statement", cluster: c, stmt: "SELECT 1", want: "SELECT 1"},
		{name: "single server", stmt: createMigrationsTable, want: createMigrationsTable},
		{
			name: "cluster name quoted", cluster: Cluster{Name: "a`b", Database: "d"},
			stmt: "CREATE TABLE IF NOT EXISTS t (x UInt8) ENGINE = MergeTree() ORDER BY x",
			want: "CREATE TABLE IF NOT EXISTS t ON CLUSTER `a\\`b` (x UInt8) ENGINE = ReplicatedMergeTree('/clickhouse/tables/{shard}/d.t', '{replica}') ORDER BY x",
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			require.Equal(t, tc.want, tc.cluster.Render(tc.stmt))
		})
	}
}

// TestClusterRenderShipped checks that every table of the shipped schema
// becomes replicated on a cluster: none is left a plain MergeTree, which
// would hold different rows on each node.
func TestClusterRenderShipped(t *testing.T) {
	shipped, err := Load(os.DirFS("../../migrations"))
	require.NoError(t, err)
	c := Cluster{Name: "ocr", Database: "ocr"}
	tables := 0
	for _, m := range shipped {
		for _, stmt := range m.Statements {
			got := c.Render(stmt)
			if !strings.HasPrefix(stmt, "CREATE TABLE") {
				continue
			}
			tables++
			require.Contains(t, got, " ON CLUSTER `ocr` (", m.Name)
			require.Regexp(t, `ENGINE = Replicated[A-Za-z]*MergeTree\('/clickhouse/tables/\{shard\}/ocr\.[a-z_]+', '\{replica\}'`, got, m.Name)
		}
	}
	require.GreaterOrEqual(t, tables, 11)
}
