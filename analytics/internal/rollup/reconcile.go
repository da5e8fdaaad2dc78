package rollup

import (
	"context"
	"fmt"
	"slices"
)

// Reconcile compares, level by level from minutes to months, each rollup
// bucket's event count with its source's (the raw table for minutes, the
// level below for the others) over the last Window, and recomputes every
// bucket that differs. It returns how many buckets it recomputed. Levels
// go in order, so a repaired minute is seen by the hour check after it.
func (r *Refresher) Reconcile(ctx context.Context) (int, error) {
	since := r.cfg.Now().Add(-r.cfg.Window)
	repaired := 0
	for i, lvl := range levels {
		from := lvl.start(since)
		for _, f := range families {
			stale, err := r.stale(ctx, f, i, f.sourceCountsSQL(i, from), f.countsSQL(i, from))
			if err != nil {
				return repaired, err
			}
			if err := r.recompute(ctx, f, i, stale); err != nil {
				return repaired, err
			}
			repaired += len(stale)
		}
	}
	return repaired, nil
}

// stale returns, sorted, the buckets whose counts differ between the two
// queries.
func (r *Refresher) stale(ctx context.Context, f family, i int, sourceSQL, rollupSQL string) ([]uint32, error) {
	want, err := r.counts(ctx, sourceSQL)
	if err != nil {
		return nil, fmt.Errorf("count %s source: %w", f.table(i), err)
	}
	have, err := r.counts(ctx, rollupSQL)
	if err != nil {
		return nil, fmt.Errorf("count %s: %w", f.table(i), err)
	}
	var out []uint32
	for b, n := range want {
		if have[b] != n {
			out = append(out, b)
		}
	}
	// A rollup bucket whose source has nothing is impossible (events are
	// never deleted) unless the raw table was truncated by hand: recompute
	// inserts nothing then, so it is left alone.
	slices.Sort(out)
	return out, nil
}

func (r *Refresher) counts(ctx context.Context, query string) (map[uint32]uint64, error) {
	rows, err := r.cfg.Conn.Query(ctx, query)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[uint32]uint64{}
	for rows.Next() {
		var (
			b uint32
			n uint64
		)
		if err := rows.Scan(&b, &n); err != nil {
			return nil, err
		}
		out[b] = n
	}
	return out, rows.Err()
}
