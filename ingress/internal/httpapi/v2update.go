package httpapi

import (
	"encoding/json"

	"github.com/gofiber/fiber/v2"
	"github.com/ocrstack/ocrstack/contracts"
	"github.com/ocrstack/ocrstack/ingress/internal/apierr"
)

// jsonNull is the raw JSON that clears a field in an update.
var jsonNull = json.RawMessage("null")

// v2UpdateKeyBody is Unkey's V2KeysUpdateKeyRequestBody: contracts' request
// but for credits, whose members are each absent, null or a value in Unkey.
type v2UpdateKeyBody struct {
	contracts.UpdateKeyRequest
	// Credits shadows the embedded field.
	Credits json.RawMessage `json:"credits"`
}

// v2UpdateKey is keys.updateKey. Every member keeps Unkey's three meanings,
// carried raw to keyservice: absent keeps the value, null clears it, a value
// replaces it. Credits are the exception; see updateKeyCredits. The answer
// is Unkey's empty object, not the updated key.
func (a *api) v2UpdateKey(c *fiber.Ctx) error {
	var b v2UpdateKeyBody
	if err := decodeBody(c.Body(), updateKeySchema, &b); err != nil {
		return err
	}
	req := b.UpdateKeyRequest
	credits, err := a.updateKeyCredits(c, req.KeyID, b.Credits)
	if err != nil {
		return err
	}
	req.Credits = credits
	var k contracts.KeyInfo
	if err := a.call(c, contracts.SubjectKeysUpdate, req, &k); err != nil {
		return err
	}
	return a.ok(c, contracts.Empty{})
}

// updateKeyCredits turns Unkey's credits update into contracts' whole-value
// one. In Unkey each of credits.remaining and credits.refill is itself
// absent, null or a value, and remaining null (unlimited) also drops the
// refill; contracts replace the whole Credits. So a request that sets only
// one of the two reads the key first and carries the other over. That read
// and the update are two calls: a concurrent change to the part carried
// over can be lost.
func (a *api) updateKeyCredits(c *fiber.Ctx, keyID string, raw json.RawMessage) (json.RawMessage, error) {
	if raw == nil || string(raw) == "null" {
		return raw, nil
	}
	var part struct {
		Remaining json.RawMessage `json:"remaining"`
		Refill    json.RawMessage `json:"refill"`
	}
	if err := json.Unmarshal(raw, &part); err != nil {
		return nil, err
	}
	refillGiven := part.Refill != nil && string(part.Refill) != "null"
	switch {
	case part.Remaining == nil && part.Refill == nil:
		return nil, nil // {} changes nothing
	case string(part.Remaining) == "null" && refillGiven:
		return nil, invalid(apierr.FieldError{Location: "body.credits.refill", Message: "unlimited credits (remaining null) cannot have a refill",
			Fix: "Set 'remaining' to a number, or leave out 'refill'"})
	case string(part.Remaining) == "null":
		return jsonNull, nil
	}
	var next contracts.Credits
	if part.Remaining != nil {
		if err := json.Unmarshal(part.Remaining, &next.Remaining); err != nil {
			return nil, err
		}
	}
	if refillGiven {
		next.Refill = new(contracts.Refill)
		if err := json.Unmarshal(part.Refill, next.Refill); err != nil {
			return nil, err
		}
	}
	if part.Remaining == nil || part.Refill == nil {
		var k contracts.KeyInfo
		if err := a.call(c, contracts.SubjectKeysGet, contracts.GetKeyRequest{KeyID: keyID}, &k); err != nil {
			return nil, err
		}
		switch {
		case part.Remaining == nil && k.Credits == nil && refillGiven:
			return nil, invalid(apierr.FieldError{Location: "body.credits.remaining", Message: "the key has unlimited credits, so a refill needs a remaining balance",
				Fix: "Add 'remaining' to 'credits'"})
		case part.Remaining == nil && k.Credits == nil:
			return nil, nil // dropping the refill of an unlimited key changes nothing
		case part.Remaining == nil:
			next.Remaining = k.Credits.Remaining
		case k.Credits != nil:
			next.Refill = k.Credits.Refill
		}
	}
	return json.Marshal(next)
}

// v2UpdateCredits is keys.updateCredits: set, increment or decrement the
// balance atomically. value is required except for set, where null or
// absent makes the key unlimited.
func (a *api) v2UpdateCredits(c *fiber.Ctx) error {
	var b contracts.UpdateCreditsRequest
	if err := decodeBody(c.Body(), updateCreditsSchema, &b); err != nil {
		return err
	}
	if b.Value == nil && b.Operation != contracts.CreditsSet {
		return invalid(apierr.FieldError{Location: "body.value", Message: "value is required for " + string(b.Operation),
			Fix: "Add a 'value' of at least 0"})
	}
	var resp contracts.UpdateCreditsResponse
	if err := a.call(c, contracts.SubjectKeysUpdateCredits, b, &resp); err != nil {
		return err
	}
	return a.ok(c, v2Credits{Remaining: resp.Remaining, Refill: toV2Refill(resp.Refill)})
}
