package query

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/micro"
	"github.com/stretchr/testify/require"

	"github.com/ocrstack/ocrstack/analytics/internal/chstore"
	"github.com/ocrstack/ocrstack/analytics/internal/events"
	"github.com/ocrstack/ocrstack/analytics/internal/testenv"
	"github.com/ocrstack/ocrstack/analytics/internal/testschema"
	"github.com/ocrstack/ocrstack/contracts"
)

func msAt(day, hour, minute int) int64 {
	return time.Date(2026, 1, day, hour, minute, 0, 0, time.UTC).UnixMilli()
}

// seed stores a known set of events, every batch twice (as a redelivery
// would), and returns nothing: the expected figures are in the tests.
//
//	owner ada: key k1 (api a1): Jan 1 10:05 VALID cost 2, 10:20 RATE_LIMITED,
//	                            11:00 VALID cost 1; Jan 2 09:00 USAGE_EXCEEDED
//	           key k2 (api a2): Jan 1 10:30 VALID cost 5
//	owner bob: key k3 (api a1): Jan 1 10:40 NOT_FOUND, Jan 3 00:00 VALID cost 1
//	usage: ada/k1 succeeded 3 pages 30 chars 300 bytes, failed 1 page;
//	       ada/k2 succeeded 1 page 10 chars 100 bytes; bob/k3 succeeded 7 pages
func seed(t *testing.T, w *chstore.Writer) {
	t.Helper()
	v := func(id string, at int64, owner, key, api string, outcome contracts.VerifyCode, cost int64) contracts.VerificationEvent {
		return contracts.VerificationEvent{EventID: id, Time: at, OwnerID: owner, KeyID: key, APIID: api, Outcome: outcome, Cost: cost, CreditsRemaining: -1}
	}
	u := func(id string, at int64, owner, key string, outcome contracts.JobStatus, pages, chars, bytes int64) contracts.UsageEvent {
		return contracts.UsageEvent{EventID: id, JobID: id, Time: at, OwnerID: owner, KeyID: key, Producer: "ingress",
			Outcome: outcome, Pages: pages, Characters: chars, Bytes: bytes}
	}
	batches := []*events.Batch{
		{Verifications: []contracts.VerificationEvent{
			v("v1", msAt(1, 10, 5), "ada", "k1", "a1", contracts.VerifyValid, 2),
			v("v2", msAt(1, 10, 20), "ada", "k1", "a1", contracts.VerifyRateLimited, 1),
			v("v3", msAt(1, 11, 0), "ada", "k1", "a1", contracts.VerifyValid, 1),
			v("v4", msAt(2, 9, 0), "ada", "k1", "a1", contracts.VerifyUsageExceeded, 1),
		}},
		{Verifications: []contracts.VerificationEvent{
			v("v5", msAt(1, 10, 30), "ada", "k2", "a2", contracts.VerifyValid, 5),
			v("v6", msAt(1, 10, 40), "bob", "k3", "a1", contracts.VerifyNotFound, 1),
			v("v7", msAt(3, 0, 0), "bob", "k3", "a1", contracts.VerifyValid, 1),
		}, Usage: []contracts.UsageEvent{
			u("u1", msAt(1, 10, 6), "ada", "k1", contracts.JobSucceeded, 3, 30, 300),
			u("u2", msAt(1, 11, 1), "ada", "k1", contracts.JobFailed, 1, 0, 50),
			u("u3", msAt(1, 10, 31), "ada", "k2", contracts.JobSucceeded, 1, 10, 100),
			u("u4", msAt(3, 0, 1), "bob", "k3", contracts.JobSucceeded, 7, 70, 700),
		}},
	}
	for _, b := range batches {
		require.NoError(t, w.Insert(context.Background(), b))
		require.NoError(t, w.Insert(context.Background(), b))
	}
}

// startService seeds a fresh database and serves it on an embedded NATS.
func startService(t *testing.T) *nats.Conn {
	conn, _, _ := testschema.DB(t)
	seed(t, chstore.NewWriter(conn))
	nc, _, _ := testenv.NATS(t)
	log, _ := testenv.Logger(t)
	svc, err := micro.AddService(nc, micro.Config{Name: contracts.AnalyticsName, Version: "0.0.1"})
	require.NoError(t, err)
	t.Cleanup(func() { _ = svc.Stop() })
	require.NoError(t, New(Config{Conn: conn, Logger: log}).Register(svc))
	return nc
}

// request sends body and returns the reply's body and its error code.
func request(t *testing.T, nc *nats.Conn, subject string, body any) ([]byte, string) {
	t.Helper()
	data, err := json.Marshal(body)
	require.NoError(t, err)
	reply, err := nc.Request(subject, data, 10*time.Second)
	require.NoError(t, err)
	return reply.Data, reply.Header.Get(micro.ErrorCodeHeader)
}

// TestVerificationsQuery checks, against a real ClickHouse holding every
// event twice, that each grouping and filter answers exact counts (each
// event once), in the documented order, within the limit, and that a bad
// request is refused with BAD_REQUEST.
func TestVerificationsQuery(t *testing.T) {
	nc := startService(t)
	jan1, jan4 := msAt(1, 0, 0), msAt(4, 0, 0)
	cases := []struct {
		name string
		q    contracts.VerificationsQuery
		want []contracts.VerificationBucket
	}{
		{name: "by hour", q: contracts.VerificationsQuery{Start: jan1, End: jan4, GroupBy: "hour"}, want: []contracts.VerificationBucket{
			{Time: msAt(1, 10, 0), Total: 4, Valid: 2, RateLimited: 1, NotFound: 1, CreditsSpent: 7},
			{Time: msAt(1, 11, 0), Total: 1, Valid: 1, CreditsSpent: 1},
			{Time: msAt(2, 9, 0), Total: 1, UsageExceeded: 1},
			{Time: msAt(3, 0, 0), Total: 1, Valid: 1, CreditsSpent: 1},
		}},
		{name: "by day, one owner", q: contracts.VerificationsQuery{Start: jan1, End: jan4, GroupBy: "day", OwnerID: "ada"}, want: []contracts.VerificationBucket{
			{Time: msAt(1, 0, 0), Total: 4, Valid: 3, RateLimited: 1, CreditsSpent: 8},
			{Time: msAt(2, 0, 0), Total: 1, UsageExceeded: 1},
		}},
		{name: "by month", q: contracts.VerificationsQuery{Start: jan4 - 300*day, End: jan4, GroupBy: "month"}, want: []contracts.VerificationBucket{
			{Time: msAt(1, 0, 0), Total: 7, Valid: 4, RateLimited: 1, NotFound: 1, UsageExceeded: 1, CreditsSpent: 9},
		}},
		{name: "by key, largest first", q: contracts.VerificationsQuery{Start: jan1, End: jan4, GroupBy: "key"}, want: []contracts.VerificationBucket{
			{KeyID: "k1", Total: 4, Valid: 2, RateLimited: 1, UsageExceeded: 1, CreditsSpent: 3},
			{KeyID: "k3", Total: 2, Valid: 1, NotFound: 1, CreditsSpent: 1},
			{KeyID: "k2", Total: 1, Valid: 1, CreditsSpent: 5},
		}},
		{name: "by key, limited", q: contracts.VerificationsQuery{Start: jan1, End: jan4, GroupBy: "key", Limit: 1}, want: []contracts.VerificationBucket{
			{KeyID: "k1", Total: 4, Valid: 2, RateLimited: 1, UsageExceeded: 1, CreditsSpent: 3},
		}},
		{name: "by owner, one key space", q: contracts.VerificationsQuery{Start: jan1, End: jan4, GroupBy: "owner", APIID: "a1"}, want: []contracts.VerificationBucket{
			{OwnerID: "ada", Total: 4, Valid: 2, RateLimited: 1, UsageExceeded: 1, CreditsSpent: 3},
			{OwnerID: "bob", Total: 2, Valid: 1, NotFound: 1, CreditsSpent: 1},
		}},
		{name: "by outcome, one key", q: contracts.VerificationsQuery{Start: jan1, End: jan4, GroupBy: "outcome", KeyID: "k1"}, want: []contracts.VerificationBucket{
			{Outcome: "VALID", Total: 2, Valid: 2, CreditsSpent: 3},
			{Outcome: "RATE_LIMITED", Total: 1, RateLimited: 1},
			{Outcome: "USAGE_EXCEEDED", Total: 1, UsageExceeded: 1},
		}},
		{name: "end is exclusive", q: contracts.VerificationsQuery{Start: msAt(1, 10, 5), End: msAt(1, 11, 0), GroupBy: "outcome"}, want: []contracts.VerificationBucket{
			{Outcome: "VALID", Total: 2, Valid: 2, CreditsSpent: 7},
			{Outcome: "NOT_FOUND", Total: 1, NotFound: 1},
			{Outcome: "RATE_LIMITED", Total: 1, RateLimited: 1},
		}},
		{name: "nothing", q: contracts.VerificationsQuery{Start: jan1, End: jan4, GroupBy: "key", OwnerID: "nobody' OR '1'='1"}, want: []contracts.VerificationBucket{}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			body, code := request(t, nc, contracts.SubjectAnalyticsVerifications, tc.q)
			require.Empty(t, code, string(body))
			var got contracts.VerificationsResponse
			require.NoError(t, json.Unmarshal(body, &got))
			require.Equal(t, tc.want, got.Buckets)
		})
	}

	body, code := request(t, nc, contracts.SubjectAnalyticsVerifications, contracts.VerificationsQuery{Start: jan4, End: jan1, GroupBy: "day"})
	require.Equal(t, string(contracts.CodeBadRequest), code)
	var e contracts.Error
	require.NoError(t, json.Unmarshal(body, &e))
	require.Equal(t, contracts.CodeBadRequest, e.Code)
	require.Contains(t, e.Message, "must be after start")
}

// TestUsageQuery checks that a usage summary counts each event of the
// owner's or keys' once, that ownership and keys combine with OR, and that
// pages, characters and bytes sum succeeded jobs only.
func TestUsageQuery(t *testing.T) {
	nc := startService(t)
	jan1, jan4 := msAt(1, 0, 0), msAt(4, 0, 0)
	cases := []struct {
		name string
		q    contracts.UsageQuery
		want contracts.UsageSummary
	}{
		{name: "owner", q: contracts.UsageQuery{OwnerID: "ada", Start: jan1, End: jan4}, want: contracts.UsageSummary{
			Start: jan1, End: jan4, Verifications: 5, Valid: 3, RateLimited: 1, UsageExceeded: 1, CreditsSpent: 8,
			Jobs: 3, JobsFailed: 1, Pages: 4, Characters: 40, Bytes: 400,
		}},
		{name: "one key", q: contracts.UsageQuery{KeyIDs: []string{"k2"}, Start: jan1, End: jan4}, want: contracts.UsageSummary{
			Start: jan1, End: jan4, Verifications: 1, Valid: 1, CreditsSpent: 5, Jobs: 1, Pages: 1, Characters: 10, Bytes: 100,
		}},
		{name: "owner or key", q: contracts.UsageQuery{OwnerID: "bob", KeyIDs: []string{"k2", "k9"}, Start: jan1, End: jan4}, want: contracts.UsageSummary{
			Start: jan1, End: jan4, Verifications: 3, Valid: 2, CreditsSpent: 6, Jobs: 2, Pages: 8, Characters: 80, Bytes: 800,
		}},
		{name: "first day only", q: contracts.UsageQuery{OwnerID: "ada", Start: jan1, End: msAt(2, 0, 0)}, want: contracts.UsageSummary{
			Start: jan1, End: msAt(2, 0, 0), Verifications: 4, Valid: 3, RateLimited: 1, CreditsSpent: 8,
			Jobs: 3, JobsFailed: 1, Pages: 4, Characters: 40, Bytes: 400,
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			body, code := request(t, nc, contracts.SubjectAnalyticsUsage, tc.q)
			require.Empty(t, code, string(body))
			var got contracts.UsageSummary
			require.NoError(t, json.Unmarshal(body, &got))
			require.Equal(t, tc.want, got)
		})
	}
	body, code := request(t, nc, contracts.SubjectAnalyticsUsage, map[string]any{"start": 0, "end": 1})
	require.Equal(t, string(contracts.CodeBadRequest), code, fmt.Sprint(string(body)))
}
