package httpapi

import (
	"context"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/ocrstack/ocrstack/contracts"
	"github.com/ocrstack/ocrstack/ingress/internal/plans"
)

// usageWait bounds the wait for analytics: past it, GET /v1/usage answers
// without the period's usage rather than not at all.
const usageWait = 2 * time.Second

// UsagePlan is the account's plan in GET /v1/usage.
type UsagePlan struct {
	ID         string `json:"id"`
	Name       string `json:"name"`
	PriceCents int64  `json:"priceCents"`
	// Credits is what each period grants; Refill is monthly or none.
	Credits            int64  `json:"credits"`
	Refill             string `json:"refill"`
	LowCreditThreshold int64  `json:"lowCreditThreshold"`
}

// UsageLimit is one of the account's rate limits, now.
type UsageLimit struct {
	Name string `json:"name"`
	// Limit requests per Duration milliseconds; Remaining in the window
	// that ends at Reset (unix ms).
	Limit     int64 `json:"limit"`
	Duration  int64 `json:"duration"`
	Remaining int64 `json:"remaining"`
	Reset     int64 `json:"reset"`
}

// UsagePeriod is the current billing period, [Start, End) in unix ms.
type UsagePeriod struct {
	Start int64 `json:"start"`
	End   int64 `json:"end"`
}

// UsageResult answers GET /v1/usage.
type UsageResult struct {
	Email         string    `json:"email"`
	EmailVerified bool      `json:"emailVerified"`
	Plan          UsagePlan `json:"plan"`
	// CreditsRemaining is the account's shared balance; null is unlimited.
	CreditsRemaining *int64       `json:"creditsRemaining"`
	Ratelimits       []UsageLimit `json:"ratelimits"`
	Period           UsagePeriod  `json:"period"`
	// Usage is the period's usage from analytics, null when analytics did
	// not answer in time; UsageError then says why.
	Usage      *contracts.UsageSummary `json:"usage"`
	UsageError string                  `json:"usageError,omitempty"`
}

// usage is GET /v1/usage: the account's plan, credits, rate limits and
// this month's usage (UTC, the period monthly credits refill on).
func (a *api) usage(c *fiber.Ctx) error {
	ctx, cancel := context.WithTimeout(context.Background(), 3*a.cfg.CallTimeout)
	defer cancel()
	owner, v, err := a.owner(ctx, c, "/v1/usage")
	if err != nil {
		return err
	}
	acct, err := a.cfg.Accounts.Get(ctx, owner)
	if err != nil {
		return a.accountError(c, err, "Usage")
	}
	p, _ := a.cfg.Accounts.Plan(v.Identity.Meta)
	now := a.cfg.Now().UTC()
	start := time.Date(now.Year(), now.Month(), 1, 0, 0, 0, 0, time.UTC)
	out := UsageResult{
		Email: owner, EmailVerified: acct.EmailVerified, Plan: usagePlan(acct.Plan, p), Ratelimits: []UsageLimit{},
		Period: UsagePeriod{Start: start.UnixMilli(), End: start.AddDate(0, 1, 0).UnixMilli()},
	}
	if acct.Credits != nil {
		out.CreditsRemaining = &acct.Credits.Remaining
	}
	for _, rl := range v.Ratelimits {
		out.Ratelimits = append(out.Ratelimits, UsageLimit{Name: rl.Name, Limit: rl.Limit, Duration: rl.Duration, Remaining: rl.Remaining, Reset: rl.Reset})
	}
	if a.cfg.Usage == nil {
		out.UsageError = "analytics is not configured"
		return c.JSON(out)
	}
	uctx, ucancel := context.WithTimeout(ctx, usageWait)
	defer ucancel()
	sum, err := a.cfg.Usage(uctx, contracts.UsageQuery{OwnerID: owner, Start: out.Period.Start, End: now.UnixMilli() + 1})
	if err != nil {
		a.cfg.Logger.Warn("usage from analytics", "request_id", requestIDOf(c), "owner_id", owner, "err", err)
		out.UsageError = "analytics did not answer in time; the period's usage is left out"
		return c.JSON(out)
	}
	out.Usage = &sum
	return c.JSON(out)
}

func usagePlan(id string, p plans.Plan) UsagePlan {
	if p.ID == "" {
		return UsagePlan{ID: id, Name: id}
	}
	return UsagePlan{ID: p.ID, Name: p.Name, PriceCents: p.PriceCents, Credits: p.Credits, Refill: p.Refill, LowCreditThreshold: p.LowCreditThreshold}
}
