package service

import (
	"testing"
	"time"

	"github.com/ocrstack/ocrstack/contracts"
	"github.com/stretchr/testify/require"
)

func at(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return t
}

// TestRefillAcrossBoundaries drives keys through refill instants with the
// injected clock: nothing changes up to the last millisecond before one,
// and the first verification or read after it sees the refill, once.
// Daily refills happen at UTC midnight; monthly ones on refillDay, or the
// month's last day when shorter (Feb 28 in 2027, Feb 29 in 2028).
func TestRefillAcrossBoundaries(t *testing.T) {
	type step struct {
		at       string
		spend    int64 // credits to spend at this time; 0 only reads
		wantLeft int64 // remaining after the step
	}
	monthly := func(day int, mode contracts.RefillMode) *contracts.Refill {
		return &contracts.Refill{Interval: contracts.RefillMonthly, Amount: 10, RefillDay: day, Mode: mode}
	}
	cases := []struct {
		name    string
		created string
		refill  *contracts.Refill
		steps   []step
	}{
		{"daily replace", "2026-11-22T12:00:00Z", &contracts.Refill{Interval: contracts.RefillDaily, Amount: 10}, []step{
			{"2026-11-22T12:00:00Z", 7, 3}, {"2026-11-22T23:59:59.999Z", 0, 3}, {"2026-11-23T00:00:00Z", 0, 10},
			{"2026-11-23T00:00:01Z", 4, 6}, {"2026-11-26T08:00:00Z", 1, 9},
		}},
		{"daily add carries over", "2026-11-22T12:00:00Z", &contracts.Refill{Interval: contracts.RefillDaily, Amount: 10, Mode: contracts.RefillAdd}, []step{
			{"2026-11-22T12:00:00Z", 7, 3}, {"2026-11-23T00:00:00Z", 0, 13}, {"2026-11-25T00:00:00Z", 3, 30},
		}},
		{"monthly day 31 in a short February", "2027-01-31T12:00:00Z", monthly(31, ""), []step{
			{"2027-01-31T12:00:00Z", 10, 0}, {"2027-02-27T23:59:59.999Z", 0, 0}, {"2027-02-28T00:00:00Z", 4, 6},
			{"2027-03-30T23:59:59Z", 0, 6}, {"2027-03-31T00:00:00Z", 0, 10},
		}},
		{"monthly day 30 in a leap February", "2028-01-30T00:00:00Z", monthly(30, ""), []step{
			{"2028-01-30T00:00:00Z", 10, 0}, {"2028-02-28T23:59:59Z", 0, 0}, {"2028-02-29T00:00:00Z", 1, 9},
			{"2028-03-29T23:00:00Z", 0, 9}, {"2028-03-30T00:00:00Z", 0, 10},
		}},
		{"monthly day 29 in a leap February", "2028-02-01T00:00:00Z", monthly(29, contracts.RefillAdd), []step{
			{"2028-02-01T00:00:00Z", 10, 0}, {"2028-02-28T23:59:59Z", 0, 0}, {"2028-02-29T00:00:00Z", 0, 10},
			{"2028-03-28T00:00:00Z", 0, 10}, {"2028-03-29T00:00:00Z", 0, 20},
		}},
		{"monthly, months missed, replace once", "2027-01-01T00:00:00Z", monthly(0, ""), []step{
			{"2027-01-01T00:00:00Z", 10, 0}, {"2027-06-15T00:00:00Z", 0, 10},
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := start(t, 1)
			f.clock.Set(at(tc.created))
			created := f.create(t, contracts.CreateKeyRequest{APIID: "api_test", Credits: &contracts.Credits{Remaining: 10, Refill: tc.refill}})
			for _, s := range tc.steps {
				f.clock.Set(at(s.at))
				if s.spend > 0 {
					got := f.verifyReq(t, contracts.VerifyKeyRequest{Key: created.Key, Credits: &contracts.VerifyCredits{Cost: s.spend}})
					require.Equal(t, contracts.VerifyValid, got.Code, s.at)
					require.Equal(t, s.wantLeft, *got.Credits, s.at)
				}
				for range 2 { // reading twice refills once
					info := must[contracts.KeyInfo](t, f, contracts.SubjectKeysGet, contracts.KeyRef{KeyID: created.KeyID})
					require.Equal(t, s.wantLeft, info.Credits.Remaining, s.at)
				}
			}
		})
	}
}

// TestIdentityRefill checks that an identity's credits refill like a key's,
// inside the same compare-and-set as the verification that crosses the
// refill instant.
func TestIdentityRefill(t *testing.T) {
	f := start(t, 1)
	f.clock.Set(at("2026-11-22T12:00:00Z"))
	must[contracts.IdentityRef](t, f, contracts.SubjectIdentitiesCreate, contracts.CreateIdentityRequest{ExternalID: "acme",
		Credits: &contracts.Credits{Remaining: 1, Refill: &contracts.Refill{Interval: contracts.RefillDaily, Amount: 2}}})
	key := f.create(t, contracts.CreateKeyRequest{APIID: "api_test", ExternalID: "acme"})
	steps := []struct {
		at       string
		wantCode contracts.VerifyCode
		wantLeft int64
	}{
		{"2026-11-22T12:00:00Z", "VALID", 0}, {"2026-11-22T23:59:59Z", "USAGE_EXCEEDED", 0},
		{"2026-11-23T00:00:00Z", "VALID", 1}, {"2026-11-23T00:00:01Z", "VALID", 0}, {"2026-11-23T00:00:02Z", "USAGE_EXCEEDED", 0},
	}
	for _, s := range steps {
		f.clock.Set(at(s.at))
		got := f.verify(t, key.Key)
		require.Equal(t, s.wantCode, got.Code, s.at)
		require.Equal(t, s.wantLeft, got.Identity.Credits.Remaining, s.at)
	}
}
