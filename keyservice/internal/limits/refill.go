package limits

import (
	"time"

	"github.com/ocrstack/ocrstack/contracts"
)

const dayMs = int64(24 * time.Hour / time.Millisecond)

// Refilled returns b with every refill due after b.RefilledAt, up to and
// including now (unix milliseconds), applied. A replace refill sets the
// balance to the amount however many were missed; an add refill adds the
// amount once per refill instant passed, up to MaxCredits. Refill instants
// are UTC midnights: every day, or monthly on Refill.RefillDay (1 when 0),
// moved to the month's last day when the month is shorter.
//
// Refills are applied lazily, by whoever next reads or spends the budget:
// the result depends only on b and now, so every replica computes the same
// balance and the store writes it in the same compare-and-set as the spend.
func (b Budget) Refilled(now int64) Budget {
	if b.Refill == nil || b.Credits == nil {
		return b
	}
	if b.RefilledAt == 0 {
		b.RefilledAt = now
		return b
	}
	n, last := DueRefills(b.RefilledAt, now, *b.Refill)
	if n <= 0 {
		return b
	}
	c := b.Refill.Amount
	if b.Refill.Mode == contracts.RefillAdd {
		c = min(*b.Credits+min(n, MaxCredits/max(b.Refill.Amount, 1))*b.Refill.Amount, MaxCredits)
	}
	b.Credits = &c
	b.RefilledAt = last
	return b
}

// DueRefills counts the refill instants t with from < t <= to (unix
// milliseconds) and returns the latest of them.
func DueRefills(from, to int64, r contracts.Refill) (n, last int64) {
	if to <= from {
		return 0, 0
	}
	if r.Interval == contracts.RefillMonthly {
		day := r.RefillDay
		if day < 1 {
			day = 1
		}
		i := monthIndex(to, day)
		return i - monthIndex(from, day), monthInstant(i, day)
	}
	i := floorDiv(to, dayMs)
	return i - floorDiv(from, dayMs), i * dayMs
}

// monthIndex is the number (years*12 + month) of the month whose refill
// instant is the latest at or before t.
func monthIndex(t int64, day int) int64 {
	y, m, _ := time.UnixMilli(t).UTC().Date()
	i := int64(y)*12 + int64(m) - 1
	if t < monthInstant(i, day) {
		i--
	}
	return i
}

// monthInstant is the refill instant of month index i: day (or the month's
// last day when shorter) at 00:00 UTC.
func monthInstant(i int64, day int) int64 {
	y, m := int(floorDiv(i, 12)), time.Month(i-floorDiv(i, 12)*12+1)
	last := time.Date(y, m+1, 0, 0, 0, 0, 0, time.UTC).Day()
	return time.Date(y, m, min(day, last), 0, 0, 0, 0, time.UTC).UnixMilli()
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if (a%b != 0) && ((a < 0) != (b < 0)) {
		q--
	}
	return q
}
