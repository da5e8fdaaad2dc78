// Package rollup keeps the rollup tables (verifications_per_minute ...
// usage_per_month, see migrations/0003_rollups.sql) exact, although the raw
// tables they summarise may hold an event more than once.
//
// Delivery from JetStream is at least once, so the raw tables are
// ReplacingMergeTree keyed by event id and exact only when read with FINAL.
// A materialized view would see every inserted copy and count it, so the
// rollups are not views: they are recomputed. Each time the sink stores a
// batch, Track's inserter notes the minutes the batch touched; every
// Interval the Refresher recomputes those minutes from the raw tables with
// FINAL (INSERT INTO ..._per_minute SELECT ... FROM raw FINAL WHERE the
// minute ... GROUP BY ...), then the hours holding them from the minute
// rollup, the days from the hours and the months from the days. A whole
// bucket is inserted again each time; the tables are ReplacingMergeTree
// whose version is the row's own event count, which can only grow because
// raw events are never deleted. So the most complete recompute wins: a
// stale one (a second replica that read the raw table a moment earlier, a
// retry) can never replace it, and recomputing twice is harmless. Readers
// use FINAL.
//
// While the sink drains a backlog (SetBacklog) the recomputes are put off,
// for at most MaxDelay (30 s by default) after the oldest noted minute:
// each reads the raw tables with FINAL and competes with the inserts, and
// a backlog touches the same minutes batch after batch, so one recompute
// after it does the work of many during it. Rollups then trail the raw
// tables by up to MaxDelay plus Interval instead of Interval.
//
// The notes live in memory. If the service stops after a batch was
// acknowledged but before its minutes were recomputed, Reconcile repairs
// the rollups: at start-up and every ReconcileInterval it compares, per
// bucket over the last Window, each level's event count with the level
// below (the raw table for minutes) and recomputes every bucket that
// differs. A count equal at both levels means the bucket is complete,
// because a rollup row never counts more events than its source.
//
// Quantiles are kept as quantilesState(0.5, 0.95, 0.99) columns rather
// than arrays computed from raw rows: states merge, so an hour is computed
// from its sixty minutes rather than from a rescan of the raw rows (a month
// would be a scan of millions), and a query merges them over any set of
// rows. They are estimates (exact while a bucket holds at most 8192
// values); counts and sums are exact.
package rollup
