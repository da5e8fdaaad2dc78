package httpapi

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"strings"

	"github.com/gofiber/fiber/v2"
	"github.com/ocrstack/ocrstack/contracts"
	"github.com/ocrstack/ocrstack/ingress/internal/accounts"
	"github.com/ocrstack/ocrstack/ingress/internal/apierr"
	"github.com/ocrstack/ocrstack/ingress/internal/keysclient"
)

// maxKeyLength bounds the key read from a header; keyservice refuses longer.
const maxKeyLength = 512

// bearer returns the key of an "Authorization: Bearer <key>" header.
func bearer(c *fiber.Ctx) (string, error) {
	h := c.Get(fiber.HeaderAuthorization)
	scheme, key, ok := strings.Cut(strings.TrimSpace(h), " ")
	key = strings.TrimSpace(key)
	if !ok || !strings.EqualFold(scheme, "Bearer") || key == "" || len(key) > maxKeyLength || strings.ContainsAny(key, " \t") {
		return "", apierr.New(fiber.StatusUnauthorized, apierr.InvalidAuthHeader,
			"Missing or malformed Authorization header; use: Authorization: Bearer YOUR_API_KEY")
	}
	return key, nil
}

// verify asks keyservice whether key may run one OCR request now, sets the
// rate-limit and credit headers, and returns the verification when valid.
//
// jobID names the job the verification pays for: it is the verification's
// idempotency key, which a refund of the job names (see internal/refunds).
func (a *api) verify(ctx context.Context, c *fiber.Ctx, key, route, jobID string) (contracts.VerifyKeyResponse, error) {
	return a.verifyRequest(ctx, c, contracts.VerifyKeyRequest{
		Key: key, RequestID: requestIDOf(c), IdempotencyKey: jobID, Tags: []string{"route=" + route},
	})
}

// verifyFree asks keyservice whether key is valid now without spending
// anything, for reads such as a job status poll. A verification charges
// every auto-applied rate limit 1 unless the request names it, so the key's
// and its identity's auto-applied limits are first read with whoami (which
// spends nothing) and then named at cost 0, with a credit cost of 0: a poll
// neither uses up the OCR quota nor is refused for an OCR quota used up.
func (a *api) verifyFree(ctx context.Context, c *fiber.Ctx, key, route string) (contracts.VerifyKeyResponse, error) {
	var info contracts.KeyInfo
	err := a.cfg.Keys.Call(ctx, contracts.SubjectKeysWhoami, contracts.WhoamiRequest{Key: key}, &info)
	var ce *contracts.Error
	switch {
	case errors.As(err, &ce) && (ce.Code == contracts.CodeNotFound || ce.Code == contracts.CodeBadRequest):
		return contracts.VerifyKeyResponse{}, apierr.New(fiber.StatusUnauthorized, apierr.InvalidAPIKey, "Invalid or inactive API key")
	case errors.Is(err, keysclient.ErrUnavailable):
		a.cfg.Logger.Error("look up key", "request_id", requestIDOf(c), "err", err)
		return contracts.VerifyKeyResponse{}, &apierr.Error{Status: fiber.StatusServiceUnavailable, Reason: apierr.Unavailable,
			Message: "Key verification is unavailable; please retry", RetryAfter: 1}
	case err != nil:
		return contracts.VerifyKeyResponse{}, err
	}
	limits := info.Ratelimits
	if info.Identity != nil {
		limits = append(slices.Clone(limits), info.Identity.Ratelimits...)
	}
	var free []contracts.VerifyRatelimit
	for _, rl := range limits {
		if rl.AutoApply && !slices.ContainsFunc(free, func(n contracts.VerifyRatelimit) bool { return n.Name == rl.Name }) {
			free = append(free, contracts.VerifyRatelimit{Name: rl.Name, Cost: new(int64)})
		}
	}
	return a.verifyRequest(ctx, c, contracts.VerifyKeyRequest{
		Key: key, RequestID: requestIDOf(c), Tags: []string{"route=" + route},
		Credits: &contracts.VerifyCredits{Cost: 0}, Ratelimits: free,
	})
}

// verifyRequest sends req to keyservice, sets the rate-limit and credit
// headers, and returns the verification when valid. A verification left
// without an answer is refused here (503) and, when it has an idempotency
// key, refunded by keysclient in the background, since it may have
// charged anyway: the job it was to pay for never runs.
func (a *api) verifyRequest(ctx context.Context, c *fiber.Ctx, req contracts.VerifyKeyRequest) (contracts.VerifyKeyResponse, error) {
	v, err := a.cfg.Keys.Verify(callContext(ctx, c), req)
	if errors.Is(err, keysclient.ErrUnavailable) {
		a.cfg.Logger.Error("verify key", "request_id", requestIDOf(c), "err", err)
		return v, &apierr.Error{Status: fiber.StatusServiceUnavailable, Reason: apierr.Unavailable,
			Message: "Key verification is unavailable; please retry", RetryAfter: 1}
	}
	if err != nil {
		return v, err
	}
	a.limitHeaders(c, v)
	if err := outcomeError(v, a.cfg.Now().UnixMilli()); err != nil {
		// An unverified account has no credits yet (see package accounts):
		// say why rather than "no credits". A key that is itself unknown,
		// disabled or expired stays a 401: verifying would not revive it.
		spendRefused := v.Code == contracts.VerifyUsageExceeded || v.Code == contracts.VerifyRateLimited
		if spendRefused && v.Identity != nil && accounts.EmailUnverified(v.Identity.Meta) {
			return v, apierr.New(fiber.StatusForbidden, apierr.EmailNotVerified,
				"The account email must be verified before the API can be used; follow the link mailed at sign-up")
		}
		return v, err
	}
	if a.cfg.Notices != nil {
		cost := int64(1)
		if req.Credits != nil {
			cost = req.Credits.Cost
		}
		a.cfg.Notices.Observe(v, cost, requestIDOf(c))
	}
	return v, nil
}

// limitHeaders sets X-RateLimit-* from the limit closest to exhaustion
// (Reset in unix seconds), the IETF draft's RateLimit-Policy and RateLimit
// pair for the same limit (window and reset in seconds), and
// X-Credits-Remaining when the key has credits.
func (a *api) limitHeaders(c *fiber.Ctx, v contracts.VerifyKeyResponse) {
	if rl, ok := tightest(v.Ratelimits); ok {
		c.Set("X-RateLimit-Limit", strconv.FormatInt(rl.Limit, 10))
		c.Set("X-RateLimit-Remaining", strconv.FormatInt(rl.Remaining, 10))
		c.Set("X-RateLimit-Reset", strconv.FormatInt((rl.Reset+999)/1000, 10))
		name := sfString(rl.Name)
		c.Set("RateLimit-Policy", name+";q="+strconv.FormatInt(rl.Limit, 10)+";w="+strconv.FormatInt(max(1, rl.Duration/1000), 10))
		resetIn := max(0, (rl.Reset-a.cfg.Now().UnixMilli()+999)/1000)
		c.Set("RateLimit", name+";r="+strconv.FormatInt(rl.Remaining, 10)+";t="+strconv.FormatInt(resetIn, 10))
	}
	if v.Credits != nil {
		c.Set("X-Credits-Remaining", strconv.FormatInt(*v.Credits, 10))
	}
}

func tightest(rls []contracts.RatelimitResult) (contracts.RatelimitResult, bool) {
	if len(rls) == 0 {
		return contracts.RatelimitResult{}, false
	}
	best := rls[0]
	for _, rl := range rls[1:] {
		if rl.Exceeded && !best.Exceeded || rl.Remaining < best.Remaining {
			best = rl
		}
	}
	return best, true
}

// outcomeError maps a verification outcome to a public error, nil for VALID.
func outcomeError(v contracts.VerifyKeyResponse, nowMs int64) error {
	switch v.Code {
	case contracts.VerifyValid:
		return nil
	case contracts.VerifyNotFound, contracts.VerifyDisabled, contracts.VerifyExpired:
		return apierr.New(fiber.StatusUnauthorized, apierr.InvalidAPIKey, "Invalid or inactive API key")
	case contracts.VerifyUsageExceeded:
		return apierr.New(fiber.StatusPaymentRequired, apierr.InsufficientCredits,
			"The key has no remaining credits; upgrade your plan or buy credits")
	case contracts.VerifyRateLimited:
		retry := 1
		for _, rl := range v.Ratelimits {
			if rl.Exceeded {
				retry = max(retry, int((rl.Reset-nowMs+999)/1000))
			}
		}
		return &apierr.Error{Status: fiber.StatusTooManyRequests, Reason: apierr.RateLimited,
			Message: "Rate limit exceeded; retry after " + itoa(retry) + " s", RetryAfter: retry}
	case contracts.VerifyForbidden, contracts.VerifyInsufficientPermissions:
		return apierr.New(fiber.StatusForbidden, apierr.Forbidden, "The key may not use this route")
	}
	return apierr.New(fiber.StatusInternalServerError, apierr.Internal, "Unknown verification outcome")
}

// sfString renders s as a structured-field string (RFC 8941): quoted, with
// backslash and quote escaped and anything outside printable ASCII dropped.
func sfString(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"' || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r >= 0x20 && r < 0x7f:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}
