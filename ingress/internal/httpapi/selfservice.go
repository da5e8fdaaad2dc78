package httpapi

import (
	"context"
	"encoding/json"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/ocrstack/ocrstack/contracts"
	"github.com/ocrstack/ocrstack/ingress/internal/accounts"
	"github.com/ocrstack/ocrstack/ingress/internal/apierr"
)

// Key self-service: an account's owner manages its keys with any one of
// them. The key is checked without being charged (verifyFree), so an
// account out of credits can still rotate keys and read its usage.

// OwnKey is a key as its owner sees it in a list: never the key itself.
type OwnKey struct {
	KeyID string `json:"keyId"`
	Name  string `json:"name,omitempty"`
	// Start is the prefix and first characters, to tell keys apart.
	Start string `json:"start"`
	// CreatedAt, LastUsedAt and Expires are unix milliseconds; 0 for never.
	CreatedAt  int64 `json:"createdAt"`
	LastUsedAt int64 `json:"lastUsedAt"`
	Expires    int64 `json:"expires"`
	Enabled    bool  `json:"enabled"`
}

// OwnKeys answers GET /v1/keys.
type OwnKeys struct {
	Keys []OwnKey `json:"keys"`
}

// CreateOwnKeyBody is POST /v1/keys's body.
type CreateOwnKeyBody struct {
	Name string `json:"name"`
}

// NewOwnKey answers POST /v1/keys and POST /v1/keys/{keyId}/rotate: the
// key is shown this once.
type NewOwnKey struct {
	KeyID string `json:"keyId"`
	Key   string `json:"key"`
	// PreviousKeyID and PreviousKeyExpires (unix ms) are set by a
	// rotation: the old key works until then.
	PreviousKeyID      string `json:"previousKeyId,omitempty"`
	PreviousKeyExpires int64  `json:"previousKeyExpires,omitempty"`
}

// RotateOwnKeyBody is POST /v1/keys/{keyId}/rotate's body.
type RotateOwnKeyBody struct {
	// GracePeriodMs is how long the old key keeps working, 0 to 7 days.
	GracePeriodMs int64 `json:"gracePeriodMs"`
}

// owner checks the caller's key, free of charge, and returns its account's
// id. A key that belongs to no account (made through /v2) is 403.
func (a *api) owner(ctx context.Context, c *fiber.Ctx, route string) (string, contracts.VerifyKeyResponse, error) {
	if a.cfg.Accounts == nil {
		return "", contracts.VerifyKeyResponse{}, apierr.New(fiber.StatusNotFound, apierr.NotFound, "No such route")
	}
	key, err := bearer(c)
	if err != nil {
		return "", contracts.VerifyKeyResponse{}, err
	}
	v, err := a.verifyFree(ctx, c, key, route)
	if err != nil {
		return "", v, err
	}
	if v.Identity == nil {
		return "", v, apierr.New(fiber.StatusForbidden, apierr.Forbidden, "This key belongs to no account; key self-service is for keys from POST /signup")
	}
	if _, err := accounts.ParseMeta(v.Identity.Meta); err != nil {
		return "", v, apierr.New(fiber.StatusForbidden, apierr.Forbidden, "This key belongs to no account; key self-service is for keys from POST /signup")
	}
	return v.Identity.ExternalID, v, nil
}

func (a *api) listOwnKeys(c *fiber.Ctx) error {
	ctx, cancel := context.WithTimeout(context.Background(), 3*a.cfg.CallTimeout)
	defer cancel()
	owner, _, err := a.owner(ctx, c, "/v1/keys")
	if err != nil {
		return err
	}
	keys, err := a.cfg.Accounts.ListKeys(ctx, owner)
	if err != nil {
		return a.accountError(c, err, "Listing keys")
	}
	out := OwnKeys{Keys: make([]OwnKey, 0, len(keys))}
	for _, k := range keys {
		out.Keys = append(out.Keys, OwnKey{KeyID: k.KeyID, Name: k.Name, Start: k.Start, CreatedAt: k.CreatedAt, LastUsedAt: k.LastUsedAt, Expires: k.Expires, Enabled: k.Enabled})
	}
	return c.JSON(out)
}

func (a *api) createOwnKey(c *fiber.Ctx) error {
	ctx, cancel := context.WithTimeout(context.Background(), 4*a.cfg.CallTimeout)
	defer cancel()
	owner, _, err := a.owner(ctx, c, "/v1/keys")
	if err != nil {
		return err
	}
	var body CreateOwnKeyBody
	if err := json.Unmarshal(c.Body(), &body); err != nil {
		return apierr.New(fiber.StatusBadRequest, apierr.InvalidRequest, `The body must be JSON: {"name": "Production"}`)
	}
	created, err := a.cfg.Accounts.CreateKey(ctx, owner, body.Name)
	if err != nil {
		return a.accountError(c, err, "Key creation")
	}
	return c.Status(fiber.StatusCreated).JSON(NewOwnKey{KeyID: created.KeyID, Key: created.Key})
}

func (a *api) deleteOwnKey(c *fiber.Ctx) error {
	ctx, cancel := context.WithTimeout(context.Background(), 3*a.cfg.CallTimeout)
	defer cancel()
	owner, _, err := a.owner(ctx, c, "/v1/keys/{keyId}")
	if err != nil {
		return err
	}
	keyID := strings.Clone(c.Params("keyId"))
	if err := a.cfg.Accounts.DeleteKey(ctx, owner, keyID); err != nil {
		return a.accountError(c, err, "Key revocation")
	}
	return c.JSON(fiber.Map{"keyId": keyID, "revoked": true})
}

func (a *api) rotateOwnKey(c *fiber.Ctx) error {
	ctx, cancel := context.WithTimeout(context.Background(), 3*a.cfg.CallTimeout)
	defer cancel()
	owner, _, err := a.owner(ctx, c, "/v1/keys/{keyId}/rotate")
	if err != nil {
		return err
	}
	var body RotateOwnKeyBody
	if len(c.Body()) > 0 {
		if err := json.Unmarshal(c.Body(), &body); err != nil {
			return apierr.New(fiber.StatusBadRequest, apierr.InvalidRequest, `The body must be JSON: {"gracePeriodMs": 86400000}`)
		}
	}
	keyID := strings.Clone(c.Params("keyId"))
	grace := time.Duration(body.GracePeriodMs) * time.Millisecond
	if body.GracePeriodMs < 0 || grace > accounts.MaxRotationGrace {
		return apierr.New(fiber.StatusBadRequest, apierr.InvalidRequest, "gracePeriodMs must be between 0 and "+itoa(int(accounts.MaxRotationGrace.Milliseconds())))
	}
	created, err := a.cfg.Accounts.RotateKey(ctx, owner, keyID, grace)
	if err != nil {
		return a.accountError(c, err, "Key rotation")
	}
	out := NewOwnKey{KeyID: created.KeyID, Key: created.Key, PreviousKeyID: keyID}
	if grace > 0 {
		out.PreviousKeyExpires = a.cfg.Now().Add(grace).UnixMilli()
	}
	return c.JSON(out)
}
