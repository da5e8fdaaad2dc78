package httpapi

import (
	"encoding/json"
	"strings"

	"github.com/gofiber/fiber/v2"
	"github.com/ocrstack/ocrstack/contracts"
	"github.com/ocrstack/ocrstack/ingress/internal/apierr"
	"github.com/ocrstack/ocrstack/ingress/internal/idempotency"
)

// v2CreditsBody is Unkey's KeyCreditsData in a request.
type v2CreditsBody struct {
	Remaining *int64            `json:"remaining"`
	Refill    *contracts.Refill `json:"refill"`
}

// toContracts turns credits into contracts': remaining null is unlimited
// (nil), which cannot have a refill.
func (b *v2CreditsBody) toContracts(loc string) (*contracts.Credits, error) {
	switch {
	case b == nil:
		return nil, nil
	case b.Remaining == nil && b.Refill != nil:
		return nil, invalid(apierr.FieldError{Location: loc + ".refill", Message: "unlimited credits (remaining null) cannot have a refill",
			Fix: "Set 'remaining' to a number, or leave out 'refill'"})
	case b.Remaining == nil:
		return nil, nil
	}
	return &contracts.Credits{Remaining: *b.Remaining, Refill: b.Refill}, nil
}

// v2CreateKeyBody is Unkey's V2KeysCreateKeyRequestBody.
type v2CreateKeyBody struct {
	APIID       string                `json:"apiId"`
	Prefix      string                `json:"prefix"`
	Name        string                `json:"name"`
	ByteLength  int                   `json:"byteLength"`
	ExternalID  string                `json:"externalId"`
	Meta        json.RawMessage       `json:"meta"`
	Roles       []string              `json:"roles"`
	Permissions []string              `json:"permissions"`
	Expires     int64                 `json:"expires"`
	Credits     *v2CreditsBody        `json:"credits"`
	Ratelimits  []contracts.Ratelimit `json:"ratelimits"`
	Enabled     *bool                 `json:"enabled"`
	Recoverable bool                  `json:"recoverable"`
}

// v2VerifyKeyBody is Unkey's V2KeysVerifyKeyRequestBody, less migrationId.
type v2VerifyKeyBody struct {
	Key         string                      `json:"key"`
	Tags        []string                    `json:"tags"`
	Permissions string                      `json:"permissions"`
	Credits     *contracts.VerifyCredits    `json:"credits"`
	Ratelimits  []contracts.VerifyRatelimit `json:"ratelimits"`
}

// v2CreateKey is keys.createKey. Keys are never recoverable: only their hash
// is stored.
func (a *api) v2CreateKey(c *fiber.Ctx) error {
	var b v2CreateKeyBody
	if err := decodeBody(c.Body(), createKeySchema, &b); err != nil {
		return err
	}
	if b.Recoverable {
		return invalid(apierr.FieldError{Location: "body.recoverable", Message: "recoverable keys are not supported: only a hash of each key is stored",
			Fix: "Leave out 'recoverable' or set it to false"})
	}
	credits, err := b.Credits.toContracts("body.credits")
	if err != nil {
		return err
	}
	var resp contracts.CreateKeyResponse
	if err := a.call(c, contracts.SubjectKeysCreate, contracts.CreateKeyRequest{
		APIID: b.APIID, Prefix: b.Prefix, ByteLength: b.ByteLength, Name: b.Name, ExternalID: b.ExternalID,
		Meta: b.Meta, Expires: b.Expires, Credits: credits, Ratelimits: b.Ratelimits, Enabled: b.Enabled,
		Roles: b.Roles, Permissions: b.Permissions,
	}, &resp); err != nil {
		return err
	}
	return a.ok(c, resp)
}

// v2VerifyKey is keys.verifyKey. Every outcome, NOT_FOUND and RATE_LIMITED
// included, is a 200 with data.valid and data.code; only malformed requests
// and outages are errors. migrationId is accepted and ignored: there are no
// migrations to look a key up in.
//
// Beyond Unkey, an Idempotency-Key header makes a retry safe: keyservice
// remembers a verification that spent under it (per key) and answers a
// repeat within keyservice's replay window (10 minutes) with the first
// outcome, spending nothing. Without one, a verification whose answer was
// lost (a 503 after keyservice decided) stays charged, as with Unkey, and
// its retry is charged again.
func (a *api) v2VerifyKey(c *fiber.Ctx) error {
	var b v2VerifyKeyBody
	if err := decodeBody(c.Body(), verifyKeySchema, &b); err != nil {
		return err
	}
	idemKey := c.Get("Idempotency-Key")
	if idemKey != "" && !idempotency.ValidKey(idemKey) {
		return apierr.New(fiber.StatusBadRequest, apierr.InvalidIdempotencyKey, "Idempotency-Key must be 1 to 255 printable ASCII characters")
	}
	var v contracts.VerifyKeyResponse
	if err := a.call(c, contracts.SubjectKeysVerify, contracts.VerifyKeyRequest{
		Key: b.Key, RequestID: requestIDOf(c), IdempotencyKey: strings.Clone(idemKey), Credits: b.Credits, Tags: b.Tags,
		Permissions: b.Permissions, Ratelimits: b.Ratelimits,
	}, &v); err != nil {
		return err
	}
	return a.ok(c, toV2Verify(v))
}

// v2GetKey is keys.getKey. decrypt is accepted, but a plaintext is never
// returned: keys are not recoverable.
func (a *api) v2GetKey(c *fiber.Ctx) error {
	var b contracts.GetKeyRequest
	if err := decodeBody(c.Body(), getKeySchema, &b); err != nil {
		return err
	}
	var k contracts.KeyInfo
	if err := a.call(c, contracts.SubjectKeysGet, b, &k); err != nil {
		return err
	}
	return a.ok(c, toV2Key(k))
}

// v2Whoami is keys.whoami: a key looked up by its plaintext, spending nothing.
func (a *api) v2Whoami(c *fiber.Ctx) error {
	var b contracts.WhoamiRequest
	if err := decodeBody(c.Body(), whoamiSchema, &b); err != nil {
		return err
	}
	var k contracts.KeyInfo
	if err := a.call(c, contracts.SubjectKeysWhoami, b, &k); err != nil {
		return err
	}
	return a.ok(c, toV2Key(k))
}

// v2DeleteKey is keys.deleteKey: the key stops verifying at once. permanent
// is accepted; a deleted key is gone either way.
func (a *api) v2DeleteKey(c *fiber.Ctx) error {
	var b contracts.DeleteKeyRequest
	if err := decodeBody(c.Body(), deleteKeySchema, &b); err != nil {
		return err
	}
	var resp contracts.Empty
	if err := a.call(c, contracts.SubjectKeysDelete, b, &resp); err != nil {
		return err
	}
	return a.ok(c, contracts.Empty{})
}

// v2RerollKey is keys.rerollKey: a new key with the same settings; the old
// one keeps verifying for expiration milliseconds.
func (a *api) v2RerollKey(c *fiber.Ctx) error {
	var b contracts.RerollKeyRequest
	if err := decodeBody(c.Body(), rerollKeySchema, &b); err != nil {
		return err
	}
	var resp contracts.CreateKeyResponse
	if err := a.call(c, contracts.SubjectKeysReroll, b, &resp); err != nil {
		return err
	}
	return a.ok(c, resp)
}

// v2ListKeys is apis.listKeys. decrypt and revalidateKeysCache are accepted
// and have no effect: there is no plaintext, and every read is fresh.
func (a *api) v2ListKeys(c *fiber.Ctx) error {
	var b contracts.ListKeysRequest
	if err := decodeBody(c.Body(), listKeysSchema, &b); err != nil {
		return err
	}
	var resp contracts.ListKeysResponse
	if err := a.call(c, contracts.SubjectKeysList, b, &resp); err != nil {
		return err
	}
	keys := make([]v2Key, len(resp.Keys))
	for i, k := range resp.Keys {
		keys[i] = toV2Key(k)
	}
	return a.okPage(c, keys, resp.Cursor, resp.HasMore)
}
