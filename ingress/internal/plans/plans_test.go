package plans

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ocrstack/ocrstack/contracts"
	"github.com/stretchr/testify/require"
)

// TestDefault checks that the shipped catalogue holds the tutorial's plans
// with its figures, and what each maps to in keyservice.
func TestDefault(t *testing.T) {
	c := Default()
	require.Equal(t, "trial", c.SignupPlan)
	require.Equal(t, "pro", c.UpgradePlan)
	cases := []struct {
		id           string
		wantCredits  int64
		wantRefill   string
		wantLimits   []contracts.Ratelimit
		wantLifetime time.Duration
		wantPrice    int64
	}{
		{"trial", 100, RefillNone, []contracts.Ratelimit{{Name: "requests", Limit: 6, Duration: 60_000, AutoApply: true}}, 30 * 24 * time.Hour, 0},
		{"free", 100, RefillMonthly, []contracts.Ratelimit{{Name: "requests", Limit: 6, Duration: 60_000, AutoApply: true}}, 0, 0},
		{"pro", 10_000, RefillMonthly, []contracts.Ratelimit{{Name: "requests", Limit: 100, Duration: 60_000, AutoApply: true}}, 0, 1000},
		{"business", 100_000, RefillMonthly, []contracts.Ratelimit{}, 0, 10_000},
	}
	for _, tc := range cases {
		t.Run(tc.id, func(t *testing.T) {
			p, ok := c.Get(tc.id)
			require.True(t, ok)
			require.Equal(t, tc.wantCredits, p.Credits)
			require.Equal(t, tc.wantRefill, p.Refill)
			require.Equal(t, tc.wantLimits, p.KeyserviceRatelimits())
			require.Equal(t, tc.wantLifetime, time.Duration(p.KeyLifetime))
			require.Equal(t, tc.wantPrice, p.PriceCents)
			kc := p.KeyserviceCredits()
			require.Equal(t, tc.wantCredits, kc.Remaining)
			if tc.wantRefill == RefillMonthly {
				require.Equal(t, &contracts.Refill{Interval: contracts.RefillMonthly, Amount: tc.wantCredits, RefillDay: 1, Mode: contracts.RefillReplace}, kc.Refill)
			} else {
				require.Nil(t, kc.Refill)
			}
		})
	}
}

// TestParseErrors checks that a wrong plans file is refused with an error
// wrapping ErrInvalid that names the field.
func TestParseErrors(t *testing.T) {
	ok := `{"id":"p","name":"P","credits":10,"refill":"monthly","ratelimits":[]}`
	wrap := func(plans string) string {
		return `{"signupPlan":"p","upgradePlan":"p","plans":[` + plans + `]}`
	}
	cases := []struct {
		name     string
		file     string
		wantText string
	}{
		{"not json", `{`, "unexpected EOF"},
		{"unknown field", `{"signupPlan":"p","upgradePlan":"p","plans":[` + ok + `],"extra":1}`, `unknown field "extra"`},
		{"unknown plan field", wrap(`{"id":"p","name":"P","credits":10,"refill":"monthly","ratelimits":[],"credit":5}`), `unknown field "credit"`},
		{"trailing data", wrap(ok) + `{}`, "data after"},
		{"no plans", `{"signupPlan":"p","upgradePlan":"p","plans":[]}`, "plans: want 1"},
		{"missing signup plan", `{"signupPlan":"x","upgradePlan":"p","plans":[` + ok + `]}`, `signupPlan "x": no such plan`},
		{"bad id", wrap(`{"id":"Pro!","name":"P","credits":10,"refill":"monthly","ratelimits":[]}`), "plans[0].id"},
		{"duplicate id", wrap(ok + `,` + ok), `plans[1].id "p": used twice`},
		{"zero credits", wrap(`{"id":"p","name":"P","credits":0,"refill":"monthly","ratelimits":[]}`), "plans[0].credits"},
		{"bad refill", wrap(`{"id":"p","name":"P","credits":10,"refill":"weekly","ratelimits":[]}`), "plans[0].refill"},
		{"bad lifetime", wrap(`{"id":"p","name":"P","credits":10,"refill":"none","keyLifetime":"soon","ratelimits":[]}`), "keyLifetime"},
		{"threshold over credits", wrap(`{"id":"p","name":"P","credits":10,"refill":"monthly","lowCreditThreshold":10,"ratelimits":[]}`), "lowCreditThreshold"},
		{"ratelimits missing", wrap(`{"id":"p","name":"P","credits":10,"refill":"monthly"}`), "ratelimits: required"},
		{"short window", wrap(`{"id":"p","name":"P","credits":10,"refill":"monthly","ratelimits":[{"name":"r","limit":1,"duration":"10ms"}]}`), "ratelimits[0].duration"},
		{"duplicate limit", wrap(`{"id":"p","name":"P","credits":10,"refill":"monthly","ratelimits":[{"name":"r","limit":1,"duration":"1s"},{"name":"r","limit":1,"duration":"1s"}]}`), `ratelimits[1].name "r": used twice`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(tc.file))
			require.Error(t, err)
			require.True(t, errors.Is(err, ErrInvalid), err)
			require.Contains(t, err.Error(), tc.wantText)
		})
	}
}

// TestLoad checks that OCR_PLANS_FILE's path replaces the shipped
// catalogue, and that an empty path means the shipped one.
func TestLoad(t *testing.T) {
	c, err := Load("")
	require.NoError(t, err)
	require.Len(t, c.Plans, 4)
	path := filepath.Join(t.TempDir(), "plans.json")
	require.NoError(t, os.WriteFile(path, []byte(`{"signupPlan":"x","upgradePlan":"x","plans":[{"id":"x","name":"X","credits":5,"refill":"none","ratelimits":[]}]}`), 0o600))
	c, err = Load(path)
	require.NoError(t, err)
	require.Equal(t, int64(5), c.Signup().Credits)
	_, err = Load(filepath.Join(t.TempDir(), "missing.json"))
	require.Error(t, err)
	require.NoError(t, os.WriteFile(path, []byte(`{}`), 0o600))
	_, err = Load(path)
	require.ErrorIs(t, err, ErrInvalid)
	require.True(t, strings.Contains(err.Error(), path), err)
}

// FuzzParse checks that any input is either a valid catalogue whose plans
// keyservice would accept, or an error wrapping ErrInvalid; never a panic.
func FuzzParse(f *testing.F) {
	f.Add(string(defaultFile))
	f.Add(`{"signupPlan":"p","upgradePlan":"p","plans":[{"id":"p","name":"P","credits":10,"refill":"monthly","ratelimits":[{"name":"r","limit":1,"duration":"1s"}]}]}`)
	f.Add(`{"plans":null}`)
	f.Add(`[]`)
	f.Add(`{"signupPlan":"p","upgradePlan":"p","plans":[{"id":"p","keyLifetime":"-1h"}]}`)
	f.Fuzz(func(t *testing.T, s string) {
		c, err := Parse([]byte(s))
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("error does not wrap ErrInvalid: %v", err)
			}
			return
		}
		if _, ok := c.Get(c.SignupPlan); !ok {
			t.Fatal("valid catalogue without its signup plan")
		}
		for _, p := range c.Plans {
			if p.Credits < 1 || p.LowCreditThreshold >= p.Credits {
				t.Fatalf("plan %q accepted with credits %d threshold %d", p.ID, p.Credits, p.LowCreditThreshold)
			}
			for _, rl := range p.KeyserviceRatelimits() {
				if rl.Duration < 1000 || rl.Limit < 1 {
					t.Fatalf("plan %q accepted with limit %+v", p.ID, rl)
				}
			}
		}
	})
}
