package httpapi

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"strings"

	"github.com/gofiber/fiber/v2"
	"github.com/ocrstack/ocrstack/contracts"
	"github.com/ocrstack/ocrstack/ingress/internal/accounts"
	"github.com/ocrstack/ocrstack/ingress/internal/apierr"
	"github.com/ocrstack/ocrstack/ingress/internal/keysclient"
)

// mountAccounts adds the account routes: the tutorial's /upgradeUser, the
// email verification link, and key self-service (selfservice.go).
func (a *api) mountAccounts(app *fiber.App) {
	app.Post("/upgradeUser", a.upgradeUser)
	app.Get("/verify-email", a.verifyEmail)
	app.Get("/v1/keys", a.listOwnKeys)
	app.Post("/v1/keys", a.createOwnKey)
	app.Delete("/v1/keys/:keyId", a.deleteOwnKey)
	app.Post("/v1/keys/:keyId/rotate", a.rotateOwnKey)
	app.Get("/v1/usage", a.usage)
}

// signupAccount is POST /signup with accounts: the account and its first
// key, or 409 ACCOUNT_EXISTS for an email that has one.
func (a *api) signupAccount(ctx context.Context, c *fiber.Ctx, email, name string) error {
	out, err := a.cfg.Accounts.SignUp(ctx, email, name)
	if err != nil {
		return a.accountError(c, err, "Sign-up")
	}
	a.cfg.Logger.Info("signed up", "request_id", requestIDOf(c), "key_id", out.Key.KeyID, "owner_id", out.Owner, "verification_sent", out.VerificationSent)
	return c.JSON(fiber.Map{"keys": []signupKey{{Key: out.Key.Key, KeyID: out.Key.KeyID}}, "error": nil})
}

// UpgradeUserBody is the tutorial's POST /upgradeUser body, plus an
// optional plan id.
type UpgradeUserBody struct {
	Email         string `json:"email"`
	TransactionID string `json:"transactionId"`
	APIKeyID      string `json:"apiKeyId"`
	Plan          string `json:"plan,omitempty"`
}

// UpgradeUserResult answers POST /upgradeUser, the same for a repeated
// transaction id.
type UpgradeUserResult struct {
	Message       string `json:"message"`
	Email         string `json:"email"`
	Plan          string `json:"plan"`
	TransactionID string `json:"transactionId"`
}

// upgradeUser is the tutorial's POST /upgradeUser, which the tutorial left
// open to anyone: here only the root key may call it (a payment backend).
// Anonymous is 401; an API key that is not the root key is 403.
func (a *api) upgradeUser(c *fiber.Ctx) error {
	if a.cfg.Accounts == nil {
		return apierr.New(fiber.StatusNotFound, apierr.NotFound, "No such route")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 4*a.cfg.CallTimeout)
	defer cancel()
	if err := a.rootOnly(ctx, c); err != nil {
		return err
	}
	var body UpgradeUserBody
	if err := json.Unmarshal(c.Body(), &body); err != nil {
		return apierr.New(fiber.StatusBadRequest, apierr.InvalidRequest, `The body must be JSON: {"email": "...", "transactionId": "...", "apiKeyId": "...", "plan": "pro"}`)
	}
	out, err := a.cfg.Accounts.Upgrade(ctx, accounts.UpgradeRequest{Email: body.Email, TransactionID: body.TransactionID, APIKeyID: body.APIKeyID, Plan: body.Plan})
	if err != nil {
		return a.accountError(c, err, "Upgrade")
	}
	if out.Replayed {
		c.Set("Idempotent-Replayed", "true")
	}
	return c.JSON(UpgradeUserResult{Message: "User upgraded successfully", Email: out.Owner, Plan: out.Plan, TransactionID: out.TransactionID})
}

// rootOnly admits the root key; another valid key is 403, anything else 401.
func (a *api) rootOnly(ctx context.Context, c *fiber.Ctx) error {
	token, err := bearer(c)
	if err != nil {
		return err
	}
	if a.rootDigest != nil {
		got := sha256.Sum256([]byte(token))
		if subtle.ConstantTimeCompare(got[:], a.rootDigest) == 1 {
			return nil
		}
	}
	var info contracts.KeyInfo
	if a.cfg.Keys.Call(ctx, contracts.SubjectKeysWhoami, contracts.WhoamiRequest{Key: token}, &info) == nil {
		return apierr.New(fiber.StatusForbidden, apierr.Forbidden, "Only the root key may upgrade an account")
	}
	return apierr.New(fiber.StatusUnauthorized, apierr.InvalidAPIKey, "Invalid or inactive API key; this route takes the root key")
}

// VerifyEmailResult answers GET /verify-email.
type VerifyEmailResult struct {
	Email         string `json:"email"`
	EmailVerified bool   `json:"emailVerified"`
}

// verifyEmail is the link mailed at sign-up: it marks the account
// verified, which grants its plan's credits. Following it again is 200.
func (a *api) verifyEmail(c *fiber.Ctx) error {
	if a.cfg.Accounts == nil {
		return apierr.New(fiber.StatusNotFound, apierr.NotFound, "No such route")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*a.cfg.CallTimeout)
	defer cancel()
	owner, err := a.cfg.Accounts.VerifyEmail(ctx, strings.Clone(c.Query("token")))
	if err != nil {
		return a.accountError(c, err, "Email verification")
	}
	return c.JSON(VerifyEmailResult{Email: owner, EmailVerified: true})
}

// accountError maps an accounts error to a public one; what names the
// operation in a 503's message.
func (a *api) accountError(c *fiber.Ctx, err error, what string) error {
	var ce *contracts.Error
	switch {
	case errors.Is(err, accounts.ErrInvalid):
		return apierr.New(fiber.StatusBadRequest, apierr.InvalidRequest, strings.TrimPrefix(err.Error(), accounts.ErrInvalid.Error()+": "))
	case errors.Is(err, accounts.ErrExists):
		return apierr.New(fiber.StatusConflict, apierr.AccountExists, "An account with this email exists; use its keys, or POST /v1/keys with one of them for another")
	case errors.Is(err, accounts.ErrNotFound):
		return apierr.New(fiber.StatusNotFound, apierr.AccountNotFound, "No account has this email")
	case errors.Is(err, accounts.ErrKeyNotFound):
		return apierr.New(fiber.StatusNotFound, apierr.NotFound, "The account has no key with this id")
	case errors.Is(err, accounts.ErrTooManyKeys):
		return apierr.New(fiber.StatusConflict, apierr.TooManyKeys, "The account has the most keys it may hold ("+itoa(accounts.MaxKeys)+"); revoke one first")
	case errors.Is(err, accounts.ErrBadToken):
		return apierr.New(fiber.StatusBadRequest, apierr.InvalidToken, "The verification link is damaged or expired; POST /signup again with the same email for a new one")
	case errors.Is(err, keysclient.ErrUnavailable), errors.Is(err, accounts.ErrMail),
		errors.As(err, &ce) && ce.Code == contracts.CodeTimeout:
		a.cfg.Logger.Error("account operation", "request_id", requestIDOf(c), "err", err)
		return &apierr.Error{Status: fiber.StatusServiceUnavailable, Reason: apierr.Unavailable, Message: what + " is unavailable; please retry", RetryAfter: 1}
	}
	return err
}
