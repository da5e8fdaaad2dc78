package rollup

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/stretchr/testify/require"

	"github.com/ocrstack/ocrstack/analytics/internal/chstore"
	"github.com/ocrstack/ocrstack/analytics/internal/events"
	"github.com/ocrstack/ocrstack/analytics/internal/testenv"
	"github.com/ocrstack/ocrstack/analytics/internal/testschema"
	"github.com/ocrstack/ocrstack/contracts"
)

// ms is a UTC wall time in unix milliseconds.
func ms(year int, month time.Month, day, hour, minute, second int) int64 {
	return time.Date(year, month, day, hour, minute, second, 0, time.UTC).UnixMilli()
}

func verification(id string, at int64, key string, outcome contracts.VerifyCode, cost, latencyUs int64) contracts.VerificationEvent {
	return contracts.VerificationEvent{EventID: id, Time: at, KeyID: key, APIID: "api_ocr", OwnerID: "owner_" + key,
		Outcome: outcome, Cost: cost, LatencyUs: latencyUs}
}

// rollupRow is one row of a verifications rollup read with FINAL.
type rollupRow struct {
	Bucket        time.Time
	Key, Outcome  string
	Verifications uint64
	CreditsSpent  int64
}

func readVerifications(t *testing.T, conn driver.Conn, table string) []rollupRow {
	t.Helper()
	rows, err := conn.Query(context.Background(), "SELECT bucket, key_id, outcome, verifications, credits_spent FROM "+
		table+" FINAL ORDER BY bucket, key_id, outcome")
	require.NoError(t, err)
	defer rows.Close()
	var out []rollupRow
	for rows.Next() {
		var r rollupRow
		require.NoError(t, rows.Scan(&r.Bucket, &r.Key, &r.Outcome, &r.Verifications, &r.CreditsSpent))
		r.Bucket = r.Bucket.UTC()
		out = append(out, r)
	}
	require.NoError(t, rows.Err())
	return out
}

func at(year int, month time.Month, day, hour, minute int) time.Time {
	return time.Date(year, month, day, hour, minute, 0, 0, time.UTC)
}

// TestRefreshExact checks, against a real ClickHouse, that the rollups of
// every level count each event once although the raw table holds copies of
// some (a batch stored twice, as after a crash between insert and ack), that
// buckets are UTC minutes, hours, days and months, and that a stale
// recompute inserted after a complete one does not replace it.
func TestRefreshExact(t *testing.T) {
	conn, _, _ := testschema.DB(t)
	log, _ := testenv.Logger(t)
	ctx := context.Background()
	r := New(Config{Conn: conn, Logger: log})
	store := r.Track(chstore.NewWriter(conn))

	first := &events.Batch{Verifications: []contracts.VerificationEvent{
		verification("v1", ms(2026, 1, 31, 23, 59, 30), "k1", contracts.VerifyValid, 2, 100),
		verification("v2", ms(2026, 1, 31, 23, 59, 40), "k1", contracts.VerifyRateLimited, 1, 300),
		verification("v3", ms(2026, 2, 1, 0, 0, 10), "k1", contracts.VerifyValid, 1, 200),
	}}
	second := &events.Batch{Verifications: []contracts.VerificationEvent{
		verification("v3", ms(2026, 2, 1, 0, 0, 10), "k1", contracts.VerifyValid, 1, 200), // a copy
		verification("v4", ms(2026, 2, 1, 0, 0, 50), "k1", contracts.VerifyValid, 5, 400),
		verification("v5", ms(2026, 2, 1, 0, 1, 5), "k2", contracts.VerifyValid, 1, 500),
	}}
	for _, b := range []*events.Batch{first, first, second, second} {
		require.NoError(t, store.Insert(ctx, b))
	}
	require.Equal(t, 3, r.Pending(), "minutes 23:59, 00:00 and 00:01")
	require.NoError(t, r.Flush(ctx))
	require.Zero(t, r.Pending())

	var raw uint64
	require.NoError(t, conn.QueryRow(ctx, "SELECT count() FROM verifications").Scan(&raw))
	require.Greater(t, raw, uint64(5), "the raw table holds copies, so the test proves something")

	cases := []struct {
		table string
		want  []rollupRow
	}{
		{table: "verifications_per_minute", want: []rollupRow{
			{at(2026, 1, 31, 23, 59), "k1", "RATE_LIMITED", 1, 0},
			{at(2026, 1, 31, 23, 59), "k1", "VALID", 1, 2},
			{at(2026, 2, 1, 0, 0), "k1", "VALID", 2, 6},
			{at(2026, 2, 1, 0, 1), "k2", "VALID", 1, 1},
		}},
		{table: "verifications_per_hour", want: []rollupRow{
			{at(2026, 1, 31, 23, 0), "k1", "RATE_LIMITED", 1, 0},
			{at(2026, 1, 31, 23, 0), "k1", "VALID", 1, 2},
			{at(2026, 2, 1, 0, 0), "k1", "VALID", 2, 6},
			{at(2026, 2, 1, 0, 0), "k2", "VALID", 1, 1},
		}},
		{table: "verifications_per_day", want: []rollupRow{
			{at(2026, 1, 31, 0, 0), "k1", "RATE_LIMITED", 1, 0},
			{at(2026, 1, 31, 0, 0), "k1", "VALID", 1, 2},
			{at(2026, 2, 1, 0, 0), "k1", "VALID", 2, 6},
			{at(2026, 2, 1, 0, 0), "k2", "VALID", 1, 1},
		}},
		{table: "verifications_per_month", want: []rollupRow{
			{at(2026, 1, 1, 0, 0), "k1", "RATE_LIMITED", 1, 0},
			{at(2026, 1, 1, 0, 0), "k1", "VALID", 1, 2},
			{at(2026, 2, 1, 0, 0), "k1", "VALID", 2, 6},
			{at(2026, 2, 1, 0, 0), "k2", "VALID", 1, 1},
		}},
	}
	for _, tc := range cases {
		require.Equal(t, tc.want, readVerifications(t, conn, tc.table), tc.table)
	}

	// A stale recompute, one that read the raw table before v4 arrived,
	// lands after the complete one: the higher count still wins.
	require.NoError(t, conn.Exec(ctx, "INSERT INTO verifications_per_minute (bucket, api_id, key_id, owner_id, outcome, verifications, credits_spent, latency_us) "+
		"SELECT toDateTime(1769904000), 'api_ocr', 'k1', 'owner_k1', 'VALID', toUInt64(1), toInt64(1), quantilesState(0.5, 0.95, 0.99)(toInt64(200))"))
	require.Equal(t, cases[0].want, readVerifications(t, conn, "verifications_per_minute"))

	// Latency quantiles merge across rows and levels.
	var p50 []float64
	require.NoError(t, conn.QueryRow(ctx, "SELECT quantilesMerge(0.5, 0.95, 0.99)(latency_us) FROM verifications_per_month FINAL "+
		"WHERE bucket = toDateTime(1769904000)").Scan(&p50))
	require.Equal(t, 400.0, p50[0]) // median of 200, 400 and 500
}

// TestReconcile checks that events stored without their minutes being
// recomputed (the service stopped between insert and refresh) are found and
// repaired by Reconcile at every level, that a second Reconcile finds
// nothing, and that usage rollups are exact too.
func TestReconcile(t *testing.T) {
	conn, _, _ := testschema.DB(t)
	log, _ := testenv.Logger(t)
	ctx := context.Background()
	now := time.Date(2026, 3, 10, 12, 0, 0, 0, time.UTC)
	r := New(Config{Conn: conn, Logger: log, Now: func() time.Time { return now }})
	w := chstore.NewWriter(conn)

	b := &events.Batch{}
	for i := range 30 {
		b.Verifications = append(b.Verifications, verification(fmt.Sprintf("v%d", i),
			now.Add(-time.Duration(i)*17*time.Minute).UnixMilli(), "k1", contracts.VerifyValid, 1, int64(i)))
		b.Usage = append(b.Usage, contracts.UsageEvent{EventID: fmt.Sprintf("u%d", i), JobID: fmt.Sprintf("j%d", i),
			Time: now.Add(-time.Duration(i) * 31 * time.Minute).UnixMilli(), KeyID: "k1", OwnerID: "o1", Producer: "ingress",
			Outcome: contracts.JobSucceeded, Pages: 2, Characters: 10, RecognitionMs: 100})
	}
	// Outside the window: never looked at.
	b.Verifications = append(b.Verifications, verification("old", now.Add(-30*24*time.Hour).UnixMilli(), "k1", contracts.VerifyValid, 1, 1))
	require.NoError(t, w.Insert(ctx, b))
	require.NoError(t, w.Insert(ctx, b)) // and a copy of all of it

	n, err := r.Reconcile(ctx)
	require.NoError(t, err)
	require.Positive(t, n)
	n, err = r.Reconcile(ctx)
	require.NoError(t, err)
	require.Zero(t, n, "nothing left to repair")

	type totals struct{ verifications, jobs, pages uint64 }
	for _, lvl := range levels {
		var got totals
		require.NoError(t, conn.QueryRow(ctx, "SELECT sum(verifications) FROM verifications_per_"+lvl.name+" FINAL").Scan(&got.verifications))
		require.NoError(t, conn.QueryRow(ctx, "SELECT sum(jobs), toUInt64(sum(pages)) FROM usage_per_"+lvl.name+" FINAL").Scan(&got.jobs, &got.pages))
		require.Equal(t, totals{verifications: 30, jobs: 30, pages: 60}, got, lvl.name)
	}
}
