package rollup

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// level is one rollup granularity. Buckets are UTC.
type level struct {
	name string
	// bucketOf is the SQL expression of the bucket holding the DateTime
	// expression col.
	bucketOf func(col string) string
	// start is the start of the bucket holding t; next the start of the
	// bucket after the one starting at t.
	start func(t time.Time) time.Time
	next  func(t time.Time) time.Time
}

// levels, finest first: each is computed from the one before it, the first
// from the raw tables.
var levels = []level{
	{
		name:     "minute",
		bucketOf: func(col string) string { return "toStartOfMinute(" + col + ")" },
		start:    func(t time.Time) time.Time { return t.UTC().Truncate(time.Minute) },
		next:     func(t time.Time) time.Time { return t.Add(time.Minute) },
	},
	{
		name:     "hour",
		bucketOf: func(col string) string { return "toStartOfHour(" + col + ", 'UTC')" },
		start:    func(t time.Time) time.Time { return t.UTC().Truncate(time.Hour) },
		next:     func(t time.Time) time.Time { return t.Add(time.Hour) },
	},
	{
		name:     "day",
		bucketOf: func(col string) string { return "toStartOfDay(" + col + ", 'UTC')" },
		start: func(t time.Time) time.Time {
			t = t.UTC()
			return time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
		},
		next: func(t time.Time) time.Time { return t.AddDate(0, 0, 1) },
	},
	{
		name:     "month",
		bucketOf: func(col string) string { return "toDateTime(toStartOfMonth(" + col + ", 'UTC'), 'UTC')" },
		start: func(t time.Time) time.Time {
			t = t.UTC()
			return time.Date(t.Year(), t.Month(), 1, 0, 0, 0, 0, time.UTC)
		},
		next: func(t time.Time) time.Time { return t.AddDate(0, 1, 0) },
	},
}

// family is a raw table and its rollups.
type family struct {
	// raw is the raw table; rollups are named prefix + level name.
	raw, prefix string
	dims        []string
	// count is the column counting events, also the rollup's version.
	count string
	// measures are the rollup's value columns, count first; fromRaw and
	// fromLevel compute them from the raw table and from a finer level.
	measures           []string
	fromRaw, fromLevel []string
}

var families = []family{
	{
		raw: "verifications", prefix: "verifications_per_",
		dims:     []string{"api_id", "key_id", "owner_id", "outcome"},
		count:    "verifications",
		measures: []string{"verifications", "credits_spent", "latency_us"},
		fromRaw:  []string{"count()", "sumIf(cost, outcome = 'VALID')", "quantilesState(0.5, 0.95, 0.99)(latency_us)"},
		fromLevel: []string{"sum(verifications)", "sum(credits_spent)",
			"quantilesMergeState(0.5, 0.95, 0.99)(latency_us)"},
	},
	{
		raw: "usage", prefix: "usage_per_",
		dims:     []string{"key_id", "owner_id", "producer", "outcome", "error_code"},
		count:    "jobs",
		measures: []string{"jobs", "pages", "bytes", "characters", "recognition_ms"},
		fromRaw: []string{"count()", "sum(pages)", "sum(bytes)", "sum(characters)",
			"quantilesState(0.5, 0.95, 0.99)(recognition_ms)"},
		fromLevel: []string{"sum(jobs)", "sum(pages)", "sum(bytes)", "sum(characters)",
			"quantilesMergeState(0.5, 0.95, 0.99)(recognition_ms)"},
	},
}

// table is the rollup table of level i.
func (f family) table(i int) string { return f.prefix + levels[i].name }

// source is the table level i is computed from, and its time column.
func (f family) source(i int) (table, timeCol string) {
	if i == 0 {
		return f.raw, "time"
	}
	return f.table(i - 1), "bucket"
}

// refreshSQL recomputes the buckets of level i starting at the given unix
// seconds, which must lie in [lo, hi). The time range lets ClickHouse skip
// partitions; the list picks the buckets.
func (f family) refreshSQL(i int, buckets []uint32, lo, hi time.Time) string {
	src, col := f.source(i)
	exprs := f.fromLevel
	if i == 0 {
		exprs = f.fromRaw
	}
	bucket := levels[i].bucketOf(col)
	dims := strings.Join(f.dims, ", ")
	return fmt.Sprintf("INSERT INTO %s (bucket, %s, %s) SELECT %s AS rollup_bucket, %s, %s FROM %s FINAL "+
		"WHERE %s >= toDateTime(%d) AND %s < toDateTime(%d) AND toUInt32(%s) IN (%s) GROUP BY rollup_bucket, %s",
		f.table(i), dims, strings.Join(f.measures, ", "), bucket, dims, strings.Join(exprs, ", "), src,
		col, lo.Unix(), col, hi.Unix(), bucket, list(buckets), dims)
}

// sourceCountsSQL counts the events of level i's source per bucket of
// level i, from the bucket starting at from.
func (f family) sourceCountsSQL(i int, from time.Time) string {
	src, col := f.source(i)
	n := "count()"
	if i > 0 {
		n = "sum(" + f.count + ")"
	}
	return fmt.Sprintf("SELECT toUInt32(%s) AS b, toUInt64(%s) FROM %s FINAL WHERE %s >= toDateTime(%d) GROUP BY b",
		levels[i].bucketOf(col), n, src, col, from.Unix())
}

// countsSQL counts the events of level i per bucket, from the bucket
// starting at from.
func (f family) countsSQL(i int, from time.Time) string {
	return fmt.Sprintf("SELECT toUInt32(bucket) AS b, toUInt64(sum(%s)) FROM %s FINAL WHERE bucket >= toDateTime(%d) GROUP BY b",
		f.count, f.table(i), from.Unix())
}

func list(buckets []uint32) string {
	var b strings.Builder
	for i, v := range buckets {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(strconv.FormatUint(uint64(v), 10))
	}
	return b.String()
}

func timeOf(unix uint32) time.Time { return time.Unix(int64(unix), 0).UTC() }
