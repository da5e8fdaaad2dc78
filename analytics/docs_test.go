package main

import (
	"context"
	"fmt"
	"os"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/stretchr/testify/require"

	"github.com/ocrstack/ocrstack/analytics/internal/chstore"
	"github.com/ocrstack/ocrstack/analytics/internal/events"
	"github.com/ocrstack/ocrstack/analytics/internal/rollup"
	"github.com/ocrstack/ocrstack/analytics/internal/testenv"
	"github.com/ocrstack/ocrstack/analytics/internal/testschema"
	"github.com/ocrstack/ocrstack/contracts"
)

// TestDocsQueries runs every sql block of docs/analytics.md against a real
// ClickHouse holding a known set of events, each batch stored twice (as
// redeliveries would) and rolled up by the real refresher, and checks the
// exact answers of several: the documented queries cannot rot, and the
// figures they give count each event once.
func TestDocsQueries(t *testing.T) {
	doc, err := os.ReadFile("../docs/analytics.md")
	require.NoError(t, err)
	blocks := regexp.MustCompile("(?s)```sql\n(.*?)```").FindAllStringSubmatch(string(doc), -1)
	require.GreaterOrEqual(t, len(blocks), 12, "the page promises at least 12 example queries")

	conn, _, _ := testschema.DB(t)
	seedDocs(t, conn)

	// Expected answers, by the number in each query's first comment; one
	// row per line, columns separated by a tab.
	want := map[string][]string{
		"1": {
			"ada\t2026-01-05\t4\t3\t4", "bob\t2026-01-05\t2\t1\t1",
			"ada\t2026-01-06\t1\t1\t1", "bob\t2026-01-06\t3\t1\t1",
			"ada\t2026-02-02\t1\t1\t1",
		},
		"2": {"k_ada1\tada\t3\t4", "k_ada2\tada\t2\t1", "k_bob\tbob\t1\t2", "k_bob_int\tbob\t1\t3"},
		"3": {"api_internal\t3\t2\t0.6667", "api_ocr\t7\t1\t0.1429"},
		"4": {"1\t1\t200", "2\t1\t500", "3\t1\t900", "5\t1\t1500"},
		"5": {"k_ada1\t3\t97\t2026-01-06 09:00:00", "k_ada2\t2\t48\t2026-01-05 11:00:00",
			"k_bob\t1\t0\t2026-01-05 11:31:00", "k_bob_int\t1\t4\t2026-01-06 09:07:00"},
		"6":  {"TIMEOUT\t1\t1", "UNREADABLE_IMAGE\t1\t1"},
		"8":  {"ada\t2026-01-01\t2\t4", "bob\t2026-01-01\t1\t2", "ada\t2026-02-01\t1\t5"},
		"9":  {"ada\t2\t1\t0", "bob\t1\t1\t0"},
		"10": {"ada\t2026-01-05\t3\t1\t4\t1000", "bob\t2026-01-05\t1\t0\t2\t400", "ada\t2026-01-06\t1\t1\t0\t0", "ada\t2026-02-02\t1\t0\t5\t2500"},
		"11": {"k_bob_int\tRATE_LIMITED\t2"},
		"12": {"2026-01-05 10:00:00\t2\t0", "2026-01-05 10:01:00\t1\t1"},
		"13": {"ada\t9\t388.9\t1667", "bob\t2\t200\t1000"},
		"16": {"2026-01-05\t6\t6", "2026-01-06\t4\t4", "2026-02-02\t1\t1"},
	}
	number := regexp.MustCompile(`^-- (\d+)\.`)
	seen := map[string]bool{}
	for _, b := range blocks {
		query := strings.TrimSpace(b[1])
		m := number.FindStringSubmatch(query)
		require.NotNil(t, m, "each query starts with a numbered comment: %s", query)
		t.Run("query "+m[1], func(t *testing.T) {
			got := runQuery(t, conn, query)
			if w, ok := want[m[1]]; ok {
				require.Equal(t, w, got, query)
				seen[m[1]] = true
			}
		})
	}
	require.Len(t, seen, len(want), "every checked query is still in the page")
}

// runQuery executes query and renders its rows.
func runQuery(t *testing.T, conn driver.Conn, query string) []string {
	t.Helper()
	rows, err := conn.Query(context.Background(), query)
	require.NoError(t, err)
	defer rows.Close()
	types := rows.ColumnTypes()
	var out []string
	for rows.Next() {
		dest := make([]any, len(types))
		for i, ct := range types {
			dest[i] = reflect.New(ct.ScanType()).Interface()
		}
		require.NoError(t, rows.Scan(dest...))
		cells := make([]string, len(dest))
		for i, d := range dest {
			cells[i] = render(reflect.ValueOf(d).Elem().Interface(), types[i].DatabaseTypeName())
		}
		out = append(out, strings.Join(cells, "\t"))
	}
	require.NoError(t, rows.Err())
	return out
}

func render(v any, dbType string) string {
	switch v := v.(type) {
	case time.Time:
		if dbType == "Date" {
			return v.UTC().Format("2006-01-02")
		}
		return v.UTC().Format("2006-01-02 15:04:05")
	case float64:
		return fmt.Sprintf("%g", v)
	}
	return fmt.Sprint(v)
}

// seedDocs stores the events the page's answers are computed from, every
// batch twice, through the writer the service uses, and rolls them up.
func seedDocs(t *testing.T, conn driver.Conn) {
	t.Helper()
	at := func(month time.Month, day, hour, minute, second int) int64 {
		return time.Date(2026, month, day, hour, minute, second, 0, time.UTC).UnixMilli()
	}
	type vrow struct {
		id              string
		time            int64
		owner, key, api string
		outcome         contracts.VerifyCode
		cost, left, lat int64
	}
	vs := []vrow{
		{"v1", at(1, 5, 10, 0, 0), "ada", "k_ada1", "api_ocr", contracts.VerifyValid, 1, 99, 100},
		{"v2", at(1, 5, 10, 0, 30), "ada", "k_ada1", "api_ocr", contracts.VerifyValid, 1, 98, 200},
		{"v3", at(1, 5, 10, 1, 0), "ada", "k_ada1", "api_ocr", contracts.VerifyRateLimited, 1, 98, 50},
		{"v4", at(1, 5, 11, 0, 0), "ada", "k_ada2", "api_ocr", contracts.VerifyValid, 2, 48, 300},
		{"v5", at(1, 5, 11, 30, 0), "bob", "k_bob", "api_ocr", contracts.VerifyValid, 1, 0, 400},
		{"v6", at(1, 5, 11, 31, 0), "bob", "k_bob", "api_ocr", contracts.VerifyUsageExceeded, 1, 0, 80},
		{"v7", at(1, 6, 9, 0, 0), "ada", "k_ada1", "api_ocr", contracts.VerifyValid, 1, 97, 150},
		{"v8", at(1, 6, 9, 5, 0), "bob", "k_bob_int", "api_internal", contracts.VerifyRateLimited, 1, 5, 60},
		{"v9", at(1, 6, 9, 6, 0), "bob", "k_bob_int", "api_internal", contracts.VerifyRateLimited, 1, 5, 70},
		{"v10", at(1, 6, 9, 7, 0), "bob", "k_bob_int", "api_internal", contracts.VerifyValid, 1, 4, 90},
		{"v11", at(2, 2, 8, 0, 0), "ada", "k_ada1", "api_ocr", contracts.VerifyValid, 1, 96, 120},
	}
	b := &events.Batch{}
	for _, v := range vs {
		b.Verifications = append(b.Verifications, contracts.VerificationEvent{EventID: v.id, Time: v.time, OwnerID: v.owner,
			KeyID: v.key, APIID: v.api, Outcome: v.outcome, Cost: v.cost, CreditsRemaining: v.left, LatencyUs: v.lat})
	}
	job := func(id string, time int64, owner, key string, outcome contracts.JobStatus, code contracts.Code, pages, chars, bytes, ms int64) contracts.UsageEvent {
		return contracts.UsageEvent{EventID: id + ".usage", JobID: id, Time: time, Producer: "ingress", OwnerID: owner, KeyID: key,
			Outcome: outcome, ErrorCode: code, Pages: pages, Characters: chars, Bytes: bytes, RecognitionMs: ms, Languages: []string{"eng"}}
	}
	b.Usage = []contracts.UsageEvent{
		job("u1", at(1, 5, 10, 0, 5), "ada", "k_ada1", contracts.JobSucceeded, "", 1, 100, 1000, 200),
		job("u2", at(1, 5, 10, 0, 35), "ada", "k_ada1", contracts.JobSucceeded, "", 3, 900, 5000, 900),
		job("u3", at(1, 5, 11, 0, 5), "ada", "k_ada2", contracts.JobFailed, contracts.CodeUnreadableImage, 0, 0, 300, 10),
		job("u4", at(1, 5, 11, 30, 5), "bob", "k_bob", contracts.JobSucceeded, "", 2, 400, 2000, 500),
		job("u5", at(1, 6, 9, 0, 5), "ada", "k_ada1", contracts.JobFailed, contracts.CodeTimeout, 1, 0, 800, 30000),
		job("u6", at(2, 2, 8, 0, 5), "ada", "k_ada1", contracts.JobSucceeded, "", 5, 2500, 9000, 1500),
	}
	notice := func(id string, time int64, owner, key string, left, threshold int64) contracts.NoticeEvent {
		return contracts.NoticeEvent{EventID: id, Time: time, Kind: contracts.NoticeLowCredits, OwnerID: owner, KeyID: key,
			APIID: "api_ocr", CreditsRemaining: left, Threshold: threshold}
	}
	b.Notices = []contracts.NoticeEvent{
		notice("n1", at(1, 6, 9, 0, 1), "ada", "k_ada1", 9, 10),
		notice("n2", at(2, 2, 8, 0, 1), "ada", "k_ada1", 0, 10),
		notice("n3", at(1, 5, 11, 31, 1), "bob", "k_bob", 0, 5),
	}
	log, _ := testenv.Logger(t)
	r := rollup.New(rollup.Config{Conn: conn, Logger: log})
	store := r.Track(chstore.NewWriter(conn))
	ctx := context.Background()
	require.NoError(t, store.Insert(ctx, b))
	require.NoError(t, store.Insert(ctx, b))
	require.NoError(t, r.Flush(ctx))
}
