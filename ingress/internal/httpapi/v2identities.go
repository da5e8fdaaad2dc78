package httpapi

import (
	"encoding/json"
	"fmt"

	"github.com/gofiber/fiber/v2"
	"github.com/ocrstack/ocrstack/contracts"
)

// v2CreateIdentityBody is Unkey's V2IdentitiesCreateIdentityRequestBody
// plus credits.
type v2CreateIdentityBody struct {
	ExternalID string                `json:"externalId"`
	Meta       json.RawMessage       `json:"meta"`
	Ratelimits []contracts.Ratelimit `json:"ratelimits"`
	Credits    *v2CreditsBody        `json:"credits"`
}

// v2IdentityBody names an identity by external id or id, as Unkey's get and
// delete bodies do.
type v2IdentityBody struct {
	Identity string `json:"identity"`
}

// v2UpdateIdentityBody is Unkey's V2IdentitiesUpdateIdentityRequestBody plus
// credits, each member raw to keep absent apart from a value.
type v2UpdateIdentityBody struct {
	Identity   string          `json:"identity"`
	Meta       json.RawMessage `json:"meta"`
	Ratelimits json.RawMessage `json:"ratelimits"`
	Credits    json.RawMessage `json:"credits"`
}

// v2CreateIdentity is identities.createIdentity; a taken externalId is a 409.
// credits, shared by the identity's keys, is our extension.
func (a *api) v2CreateIdentity(c *fiber.Ctx) error {
	var b v2CreateIdentityBody
	if err := decodeBody(c.Body(), createIdentitySchema, &b); err != nil {
		return err
	}
	credits, err := b.Credits.toContracts("body.credits")
	if err != nil {
		return err
	}
	var ref contracts.IdentityRef
	if err := a.call(c, contracts.SubjectIdentitiesCreate, contracts.CreateIdentityRequest{
		ExternalID: b.ExternalID, Meta: b.Meta, Ratelimits: b.Ratelimits, Credits: credits,
	}, &ref); err != nil {
		return err
	}
	return a.ok(c, struct {
		IdentityID string `json:"identityId"`
	}{ref.IdentityID})
}

// v2GetIdentity is identities.getIdentity, by external id or id.
func (a *api) v2GetIdentity(c *fiber.Ctx) error {
	var b v2IdentityBody
	if err := decodeBody(c.Body(), identityRefSchema, &b); err != nil {
		return err
	}
	var id contracts.Identity
	if err := a.callIdentity(c, contracts.SubjectIdentitiesGet, b.Identity,
		func(ref contracts.IdentityRef) any { return ref }, &id); err != nil {
		return err
	}
	return a.ok(c, toV2Identity(&id, ""))
}

// v2UpdateIdentity is identities.updateIdentity: meta and ratelimits, when
// present, replace the stored ones ({} and [] clear them), and so does our
// credits extension (null makes the identity's credits unlimited).
func (a *api) v2UpdateIdentity(c *fiber.Ctx) error {
	var b v2UpdateIdentityBody
	if err := decodeBody(c.Body(), updateIdentitySchema, &b); err != nil {
		return err
	}
	credits, err := identityCredits(b.Credits)
	if err != nil {
		return err
	}
	var id contracts.Identity
	if err := a.callIdentity(c, contracts.SubjectIdentitiesUpdate, b.Identity, func(ref contracts.IdentityRef) any {
		return contracts.UpdateIdentityRequest{IdentityID: ref.IdentityID, ExternalID: ref.ExternalID,
			Meta: b.Meta, Ratelimits: b.Ratelimits, Credits: credits}
	}, &id); err != nil {
		return err
	}
	return a.ok(c, toV2Identity(&id, ""))
}

// identityCredits turns Unkey-shaped credits into contracts' raw value:
// remaining null is unlimited, which is null.
func identityCredits(raw json.RawMessage) (json.RawMessage, error) {
	if raw == nil || string(raw) == "null" {
		return raw, nil
	}
	var b v2CreditsBody
	if err := json.Unmarshal(raw, &b); err != nil {
		return nil, err
	}
	credits, err := b.toContracts("body.credits")
	if err != nil || credits == nil {
		return jsonNull, err
	}
	return json.Marshal(credits)
}

// v2DeleteIdentity is identities.deleteIdentity; its answer has no data.
func (a *api) v2DeleteIdentity(c *fiber.Ctx) error {
	var b v2IdentityBody
	if err := decodeBody(c.Body(), identityRefSchema, &b); err != nil {
		return err
	}
	var resp contracts.Empty
	if err := a.callIdentity(c, contracts.SubjectIdentitiesDelete, b.Identity,
		func(ref contracts.IdentityRef) any { return ref }, &resp); err != nil {
		return err
	}
	return c.JSON(struct {
		Meta v2Meta `json:"meta"`
	}{v2Meta{RequestID: requestIDOf(c)}})
}

// v2ListIdentities is identities.listIdentities; search filters the list
// (see searchIdentities).
func (a *api) v2ListIdentities(c *fiber.Ctx) error {
	var b v2ListIdentitiesBody
	if err := decodeBody(c.Body(), listIdentitiesSchema, &b); err != nil {
		return err
	}
	var page identityPage
	if b.Search == "" {
		var resp contracts.ListIdentitiesResponse
		if err := a.call(c, contracts.SubjectIdentitiesList, contracts.ListIdentitiesRequest{Cursor: b.Cursor, Limit: b.Limit}, &resp); err != nil {
			return err
		}
		page = identityPage{identities: resp.Identities, cursor: resp.Cursor, hasMore: resp.HasMore}
	} else {
		limit := b.Limit
		if limit == 0 {
			limit = defaultListLimit
		}
		var err error
		if page, err = a.searchIdentities(c, b.Cursor, limit, b.Search); err != nil {
			return err
		}
	}
	ids := make([]*v2Identity, len(page.identities))
	for i := range page.identities {
		ids[i] = toV2Identity(&page.identities[i], "")
	}
	return a.okPage(c, ids, page.cursor, page.hasMore)
}

// v2Limit is ratelimit.limit: always a 200, success false when limited.
func (a *api) v2Limit(c *fiber.Ctx) error {
	var b contracts.RatelimitRequest
	if err := decodeBody(c.Body(), limitSchema, &b); err != nil {
		return err
	}
	var resp contracts.RatelimitResponse
	if err := a.call(c, contracts.SubjectRatelimitLimit, b, &resp); err != nil {
		return err
	}
	return a.ok(c, resp)
}

// v2MultiLimitCheck is Unkey's V2RatelimitMultiLimitCheck.
type v2MultiLimitCheck struct {
	Namespace  string `json:"namespace"`
	Identifier string `json:"identifier"`
	Limit      int64  `json:"limit"`
	Remaining  int64  `json:"remaining"`
	Reset      int64  `json:"reset"`
	Passed     bool   `json:"passed"`
}

// v2MultiLimit is ratelimit.multiLimit: Unkey's body is a bare array, which
// contracts wrap in {"limits": [...]}; answers come back in request order.
func (a *api) v2MultiLimit(c *fiber.Ctx) error {
	var limits []contracts.RatelimitRequest
	if err := decodeBody(c.Body(), multiLimitSchema, &limits); err != nil {
		return err
	}
	var resp contracts.MultiRatelimitResponse
	if err := a.call(c, contracts.SubjectRatelimitMultiLimit, contracts.MultiRatelimitRequest{Limits: limits}, &resp); err != nil {
		return err
	}
	if len(resp.Limits) != len(limits) {
		return fmt.Errorf("multiLimit: keyservice answered %d limits for %d", len(resp.Limits), len(limits))
	}
	checks := make([]v2MultiLimitCheck, len(limits))
	for i, r := range resp.Limits {
		checks[i] = v2MultiLimitCheck{Namespace: limits[i].Namespace, Identifier: limits[i].Identifier,
			Limit: r.Limit, Remaining: r.Remaining, Reset: r.Reset, Passed: r.Success}
	}
	return a.ok(c, struct {
		Passed bool                `json:"passed"`
		Limits []v2MultiLimitCheck `json:"limits"`
	}{resp.Passed, checks})
}
