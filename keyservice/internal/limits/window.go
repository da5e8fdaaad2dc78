package limits

// Window is one rate limit's counter: Count units spent in the window that
// starts at Start and closes at End (unix milliseconds).
type Window struct {
	Start int64 `json:"start"`
	Count int64 `json:"count"`
	// End is when the window closes; a closed window counts nothing and is
	// dropped on the next write.
	End int64 `json:"end,omitempty"`
}

// Result is one limit's answer to Take.
type Result struct {
	Limit int64
	// Remaining is what the window still admits after this charge.
	Remaining int64
	// Reset is when the window closes, unix milliseconds.
	Reset    int64
	Exceeded bool
}

// Take charges cost units at now (unix milliseconds) to a fixed-window limit
// of limit units per duration milliseconds. The windows start at multiples
// of duration since the epoch. When the charge does not fit, Exceeded is set
// and the returned window has nothing added. A cost of 0 reports the window
// without charging it, and is exceeded only when the window is already over
// the limit (after the limit was lowered).
func Take(now int64, w Window, limit, duration, cost int64) (Window, Result) {
	start := now - now%duration
	if w.Start != start {
		w = Window{Start: start}
	}
	w.End = start + duration
	res := Result{Limit: limit, Reset: w.End}
	if cost > limit-w.Count {
		res.Exceeded = true
		res.Remaining = max(limit-w.Count, 0)
		return w, res
	}
	w.Count += cost
	res.Remaining = limit - w.Count
	return w, res
}

// openWindows copies the windows still open at now, so the caller can change
// the copy and closed windows (of removed or ad-hoc limits) do not pile up.
func openWindows(ws map[string]Window, now int64) map[string]Window {
	out := make(map[string]Window, len(ws))
	for name, w := range ws {
		if w.End == 0 || w.End > now {
			out[name] = w
		}
	}
	return out
}
