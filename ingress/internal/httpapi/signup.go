package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"strconv"

	"github.com/gofiber/fiber/v2"
	"github.com/ocrstack/ocrstack/contracts"
	"github.com/ocrstack/ocrstack/ingress/internal/accounts"
	"github.com/ocrstack/ocrstack/ingress/internal/apierr"
	"github.com/ocrstack/ocrstack/ingress/internal/keysclient"
)

type signupKey struct {
	Key   string `json:"key"`
	KeyID string `json:"keyId"`
}

// signup is the tutorial's POST /signup: JSON {email, name} gets a trial key,
// prefix "ocr", owned by the email (trimmed, lower case), valid for the
// trial's lifetime. With Accounts set it creates the account (see
// signupAccount); without, only the key.
func (a *api) signup(c *fiber.Ctx) error {
	var body struct {
		Email string `json:"email"`
		Name  string `json:"name"`
	}
	if err := json.Unmarshal(c.Body(), &body); err != nil {
		return apierr.New(fiber.StatusBadRequest, apierr.InvalidRequest, `The body must be JSON: {"email": "...", "name": "..."}`)
	}
	email, err := accounts.NormalizeEmail(body.Email)
	if err != nil {
		return apierr.New(fiber.StatusBadRequest, apierr.InvalidRequest, "email must be a plain address such as ada@example.com")
	}
	name, err := accounts.CleanName(body.Name)
	if err != nil {
		return apierr.New(fiber.StatusBadRequest, apierr.InvalidRequest, "name must be at most 200 characters, without control characters")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 4*a.cfg.CallTimeout)
	defer cancel()
	if err := a.limitSignup(ctx, c); err != nil {
		return err
	}
	if a.cfg.Accounts != nil {
		return a.signupAccount(ctx, c, email, name)
	}
	meta, _ := json.Marshal(map[string]string{"name": name, "email": email})
	t := a.cfg.Trial
	created, err := a.cfg.Keys.Create(ctx, contracts.CreateKeyRequest{
		APIID: a.cfg.APIID, Prefix: "ocr", ByteLength: 16, Name: "trial", ExternalID: email, Meta: meta,
		Expires: a.cfg.Now().Add(t.Lifetime).UnixMilli(), Credits: &contracts.Credits{Remaining: t.Credits},
		Ratelimits: []contracts.Ratelimit{{Name: "requests", Limit: t.RateLimit, Duration: t.RateWindow.Milliseconds(), AutoApply: true}},
	})
	var ce *contracts.Error
	switch {
	case errors.As(err, &ce) && ce.Code == contracts.CodeBadRequest:
		return apierr.New(fiber.StatusBadRequest, apierr.InvalidRequest, ce.Message)
	case errors.Is(err, keysclient.ErrUnavailable):
		a.cfg.Logger.Error("create key", "request_id", requestIDOf(c), "err", err)
		return &apierr.Error{Status: fiber.StatusServiceUnavailable, Reason: apierr.Unavailable, Message: "Sign-up is unavailable; please retry", RetryAfter: 1}
	case err != nil:
		return err
	}
	a.cfg.Logger.Info("signed up", "request_id", requestIDOf(c), "key_id", created.KeyID, "owner_id", email)
	return c.JSON(fiber.Map{"keys": []signupKey{{Key: created.Key, KeyID: created.KeyID}}, "error": nil})
}

// signupNamespace is the standalone rate limit counting sign-ups per IP.
const signupNamespace = "ingress.signup.ip"

// limitSignup spends one sign-up of the client's IP address, refusing the
// request with 429 and Retry-After once its window's are used up. An
// unlimited configuration (SignupLimit 0) asks nothing.
func (a *api) limitSignup(ctx context.Context, c *fiber.Ctx) error {
	if a.cfg.SignupLimit <= 0 {
		return nil
	}
	var res contracts.RatelimitResponse
	err := a.cfg.Keys.Call(ctx, contracts.SubjectRatelimitLimit, contracts.RatelimitRequest{
		Namespace: signupNamespace, Identifier: c.IP(), Limit: a.cfg.SignupLimit, Duration: a.cfg.SignupWindow.Milliseconds(),
	}, &res)
	if errors.Is(err, keysclient.ErrUnavailable) {
		a.cfg.Logger.Error("limit signup", "request_id", requestIDOf(c), "err", err)
		return &apierr.Error{Status: fiber.StatusServiceUnavailable, Reason: apierr.Unavailable, Message: "Sign-up is unavailable; please retry", RetryAfter: 1}
	}
	if err != nil {
		return err
	}
	c.Set("X-RateLimit-Limit", strconv.FormatInt(res.Limit, 10))
	c.Set("X-RateLimit-Remaining", strconv.FormatInt(res.Remaining, 10))
	c.Set("X-RateLimit-Reset", strconv.FormatInt((res.Reset+999)/1000, 10))
	if res.Success {
		return nil
	}
	retry := max(1, int((res.Reset-a.cfg.Now().UnixMilli()+999)/1000))
	return &apierr.Error{Status: fiber.StatusTooManyRequests, Reason: apierr.RateLimited,
		Message: "Too many sign-ups from this address; retry after " + itoa(retry) + " s", RetryAfter: retry}
}
