package limits

import (
	"testing"
	"time"

	"github.com/ocrstack/ocrstack/contracts"
)

func ms(s string) int64 {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return t.UnixMilli()
}

// TestDueRefills checks the refill instants: daily at UTC midnight, monthly
// on refillDay or the month's last day when shorter (Feb 28 or 29, Apr 30),
// counting instants strictly after from and up to and including to.
func TestDueRefills(t *testing.T) {
	daily := contracts.Refill{Interval: contracts.RefillDaily, Amount: 1}
	monthly := func(day int) contracts.Refill {
		return contracts.Refill{Interval: contracts.RefillMonthly, Amount: 1, RefillDay: day}
	}
	cases := []struct {
		name     string
		r        contracts.Refill
		from, to string
		wantN    int64
		wantLast string
	}{
		{"daily, same day", daily, "2026-11-22T12:00:00Z", "2026-11-22T23:59:59Z", 0, ""},
		{"daily, at midnight", daily, "2026-11-22T12:00:00Z", "2026-11-23T00:00:00Z", 1, "2026-11-23T00:00:00Z"},
		{"daily, from midnight itself", daily, "2026-11-23T00:00:00Z", "2026-11-23T10:00:00Z", 0, ""},
		{"daily, three missed", daily, "2026-11-22T12:00:00Z", "2026-11-25T01:00:00Z", 3, "2026-11-25T00:00:00Z"},
		{"daily, across the year", daily, "2026-12-31T23:00:00Z", "2027-01-01T00:00:01Z", 1, "2027-01-01T00:00:00Z"},
		{"monthly day 0 means 1", monthly(0), "2026-11-22T00:00:00Z", "2026-12-01T00:00:00Z", 1, "2026-12-01T00:00:00Z"},
		{"monthly, before the day", monthly(15), "2026-11-20T00:00:00Z", "2026-12-14T23:59:59Z", 0, ""},
		{"monthly, on the day", monthly(15), "2026-11-20T00:00:00Z", "2026-12-15T00:00:00Z", 1, "2026-12-15T00:00:00Z"},
		{"day 31 in February 2027 is the 28th", monthly(31), "2027-01-31T00:00:00Z", "2027-02-28T00:00:00Z", 1, "2027-02-28T00:00:00Z"},
		{"day 31, not before Feb 28", monthly(31), "2027-01-31T00:00:00Z", "2027-02-27T23:59:59Z", 0, ""},
		{"day 30 in February 2028 is the 29th", monthly(30), "2028-01-30T00:00:00Z", "2028-02-29T00:00:00Z", 1, "2028-02-29T00:00:00Z"},
		{"day 29 in February 2028 is the 29th", monthly(29), "2028-02-28T12:00:00Z", "2028-02-29T00:00:00Z", 1, "2028-02-29T00:00:00Z"},
		{"day 29 in February 2027 is the 28th", monthly(29), "2027-02-01T00:00:00Z", "2027-02-28T00:00:00Z", 1, "2027-02-28T00:00:00Z"},
		{"day 31 in April is the 30th", monthly(31), "2027-04-01T00:00:00Z", "2027-04-30T00:00:00Z", 1, "2027-04-30T00:00:00Z"},
		{"day 31 back to the 31st in March", monthly(31), "2027-02-28T00:00:00Z", "2027-03-31T00:00:00Z", 1, "2027-03-31T00:00:00Z"},
		{"monthly, a year missed", monthly(1), "2026-01-15T00:00:00Z", "2027-01-15T00:00:00Z", 12, "2027-01-01T00:00:00Z"},
		{"monthly, across the year", monthly(31), "2026-12-30T00:00:00Z", "2027-01-31T00:00:00Z", 2, "2027-01-31T00:00:00Z"},
		{"time going backwards", daily, "2026-11-23T00:00:00Z", "2026-11-22T00:00:00Z", 0, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			n, last := DueRefills(ms(tc.from), ms(tc.to), tc.r)
			if n != tc.wantN {
				t.Fatalf("n = %d, want %d", n, tc.wantN)
			}
			if tc.wantN > 0 && last != ms(tc.wantLast) {
				t.Errorf("last = %s, want %s", time.UnixMilli(last).UTC(), tc.wantLast)
			}
		})
	}
}

// TestRefilled checks that replace sets the balance once however many
// refills were missed, that add adds once per instant and saturates at
// MaxCredits, and that a refill happens once per instant.
func TestRefilled(t *testing.T) {
	from := ms("2026-11-22T12:00:00Z")
	refill := func(mode contracts.RefillMode, amount int64) *contracts.Refill {
		return &contracts.Refill{Interval: contracts.RefillDaily, Amount: amount, Mode: mode}
	}
	cases := []struct {
		name        string
		b           Budget
		now         string
		wantCredits *int64
		wantAt      string
	}{
		{"no refill yet", Budget{Credits: ptr(2), Refill: refill("", 10), RefilledAt: from}, "2026-11-22T23:00:00Z", ptr(2), "2026-11-22T12:00:00Z"},
		{"replace", Budget{Credits: ptr(2), Refill: refill(contracts.RefillReplace, 10), RefilledAt: from}, "2026-11-25T08:00:00Z", ptr(10), "2026-11-25T00:00:00Z"},
		{"replace lowers too", Budget{Credits: ptr(50), Refill: refill("", 10), RefilledAt: from}, "2026-11-23T08:00:00Z", ptr(10), "2026-11-23T00:00:00Z"},
		{"add per missed day", Budget{Credits: ptr(2), Refill: refill(contracts.RefillAdd, 10), RefilledAt: from}, "2026-11-25T08:00:00Z", ptr(32), "2026-11-25T00:00:00Z"},
		{"add saturates", Budget{Credits: ptr(MaxCredits - 1), Refill: refill(contracts.RefillAdd, MaxCredits), RefilledAt: from}, "2027-11-25T08:00:00Z", ptr(MaxCredits), "2027-11-25T00:00:00Z"},
		{"unlimited ignores refill", Budget{Refill: refill("", 10), RefilledAt: from}, "2026-11-25T08:00:00Z", nil, "2026-11-22T12:00:00Z"},
		{"schedule starts when unset", Budget{Credits: ptr(1), Refill: refill("", 10)}, "2026-11-25T08:00:00Z", ptr(1), "2026-11-25T08:00:00Z"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := tc.b.Refilled(ms(tc.now))
			if !samePtr(got.Credits, tc.wantCredits) || got.RefilledAt != ms(tc.wantAt) {
				t.Fatalf("credits %v at %s, want %v at %s", deref(got.Credits), time.UnixMilli(got.RefilledAt).UTC(), deref(tc.wantCredits), tc.wantAt)
			}
			again := got.Refilled(ms(tc.now))
			if !samePtr(again.Credits, got.Credits) {
				t.Error("a second read at the same time refilled again")
			}
		})
	}
}

// BenchmarkDecide measures one decision with a key limit, an identity limit
// and credits on both: the pure part of every verification.
func BenchmarkDecide(b *testing.B) {
	in := Input{Now: 1_767_225_630_000, Enabled: true, Permitted: true, Cost: 1, Limits: []Limit{
		{Name: "r", Limit: 1 << 40, Duration: 60_000, Cost: 1}, {Name: "r", Limit: 1 << 40, Duration: 60_000, Cost: 1, Identity: true},
	}}
	key, ident := Budget{Credits: ptr(1 << 40)}, &Budget{Credits: ptr(1 << 40)}
	b.ReportAllocs()
	for b.Loop() {
		_, key, ident = Decide(in, key, ident)
	}
}
