package httpapi

import (
	"maps"
	"reflect"
	"slices"

	"github.com/ocrstack/ocrstack/contracts"
	"github.com/ocrstack/ocrstack/ingress/internal/idempotency"
)

// v2Doc documents a /v2 route: its request body is the schema
// decodeBody checks it with, so the two cannot differ.
type v2Doc struct {
	summary string
	body    *schema
	// data is the type of the envelope's data; nil for none.
	data reflect.Type
	// page: the answer is a page of a list, with pagination.
	page bool
}

// v2Docs documents every route of v2Routes; the tests hold the two to the
// same names.
var v2Docs = map[string]v2Doc{
	"keys.createKey":            {"Create a key; its plaintext is in the answer, once", createKeySchema, reflect.TypeFor[contracts.CreateKeyResponse](), false},
	"keys.verifyKey":            {"Verify a key, spending its credits and rate limits; every outcome is a 200 with data.valid and data.code", verifyKeySchema, reflect.TypeFor[v2VerifyData](), false},
	"keys.getKey":               {"Read a key by its ID", getKeySchema, reflect.TypeFor[v2Key](), false},
	"keys.whoami":               {"Read a key by its plaintext, spending nothing", whoamiSchema, reflect.TypeFor[v2Key](), false},
	"keys.updateKey":            {"Update a key: an absent member is kept, null clears it, a value replaces it", updateKeySchema, reflect.TypeFor[contracts.Empty](), false},
	"keys.updateCredits":        {"Set, increment or decrement a key's credits atomically", updateCreditsSchema, reflect.TypeFor[v2Credits](), false},
	"keys.deleteKey":            {"Delete a key: it stops verifying at once", deleteKeySchema, reflect.TypeFor[contracts.Empty](), false},
	"keys.rerollKey":            {"Replace a key with a new one of the same settings; the old one verifies for expiration more milliseconds", rerollKeySchema, reflect.TypeFor[contracts.CreateKeyResponse](), false},
	"apis.listKeys":             {"List the keys of an API, a page at a time", listKeysSchema, reflect.TypeFor[[]v2Key](), true},
	"identities.createIdentity": {"Create an identity, whose rate limits and credits its keys share", createIdentitySchema, reflect.TypeFor[v2CreatedIdentity](), false},
	"identities.getIdentity":    {"Read an identity by its external ID or ID", identityRefSchema, reflect.TypeFor[v2Identity](), false},
	"identities.updateIdentity": {"Replace an identity's meta, rate limits or credits", updateIdentitySchema, reflect.TypeFor[v2Identity](), false},
	"identities.deleteIdentity": {"Delete an identity; the answer has no data", identityRefSchema, nil, false},
	"identities.listIdentities": {"List the identities, a page at a time", listIdentitiesSchema, reflect.TypeFor[[]v2Identity](), true},
	"ratelimit.limit":           {"Spend from a standalone rate limit; a limited request is a 200 with success false", limitSchema, reflect.TypeFor[contracts.RatelimitResponse](), false},
	"ratelimit.multiLimit":      {"Spend from several standalone rate limits at once; the body is an array", multiLimitSchema, reflect.TypeFor[v2MultiLimitData](), false},
}

// v2CreatedIdentity is the data v2CreateIdentity answers with.
type v2CreatedIdentity struct {
	IdentityID string `json:"identityId"`
}

// v2MultiLimitData is the data v2MultiLimit answers with.
type v2MultiLimitData struct {
	Passed bool                `json:"passed"`
	Limits []v2MultiLimitCheck `json:"limits"`
}

// v2Routes adds the /v2 routes, in name order.
func (b *specBuilder) v2Routes() {
	g := b.gen
	g.enum(reflect.TypeFor[contracts.VerifyCode](), "VerifyCode", "The outcome of a verification, as in Unkey v2.",
		string(contracts.VerifyValid), string(contracts.VerifyNotFound), string(contracts.VerifyForbidden),
		string(contracts.VerifyInsufficientPermissions), string(contracts.VerifyUsageExceeded), string(contracts.VerifyRateLimited),
		string(contracts.VerifyDisabled), string(contracts.VerifyExpired))
	g.enum(reflect.TypeFor[contracts.RefillInterval](), "RefillInterval", "How often credits are refilled.",
		string(contracts.RefillDaily), string(contracts.RefillMonthly))
	for t, name := range map[reflect.Type]string{
		reflect.TypeFor[v2Key](): "V2Key", reflect.TypeFor[v2Credits](): "V2Credits", reflect.TypeFor[v2Refill](): "V2Refill",
		reflect.TypeFor[v2Identity](): "V2Identity", reflect.TypeFor[v2Ratelimit](): "V2Ratelimit",
		reflect.TypeFor[v2VerifyData](): "V2VerifyKeyData", reflect.TypeFor[v2VerifyRatelimit](): "V2VerifyRatelimit",
		reflect.TypeFor[contracts.CreateKeyResponse](): "V2CreatedKey", reflect.TypeFor[contracts.RatelimitResponse](): "V2RatelimitData",
		reflect.TypeFor[contracts.Empty](): "Empty", reflect.TypeFor[v2MultiLimitCheck](): "V2MultiLimitCheck",
		reflect.TypeFor[v2MultiLimitData](): "V2MultiLimitData", reflect.TypeFor[v2CreatedIdentity](): "V2CreatedIdentity",
		reflect.TypeFor[v2Pagination](): "V2Pagination",
	} {
		g.component(t, name)
	}
	for _, name := range slices.Sorted(maps.Keys(v2Routes)) {
		d, documented := v2Docs[name]
		if !documented {
			d = v2Doc{summary: "Unkey's " + name, data: reflect.TypeFor[any]()}
		}
		body := &jsonSchema{Type: "object"}
		if d.body != nil {
			body = fromV2Schema(d.body)
		}
		b.doc.Components.RequestBodies[name] = &oaRequestBody{Required: true, Content: jsonContent(body)}
		envelope := map[string]*jsonSchema{"meta": ofType[v2Meta](g)}
		if d.data != nil {
			envelope["data"] = g.of(d.data)
		}
		if d.page {
			envelope["pagination"] = ofType[v2Pagination](g)
		}
		op := &oaOperation{
			OperationID: name, Summary: d.summary, Tags: []string{tagV2}, Security: []map[string][]string{{secRootKey: {}}},
			RequestBody: bodyRef(name),
			Responses: map[string]*oaResponse{"200": {Description: "Unkey's success envelope.", Headers: headerRefs("X-Request-Id"),
				Content: jsonContent(object(envelope))}},
		}
		if name == "keys.verifyKey" {
			op.Parameters = []*oaParameter{{Name: "Idempotency-Key", In: "header",
				Description: "An extension of Unkey's contract: a retry with the same key (for the same API key) within 10 minutes answers with the first verification's outcome and spends nothing.",
				Schema:      &jsonSchema{Type: "string", MinLength: new(1), MaxLength: new(idempotency.MaxKeyLength), Pattern: "^[ -~]+$"}}}
		}
		b.addErrors(op, "/v2/"+name, errorsOf(v2Errors, serverErrors), requestIDHeader)
		b.add("POST", "/v2/"+name, op)
	}
}
