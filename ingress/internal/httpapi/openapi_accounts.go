package httpapi

import (
	"reflect"

	"github.com/gofiber/fiber/v2"
	"github.com/ocrstack/ocrstack/contracts"
	"github.com/ocrstack/ocrstack/ingress/internal/accounts"
	"github.com/ocrstack/ocrstack/ingress/internal/apierr"
	"github.com/ocrstack/ocrstack/ingress/internal/plans"
)

// The account routes (account.go, selfservice.go, usage.go). Their bodies
// and results are described by reflection over the types the handlers
// decode and encode, refined where a member has bounds the type cannot
// carry (accounts' limits, taken from its constants).

// Errors of the account routes, all in PicToText's envelope.
var (
	// ownerErrors come from checking the caller's key without charging it
	// (owner in selfservice.go): a key of no account is 403 FORBIDDEN, and
	// the routes answer 404 NOT_FOUND on a server without accounts. A free
	// check spends nothing, so it is never over a limit or out of credits.
	ownerErrors = errorsOf(authErrors, []errCase{{fiber.StatusNotFound, apierr.NotFound}}, serverErrors)
	// upgradeErrors: the root key only, an email with an account, and a
	// key of that account.
	upgradeErrors = errorsOf([]errCase{
		{fiber.StatusUnauthorized, apierr.InvalidAuthHeader}, {fiber.StatusUnauthorized, apierr.InvalidAPIKey},
		{fiber.StatusForbidden, apierr.Forbidden}, {fiber.StatusBadRequest, apierr.InvalidRequest},
		{fiber.StatusNotFound, apierr.AccountNotFound}, {fiber.StatusNotFound, apierr.NotFound},
	}, bodyErrors, serverErrors)
	verifyEmailErrors = errorsOf([]errCase{
		{fiber.StatusBadRequest, apierr.InvalidToken}, {fiber.StatusNotFound, apierr.AccountNotFound},
		{fiber.StatusNotFound, apierr.NotFound},
	}, serverErrors)
)

// ownerHeaders are the headers of a self-service route's responses: those
// of the key's free check.
func ownerHeaders(int) []string { return append([]string{"X-Request-Id"}, verifiedHeaders...) }

// upgradeHeaders are the headers of POST /upgradeUser's responses.
func upgradeHeaders(status int) []string {
	if status == fiber.StatusOK {
		return []string{"X-Request-Id", "Idempotent-Replayed"}
	}
	return []string{"X-Request-Id"}
}

// accountSchemas adds the account routes' request bodies and results.
func (b *specBuilder) accountSchemas() {
	rb := b.doc.Components.RequestBodies
	maxGrace := accounts.MaxRotationGrace.Milliseconds()

	// The bodies are decoded leniently (json.Unmarshal): unknown members
	// are ignored, so the objects are left open.
	upgrade := b.gen.inline(reflect.TypeFor[UpgradeUserBody]())
	b.refine(upgrade.Properties, map[string]*jsonSchema{
		"email":         {Type: "string", Format: "email", MaxLength: new(254), Description: "The account's email, as at sign-up (case and surrounding spaces do not matter)."},
		"transactionId": {Type: "string", MinLength: new(1), MaxLength: new(64), Pattern: "^[ -~]+$", Description: "The payment's ID: applying it again answers as the first time did and changes nothing (Idempotent-Replayed: true)."},
		"apiKeyId":      {Type: "string", MinLength: new(1), MaxLength: new(64), Description: "The ID of one of the account's keys, as the tutorial requires."},
		"plan":          {Type: "string", MaxLength: new(32), Examples: []any{"pro"}, Description: "A plan of the server's catalogue (an unknown one is a 400 naming them); by default its upgrade plan, pro in the one shipped."},
	})
	upgrade.Required, upgrade.AdditionalProperties = []string{"apiKeyId", "email", "transactionId"}, nil
	rb["UpgradeUser"] = &oaRequestBody{Required: true, Content: jsonContent(upgrade)}

	create := b.gen.inline(reflect.TypeFor[CreateOwnKeyBody]())
	b.refine(create.Properties, map[string]*jsonSchema{
		"name": {Type: "string", MinLength: new(1), MaxLength: new(100), Examples: []any{"Production"}, Description: "The key's name, to tell it apart: no control characters."},
	})
	create.AdditionalProperties = nil
	rb["CreateOwnKey"] = &oaRequestBody{Required: true, Content: jsonContent(create)}

	rotate := b.gen.inline(reflect.TypeFor[RotateOwnKeyBody]())
	b.refine(rotate.Properties, map[string]*jsonSchema{
		"gracePeriodMs": {Type: "integer", Format: "int64", Minimum: new(int64(0)), Maximum: new(maxGrace),
			Description: "How long the old key keeps working, in milliseconds: 0 (the default) revokes it at once, at most 7 days."},
	})
	rotate.Required, rotate.AdditionalProperties = nil, nil
	rb["RotateOwnKey"] = &oaRequestBody{Description: "Optional: an empty body rotates with no grace period.", Content: jsonContent(rotate)}

	b.refine(b.schema("UpgradeUserResult", reflect.TypeFor[UpgradeUserResult](),
		"The account's plan after the upgrade; a repeated transactionId answers the same.").Properties,
		map[string]*jsonSchema{"message": {Type: "string", Enum: []any{"User upgraded successfully"}}})
	b.refine(b.schema("VerifyEmailResult", reflect.TypeFor[VerifyEmailResult](), "The account whose email is now verified.").Properties,
		map[string]*jsonSchema{"emailVerified": {Type: "boolean", Enum: []any{true}}})
	b.schema("OwnKey", reflect.TypeFor[OwnKey](),
		"A key of the account, never the key itself: start is its prefix and first characters; times are unix milliseconds, 0 for never.")
	b.schema("OwnKeys", reflect.TypeFor[OwnKeys](), "The account's keys, oldest first.")
	b.schema("NewOwnKey", reflect.TypeFor[NewOwnKey](),
		"A new key, shown this once; after a rotation, the key it replaces and until when (unix ms) that one still works, when it does.")
	b.gen.comps["RevokedOwnKey"] = described(object(map[string]*jsonSchema{
		"keyId": {Type: "string"}, "revoked": {Type: "boolean", Enum: []any{true}},
	}), "The key is revoked: it stops working at once.")
	b.schema("UsageSummary", reflect.TypeFor[contracts.UsageSummary](),
		"What the account used in [start, end) (unix ms), from analytics: verifications by outcome, credits spent, and finished OCR jobs "+
			"with the pages, characters and bytes of those that succeeded.")
	b.refine(b.schema("UsagePlan", reflect.TypeFor[UsagePlan](),
		"The account's plan: credits each period grants, the monthly price in US cents, and the balance under which a low-credit notice is sent.").Properties,
		map[string]*jsonSchema{"refill": {Type: "string", Enum: []any{plans.RefillMonthly, plans.RefillNone, ""},
			Description: "How the credits come back: monthly, none (granted once), or empty for a plan the catalogue no longer has."}})
	b.schema("UsageLimit", reflect.TypeFor[UsageLimit](),
		"One of the account's rate limits now: limit requests per duration milliseconds, remaining in the window that ends at reset (unix ms).")
	b.schema("UsagePeriod", reflect.TypeFor[UsagePeriod](), "The current billing period, the calendar month in UTC: [start, end) in unix ms.")
	b.schema("UsageResult", reflect.TypeFor[UsageResult](),
		"The account's plan, shared credit balance (null: unlimited) and rate limits, and this period's usage from analytics: "+
			"usage is null when analytics did not answer in time, and usageError then says why.")
}

// accountRoutes adds the account routes.
func (b *specBuilder) accountRoutes() {
	b.accountSchemas()
	op := &oaOperation{
		OperationID: "upgradeUser", Summary: "Move an account to a paid plan", Tags: []string{tagAccounts},
		Security: []map[string][]string{{secRootKey: {}}}, RequestBody: bodyRef("UpgradeUser"),
		Description: "The tutorial's upgrade, for a payment backend, which the tutorial left open to anyone: here the root key only " +
			"(no key is a 401, an API key a 403). The plan's credits and rate limits replace the account's, for all its keys at once, " +
			"and its keys stop expiring unless the plan says otherwise. A transactionId is applied once.",
		Responses: map[string]*oaResponse{"200": {Description: "The account is on the plan.",
			Headers: headerRefs(upgradeHeaders(fiber.StatusOK)...), Content: jsonContent(ref("UpgradeUserResult"))}},
	}
	b.addErrors(op, "/upgradeUser", upgradeErrors, upgradeHeaders)
	b.add("POST", "/upgradeUser", op)

	op = &oaOperation{
		OperationID: "verifyEmail", Summary: "Verify an account's email", Tags: []string{tagAccounts},
		Description: "The link mailed at sign-up, valid 48 hours: it marks the email verified, which grants the plan's credits. " +
			"Following it again changes nothing.",
		Parameters: []*oaParameter{{Name: "token", In: "query", Required: true, Description: "The signed token of the link.",
			Schema: &jsonSchema{Type: "string", MaxLength: new(1024)}}},
		Responses: map[string]*oaResponse{"200": {Description: "The email is verified.", Headers: headerRefs(requestIDHeader(fiber.StatusOK)...),
			Content: jsonContent(ref("VerifyEmailResult"))}},
	}
	b.addErrors(op, "/verify-email", verifyEmailErrors, requestIDHeader)
	b.add("GET", "/verify-email", op)

	self := func(id, summary, description string, status int, result, resultDoc string) *oaOperation {
		return &oaOperation{
			OperationID: id, Summary: summary, Tags: []string{tagAccounts}, Security: []map[string][]string{{secAPIKey: {}}},
			Description: description + " Any key of the account will do; it is checked without spending a credit or a unit of its rate limits.",
			Responses: map[string]*oaResponse{itoa(status): {Description: resultDoc, Headers: headerRefs(ownerHeaders(status)...),
				Content: jsonContent(ref(result))}},
		}
	}
	op = self("listOwnKeys", "List the account's keys", "The account's keys, never the keys themselves.", fiber.StatusOK, "OwnKeys", "The keys.")
	b.addErrors(op, "/v1/keys", ownerErrors, ownerHeaders)
	b.add("GET", "/v1/keys", op)

	op = self("createOwnKey", "Add a key to the account",
		"A new named key, shown this once. It shares the account's credits and rate limits and expires with its other keys; "+
			"an account holds at most "+itoa(accounts.MaxKeys)+" keys.", fiber.StatusCreated, "NewOwnKey", "The new key, shown once.")
	op.RequestBody = bodyRef("CreateOwnKey")
	b.addErrors(op, "/v1/keys", errorsOf(ownerErrors, []errCase{
		{fiber.StatusBadRequest, apierr.InvalidRequest}, {fiber.StatusNotFound, apierr.AccountNotFound}, {fiber.StatusConflict, apierr.TooManyKeys},
	}, bodyErrors), ownerHeaders)
	b.add("POST", "/v1/keys", op)

	keyID := &oaParameter{Name: "keyId", In: "path", Required: true, Description: "The ID of one of the account's keys; another account's is a 404.",
		Schema: &jsonSchema{Type: "string", MinLength: new(1), MaxLength: new(64)}}
	op = self("revokeOwnKey", "Revoke a key of the account", "The key stops working at once.", fiber.StatusOK, "RevokedOwnKey", "The key is revoked.")
	op.Parameters = []*oaParameter{keyID}
	b.addErrors(op, "/v1/keys/{keyId}", ownerErrors, ownerHeaders)
	b.add("DELETE", "/v1/keys/{keyId}", op)

	op = self("rotateOwnKey", "Rotate a key of the account",
		"A new key with the old one's settings, shown this once; the old key keeps working for the grace period, so that clients "+
			"can switch over without an outage.", fiber.StatusOK, "NewOwnKey", "The new key, shown once, and until when the old one works.")
	op.Parameters, op.RequestBody = []*oaParameter{keyID}, bodyRef("RotateOwnKey")
	b.addErrors(op, "/v1/keys/{keyId}/rotate", errorsOf(ownerErrors, []errCase{{fiber.StatusBadRequest, apierr.InvalidRequest}}, bodyErrors), ownerHeaders)
	b.add("POST", "/v1/keys/{keyId}/rotate", op)

	op = self("usage", "Show the account's plan and usage",
		"The plan, the shared credit balance and rate limits now, and this month's usage (UTC) from analytics, "+
			"left out when analytics does not answer within "+usageWait.String()+".", fiber.StatusOK, "UsageResult", "The plan and usage.")
	b.addErrors(op, "/v1/usage", errorsOf(ownerErrors, []errCase{{fiber.StatusNotFound, apierr.AccountNotFound}}), ownerHeaders)
	b.add("GET", "/v1/usage", op)
}
