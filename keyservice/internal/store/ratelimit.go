package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/ocrstack/ocrstack/keyservice/internal/limits"
)

// LimitSpec is one standalone rate limit to charge: Cost units of Limit per
// Duration milliseconds on Identifier within Namespace.
type LimitSpec struct {
	Namespace  string
	Identifier string
	Limit      int64
	Duration   int64
	Cost       int64
}

// Limit charges every spec at now (unix ms), all or nothing: when any would
// exceed its limit, none is charged. A namespace and identifier share one
// window in rl.<tag>, across replicas, whatever limit or duration a caller
// gives; the entry expires with its window. The charges are one
// compare-and-set (one atomic batch for several entries), retried on
// conflict, so no window ever admits more than its limit.
func (s *Store) Limit(ctx context.Context, specs []LimitSpec, now int64) ([]limits.Result, bool, error) {
	for range maxAttempts {
		results, ws, passed, err := s.chargeLimits(ctx, specs, now)
		if err != nil || !passed || len(ws) == 0 {
			return results, passed, err
		}
		err = s.state.commit(ctx, ws...)
		if errors.Is(err, errRevision) {
			continue
		}
		return results, err == nil, err
	}
	return nil, false, fmt.Errorf("rate limit: %w", ErrContention)
}

type slot struct {
	rev     uint64
	w       limits.Window
	changed bool
}

// chargeLimits reads the windows, decides every spec in order (a repeated
// entry sees the earlier charges) and returns the writes to commit.
func (s *Store) chargeLimits(ctx context.Context, specs []LimitSpec, now int64) ([]limits.Result, []write, bool, error) {
	slots := map[string]*slot{}
	var order []string
	results := make([]limits.Result, len(specs))
	passed := true
	for i, sp := range specs {
		key := "rl." + tag(sp.Namespace, sp.Identifier)
		sl := slots[key]
		if sl == nil {
			e, err := s.state.get(ctx, key)
			if err != nil {
				return nil, nil, false, err
			}
			sl = &slot{rev: e.rev}
			if e.live {
				if err := json.Unmarshal(e.value, &sl.w); err != nil || sl.w.Count < 0 {
					return nil, nil, false, fmt.Errorf("%w: window %s: %v", ErrCorrupt, key, err)
				}
			}
			slots[key] = sl
			order = append(order, key)
		}
		w, res := limits.Take(now, sl.w, sp.Limit, sp.Duration, sp.Cost)
		results[i] = res
		if res.Exceeded {
			passed = false
			continue
		}
		sl.w, sl.changed = w, sl.changed || sp.Cost > 0
	}
	if !passed {
		for i := range results {
			if !results[i].Exceeded {
				results[i].Remaining = min(results[i].Remaining+specs[i].Cost, specs[i].Limit)
			}
		}
		return results, nil, false, nil
	}
	var ws []write
	for _, key := range order {
		sl := slots[key]
		if !sl.changed {
			continue
		}
		b, err := json.Marshal(sl.w)
		if err != nil {
			return nil, nil, false, fmt.Errorf("encode window: %w", err)
		}
		// A minute past the window's end, so replicas whose clocks differ
		// by less than that never see a live window vanish.
		ttl := time.Duration(sl.w.End-now)*time.Millisecond + time.Minute
		ws = append(ws, write{key: key, value: b, rev: sl.rev, ttl: ttl})
	}
	return results, ws, true, nil
}
