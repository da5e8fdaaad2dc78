// Package plans reads the catalogue of plans an account can be on: what
// credits it gets, how they refill, which rate limits apply, how long its
// keys live, and when it is told its credits run low.
//
// The catalogue is a JSON file. The one shipped with the repository
// (plans.json, embedded in the binary) holds the tutorial's plans: a trial
// for POST /signup, Free, Pro ($10) and Business ($100); OCR_PLANS_FILE
// names another. It is decoded strictly (unknown fields, duplicate ids, a
// missing plan or a value keyservice would refuse are errors naming the
// field), so a typo stops the ingress at start-up rather than handing out
// keys on a plan nobody meant.
//
// A plan is applied to an account (a keyservice identity), not to each key:
// its credits and rate limits are the identity's, shared by every key of
// the account, so a change of plan is one atomic update however many keys
// the account has.
package plans

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"regexp"
	"time"

	"github.com/ocrstack/ocrstack/contracts"
)

//go:embed plans.json
var defaultFile []byte

// ErrInvalid is wrapped by every error about the content of a plans file;
// its message names the field and what is wrong with it.
var ErrInvalid = errors.New("invalid plans file")

// Refill values.
const (
	// RefillNone: the credits are granted once (a trial).
	RefillNone = "none"
	// RefillMonthly: the balance is set back to Credits at 00:00 UTC on
	// the first of every month.
	RefillMonthly = "monthly"
)

// Bounds keyservice puts on what a plan maps to.
const (
	maxCredits       = 1 << 53
	maxRatelimits    = 16
	maxRatelimitName = 64
	maxLimitDuration = 366 * 24 * time.Hour
	maxKeyLifetime   = 10 * 366 * 24 * time.Hour
	maxPlans         = 100
	maxFileBytes     = 1 << 20
)

var planID = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,31}$`)

// Plan is one entry of the catalogue.
type Plan struct {
	// ID names the plan in requests and in an account's record: 1-32 of
	// [a-z0-9_-], starting with a letter or digit.
	ID string `json:"id"`
	// Name is shown to people ("Pro").
	Name string `json:"name"`
	// PriceCents is the monthly price in US cents; informational.
	PriceCents int64 `json:"priceCents"`
	// Credits is the number of OCR requests granted: the balance after
	// each monthly refill, or in total when Refill is none. 1 to 2^53.
	Credits int64 `json:"credits"`
	// Refill is "monthly" or "none".
	Refill string `json:"refill"`
	// KeyLifetime is how long the account's keys live after sign-up, a Go
	// duration ("720h"); empty means they never expire.
	KeyLifetime Duration `json:"keyLifetime,omitempty"`
	// Ratelimits apply to every OCR request of the account, all keys
	// together; empty means no rate limit.
	Ratelimits []Ratelimit `json:"ratelimits"`
	// LowCreditThreshold: a verification that leaves the balance at or
	// under it, from above, emits a low_credits notice; 0 means never.
	// Below Credits.
	LowCreditThreshold int64 `json:"lowCreditThreshold"`
}

// Ratelimit is a named limit: Limit requests per Duration (at least 1s).
type Ratelimit struct {
	Name     string   `json:"name"`
	Limit    int64    `json:"limit"`
	Duration Duration `json:"duration"`
}

// Duration is a time.Duration written as a Go duration string ("1m").
type Duration time.Duration

// UnmarshalJSON reads a Go duration string.
func (d *Duration) UnmarshalJSON(b []byte) error {
	// An UnmarshalTypeError gets the field's path from the decoder.
	bad := &json.UnmarshalTypeError{Value: string(b) + ` (want a duration such as "1m" or "720h")`, Type: reflect.TypeFor[Duration]()}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return bad
	}
	if s == "" {
		*d = 0
		return nil
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return bad
	}
	*d = Duration(v)
	return nil
}

// MarshalJSON writes a Go duration string.
func (d Duration) MarshalJSON() ([]byte, error) {
	return json.Marshal(time.Duration(d).String())
}

// Catalog is a validated plans file.
type Catalog struct {
	// SignupPlan is the plan POST /signup puts a new account on.
	SignupPlan string `json:"signupPlan"`
	// UpgradePlan is the plan POST /upgradeUser applies when the request
	// names none (the tutorial's $10 plan).
	UpgradePlan string `json:"upgradePlan"`
	Plans       []Plan `json:"plans"`
}

// Default returns the catalogue shipped with the repository.
func Default() *Catalog {
	c, err := Parse(defaultFile)
	if err != nil {
		panic("embedded plans.json: " + err.Error()) // caught by the package's tests
	}
	return c
}

// Load reads the plans file at path, or returns Default when path is "".
func Load(path string) (*Catalog, error) {
	if path == "" {
		return Default(), nil
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("plans file: %w", err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxFileBytes+1))
	if err != nil {
		return nil, fmt.Errorf("plans file %s: %w", path, err)
	}
	c, err := Parse(b)
	if err != nil {
		return nil, fmt.Errorf("plans file %s: %w", path, err)
	}
	return c, nil
}

// Parse decodes and validates a plans file, reporting every problem at
// once; each error wraps ErrInvalid.
func Parse(b []byte) (*Catalog, error) {
	if len(b) > maxFileBytes {
		return nil, fmt.Errorf("%w: larger than %d bytes", ErrInvalid, maxFileBytes)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var c Catalog
	if err := dec.Decode(&c); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	if dec.More() {
		return nil, fmt.Errorf("%w: data after the JSON object", ErrInvalid)
	}
	if err := c.validate(); err != nil {
		return nil, err
	}
	return &c, nil
}

// Get returns the plan with that id.
func (c *Catalog) Get(id string) (Plan, bool) {
	for _, p := range c.Plans {
		if p.ID == id {
			return p, true
		}
	}
	return Plan{}, false
}

// Signup returns the plan of new accounts.
func (c *Catalog) Signup() Plan {
	p, _ := c.Get(c.SignupPlan)
	return p
}

func (c *Catalog) validate() error {
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("%w: "+format, append([]any{ErrInvalid}, args...)...))
	}
	if len(c.Plans) == 0 || len(c.Plans) > maxPlans {
		bad("plans: want 1 to %d plans", maxPlans)
	}
	seen := map[string]bool{}
	for i, p := range c.Plans {
		at := fmt.Sprintf("plans[%d]", i)
		if !planID.MatchString(p.ID) {
			bad("%s.id %q: want 1-32 of a-z, 0-9, _ and -", at, p.ID)
		}
		if seen[p.ID] {
			bad("%s.id %q: used twice", at, p.ID)
		}
		seen[p.ID] = true
		if p.Name == "" || len(p.Name) > 64 {
			bad("%s.name: required, at most 64 characters", at)
		}
		if p.PriceCents < 0 {
			bad("%s.priceCents: must not be negative", at)
		}
		if p.Credits < 1 || p.Credits > maxCredits {
			bad("%s.credits: want 1 to %d", at, int64(maxCredits))
		}
		if p.Refill != RefillNone && p.Refill != RefillMonthly {
			bad("%s.refill %q: want %q or %q", at, p.Refill, RefillMonthly, RefillNone)
		}
		if lt := time.Duration(p.KeyLifetime); lt < 0 || (lt > 0 && lt < time.Minute) || lt > maxKeyLifetime {
			bad("%s.keyLifetime: want empty (never expire) or 1m to %s", at, maxKeyLifetime)
		}
		if p.LowCreditThreshold < 0 || p.LowCreditThreshold >= p.Credits {
			bad("%s.lowCreditThreshold: want 0 (no notice) up to credits-1", at)
		}
		if p.Ratelimits == nil {
			bad("%s.ratelimits: required; [] for no rate limit", at)
		}
		if len(p.Ratelimits) > maxRatelimits {
			bad("%s.ratelimits: at most %d", at, maxRatelimits)
		}
		names := map[string]bool{}
		for j, rl := range p.Ratelimits {
			at := fmt.Sprintf("%s.ratelimits[%d]", at, j)
			if rl.Name == "" || len(rl.Name) > maxRatelimitName {
				bad("%s.name: required, at most %d characters", at, maxRatelimitName)
			}
			if names[rl.Name] {
				bad("%s.name %q: used twice", at, rl.Name)
			}
			names[rl.Name] = true
			if rl.Limit < 1 || rl.Limit > maxCredits {
				bad("%s.limit: want 1 or more", at)
			}
			if d := time.Duration(rl.Duration); d < time.Second || d > maxLimitDuration || d%time.Millisecond != 0 {
				bad("%s.duration: want whole milliseconds from 1s to %s", at, maxLimitDuration)
			}
		}
	}
	for field, id := range map[string]string{"signupPlan": c.SignupPlan, "upgradePlan": c.UpgradePlan} {
		if _, ok := c.Get(id); !ok {
			bad("%s %q: no such plan", field, id)
		}
	}
	return errors.Join(errs...)
}

// KeyserviceCredits is what the plan grants an account, as keyservice stores it: a
// balance of Credits, refilled to Credits on the first of every month for
// a monthly plan.
func (p Plan) KeyserviceCredits() *contracts.Credits {
	c := &contracts.Credits{Remaining: p.Credits}
	if p.Refill == RefillMonthly {
		c.Refill = &contracts.Refill{Interval: contracts.RefillMonthly, Amount: p.Credits, RefillDay: 1, Mode: contracts.RefillReplace}
	}
	return c
}

// KeyserviceRatelimits are the plan's rate limits as keyservice stores
// them, applied to every verification (autoApply).
func (p Plan) KeyserviceRatelimits() []contracts.Ratelimit {
	out := make([]contracts.Ratelimit, 0, len(p.Ratelimits))
	for _, rl := range p.Ratelimits {
		out = append(out, contracts.Ratelimit{Name: rl.Name, Limit: rl.Limit, Duration: time.Duration(rl.Duration).Milliseconds(), AutoApply: true})
	}
	return out
}
