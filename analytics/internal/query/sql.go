package query

import (
	"context"
	"fmt"
	"strings"

	"github.com/ocrstack/ocrstack/contracts"
)

// grouping is how VerificationsQuery.GroupBy groups rows: by a time bucket
// (UTC, as unix seconds) or by a column.
type grouping struct {
	timeExpr, column string
}

var groupings = map[string]grouping{
	contracts.GroupByHour:    {timeExpr: "toUInt32(toStartOfHour(time, 'UTC'))"},
	contracts.GroupByDay:     {timeExpr: "toUInt32(toStartOfDay(time, 'UTC'))"},
	contracts.GroupByMonth:   {timeExpr: "toUInt32(toDateTime(toStartOfMonth(time, 'UTC'), 'UTC'))"},
	contracts.GroupByKey:     {column: "key_id"},
	contracts.GroupByOwner:   {column: "owner_id"},
	contracts.GroupByOutcome: {column: "outcome"},
}

// outcomeCounts are the per-outcome columns of a bucket, in the order of
// VerificationBucket's fields.
var outcomeCounts = []contracts.VerifyCode{
	contracts.VerifyValid, contracts.VerifyNotFound, contracts.VerifyForbidden, contracts.VerifyInsufficientPermissions,
	contracts.VerifyUsageExceeded, contracts.VerifyRateLimited, contracts.VerifyDisabled, contracts.VerifyExpired,
}

// seconds turns a range bound in unix milliseconds into the first stored
// second at or after it: rows are stored to the second, and a row counts
// when the start of its second lies in [Start, End).
func seconds(ms int64) int64 { return (ms + 999) / 1000 }

// verificationsSQL is the query answering q, with its arguments. It reads
// the raw table with FINAL, so that the answer is exact and includes events
// stored a moment ago.
func verificationsSQL(q contracts.VerificationsQuery) (string, []any) {
	g := groupings[q.GroupBy]
	timeExpr, column := "toUInt32(0)", "''"
	order := "t ASC"
	if g.column != "" {
		column = g.column
		order = "total DESC, k ASC"
	} else {
		timeExpr = g.timeExpr
	}
	var cols strings.Builder
	for _, o := range outcomeCounts {
		fmt.Fprintf(&cols, ", countIf(outcome = '%s')", o)
	}
	where := []string{"time >= toDateTime(?)", "time < toDateTime(?)"}
	args := []any{seconds(q.Start), seconds(q.End)}
	for _, f := range []struct{ col, v string }{{"api_id", q.APIID}, {"key_id", q.KeyID}, {"owner_id", q.OwnerID}} {
		if f.v != "" {
			where = append(where, f.col+" = ?")
			args = append(args, f.v)
		}
	}
	return fmt.Sprintf("SELECT %s AS t, %s AS k, count() AS total%s, sumIf(cost, outcome = 'VALID') "+
		"FROM verifications FINAL WHERE %s GROUP BY t, k ORDER BY %s LIMIT %d",
		timeExpr, column, cols.String(), strings.Join(where, " AND "), order, q.Limit), args
}

// ownerFilter is the WHERE condition selecting q's rows, with arguments.
func ownerFilter(q contracts.UsageQuery) (string, []any) {
	args := []any{seconds(q.Start), seconds(q.End)}
	var who string
	switch {
	case q.OwnerID != "" && len(q.KeyIDs) > 0:
		who = "(owner_id = ? OR has(?, key_id))"
		args = append(args, q.OwnerID, q.KeyIDs)
	case q.OwnerID != "":
		who = "owner_id = ?"
		args = append(args, q.OwnerID)
	default:
		who = "has(?, key_id)"
		args = append(args, q.KeyIDs)
	}
	return "time >= toDateTime(?) AND time < toDateTime(?) AND " + who, args
}

// verifications fills q's bucket list.
func (s *Service) verifications(ctx context.Context, q contracts.VerificationsQuery) (contracts.VerificationsResponse, error) {
	query, args := verificationsSQL(q)
	rows, err := s.cfg.Conn.Query(ctx, query, args...)
	if err != nil {
		return contracts.VerificationsResponse{}, fmt.Errorf("query verifications: %w", err)
	}
	defer rows.Close()
	out := contracts.VerificationsResponse{Buckets: []contracts.VerificationBucket{}}
	g := groupings[q.GroupBy]
	for rows.Next() {
		var (
			t      uint32
			k      string
			total  uint64
			counts [8]uint64
			spent  int64
		)
		dest := []any{&t, &k, &total}
		for i := range counts {
			dest = append(dest, &counts[i])
		}
		dest = append(dest, &spent)
		if err := rows.Scan(dest...); err != nil {
			return contracts.VerificationsResponse{}, fmt.Errorf("read verifications: %w", err)
		}
		b := contracts.VerificationBucket{
			Total: int64(total), Valid: int64(counts[0]), NotFound: int64(counts[1]), Forbidden: int64(counts[2]),
			InsufficientPermissions: int64(counts[3]), UsageExceeded: int64(counts[4]), RateLimited: int64(counts[5]),
			Disabled: int64(counts[6]), Expired: int64(counts[7]), CreditsSpent: spent,
		}
		switch {
		case g.timeExpr != "":
			b.Time = int64(t) * 1000
		case q.GroupBy == contracts.GroupByKey:
			b.KeyID = k
		case q.GroupBy == contracts.GroupByOwner:
			b.OwnerID = k
		default:
			b.Outcome = k
		}
		out.Buckets = append(out.Buckets, b)
	}
	if err := rows.Err(); err != nil {
		return contracts.VerificationsResponse{}, fmt.Errorf("read verifications: %w", err)
	}
	return out, nil
}

// usage sums what q's owner or keys used, from the raw tables with FINAL.
func (s *Service) usage(ctx context.Context, q contracts.UsageQuery) (contracts.UsageSummary, error) {
	out := contracts.UsageSummary{Start: q.Start, End: q.End}
	where, args := ownerFilter(q)
	var total, valid, limited, exceeded uint64
	err := s.cfg.Conn.QueryRow(ctx, "SELECT count(), countIf(outcome = 'VALID'), countIf(outcome = 'RATE_LIMITED'), "+
		"countIf(outcome = 'USAGE_EXCEEDED'), sumIf(cost, outcome = 'VALID') FROM verifications FINAL WHERE "+where, args...).
		Scan(&total, &valid, &limited, &exceeded, &out.CreditsSpent)
	if err != nil {
		return out, fmt.Errorf("query verifications: %w", err)
	}
	out.Verifications, out.Valid, out.RateLimited, out.UsageExceeded = int64(total), int64(valid), int64(limited), int64(exceeded)
	var jobs, failed uint64
	err = s.cfg.Conn.QueryRow(ctx, "SELECT count(), countIf(outcome = 'failed'), sumIf(pages, outcome = 'succeeded'), "+
		"sumIf(characters, outcome = 'succeeded'), sumIf(bytes, outcome = 'succeeded') FROM usage FINAL WHERE "+where, args...).
		Scan(&jobs, &failed, &out.Pages, &out.Characters, &out.Bytes)
	if err != nil {
		return out, fmt.Errorf("query usage: %w", err)
	}
	out.Jobs, out.JobsFailed = int64(jobs), int64(failed)
	return out, nil
}
