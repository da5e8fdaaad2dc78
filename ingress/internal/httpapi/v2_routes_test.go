package httpapi

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/ocrstack/ocrstack/contracts"
	"github.com/ocrstack/ocrstack/ingress/internal/testlog"
	"github.com/stretchr/testify/require"
)

func ptr[T any](v T) *T { return &v }

// Canned keyservice data and their Unkey translations.
var (
	testRefill  = &contracts.Refill{Interval: contracts.RefillMonthly, Amount: 100, RefillDay: 1, Mode: contracts.RefillAdd}
	testKeyInfo = contracts.KeyInfo{
		KeyID: "key_1", APIID: "api_ocr", Start: "ocr_3Fk", Name: "Production", ExternalID: "ada@example.com",
		Meta: json.RawMessage(`{"plan":"free"}`), Enabled: true, Expires: 1_800_000_000_000,
		Credits:    &contracts.Credits{Remaining: 7, Refill: testRefill},
		Ratelimits: []contracts.Ratelimit{{Name: "requests", Limit: 6, Duration: 60_000, AutoApply: true}},
		Roles:      []string{"admin"}, Permissions: []string{"documents.read"},
		CreatedAt: 1_767_000_000_000, UpdatedAt: 1_767_100_000_000,
	}
	// testKeyJSON drops apiId and the refill's mode, which Unkey's
	// KeyResponseData does not have, reports the owner as an identity, and
	// gives the limit an id.
	testKeyJSON = `{"keyId":"key_1","start":"ocr_3Fk","enabled":true,"name":"Production","meta":{"plan":"free"},
		"createdAt":1767000000000,"updatedAt":1767100000000,"expires":1800000000000,
		"permissions":["documents.read"],"roles":["admin"],
		"credits":{"remaining":7,"refill":{"interval":"monthly","amount":100,"refillDay":1}},
		"identity":{"id":"","externalId":"ada@example.com"},
		"ratelimits":[{"id":"` + ratelimitID("key_1", "requests") + `","name":"requests","limit":6,"duration":60000,"autoApply":true}]}`
	testIdentity = contracts.Identity{
		ID: "id_1", ExternalID: "user_1", Meta: json.RawMessage(`{"tier":"gold"}`),
		Ratelimits: []contracts.Ratelimit{{Name: "shared", Limit: 100, Duration: 60_000}},
		Credits:    &contracts.Credits{Remaining: 1000},
	}
	testIdentityJSON = `{"id":"id_1","externalId":"user_1","meta":{"tier":"gold"},
		"ratelimits":[{"id":"` + ratelimitID("id_1", "shared") + `","name":"shared","limit":100,"duration":60000,"autoApply":false}],
		"credits":{"remaining":1000}}`
)

// envelope wraps data in Unkey's success body for the test request.
func envelope(data string) string {
	return `{"meta":{"requestId":"` + testRequestID + `"},"data":` + data + `}`
}

func ok(body any) []reply { return []reply{{body: body}} }

// TestV2Routes checks, for every /v2 route, that an Unkey-shaped request
// reaches keyservice on the contracts subject with the contracts body
// (carrying the request ID), and that the reply comes back in Unkey's
// success envelope and shapes.
func TestV2Routes(t *testing.T) {
	nc := startNATS(t)
	app := newV2App(nc, testRootKey, &testlog.Buffer{})
	cases := []struct {
		name      string
		route     string
		body      string
		script    map[string][]reply
		wantCalls []call
		wantBody  string
	}{
		{
			name: "create key", route: "keys.createKey",
			body: `{"apiId":"api_ocr","prefix":"sk","name":"Production","byteLength":24,"externalId":"user_1",
				"meta":{"plan":"pro"},"roles":["admin"],"permissions":["documents.read"],"expires":1800000000000,
				"credits":{"remaining":100,"refill":{"interval":"monthly","amount":100,"refillDay":15}},
				"ratelimits":[{"name":"requests","limit":10,"duration":60000,"autoApply":true}],"enabled":false,"recoverable":false}`,
			script: map[string][]reply{contracts.SubjectKeysCreate: ok(contracts.CreateKeyResponse{KeyID: "key_new", Key: "sk_secret"})},
			wantCalls: []call{{Subject: contracts.SubjectKeysCreate, Body: `{"apiId":"api_ocr","prefix":"sk","byteLength":24,"name":"Production",
				"externalId":"user_1","meta":{"plan":"pro"},"expires":1800000000000,
				"credits":{"remaining":100,"refill":{"interval":"monthly","amount":100,"refillDay":15}},
				"ratelimits":[{"name":"requests","limit":10,"duration":60000,"autoApply":true}],"enabled":false,
				"roles":["admin"],"permissions":["documents.read"]}`}},
			wantBody: envelope(`{"keyId":"key_new","key":"sk_secret"}`),
		},
		{
			name: "create key with unlimited credits", route: "keys.createKey",
			body:      `{"apiId":"api_ocr","credits":{"remaining":null}}`,
			script:    map[string][]reply{contracts.SubjectKeysCreate: ok(contracts.CreateKeyResponse{KeyID: "key_new", Key: "sk_secret"})},
			wantCalls: []call{{Subject: contracts.SubjectKeysCreate, Body: `{"apiId":"api_ocr"}`}},
			wantBody:  envelope(`{"keyId":"key_new","key":"sk_secret"}`),
		},
		{
			name: "verify key", route: "keys.verifyKey",
			body: `{"key":"sk_secret","tags":["route=/x"],"permissions":"documents.read","credits":{"cost":2},
				"ratelimits":[{"name":"requests","cost":1,"ignored":true}],"migrationId":"m_1"}`,
			script: map[string][]reply{contracts.SubjectKeysVerify: ok(contracts.VerifyKeyResponse{
				Valid: true, Code: contracts.VerifyValid, KeyID: "key_1", APIID: "api_ocr", Name: "Production", ExternalID: "user_1",
				Meta: json.RawMessage(`{"plan":"pro"}`), Expires: 1_800_000_000_000, Credits: ptr(int64(5)), Enabled: true,
				Ratelimits: []contracts.RatelimitResult{{Name: "requests", Limit: 10, Duration: 60_000, Remaining: 9, Reset: 1_767_225_660_000, AutoApply: true}},
				Identity:   &testIdentity, Roles: []string{"admin"}, Permissions: []string{"documents.read"},
			})},
			wantCalls: []call{{Subject: contracts.SubjectKeysVerify, Body: `{"key":"sk_secret","requestId":"` + testRequestID + `",
				"credits":{"cost":2},"tags":["route=/x"],"permissions":"documents.read","ratelimits":[{"name":"requests","cost":1}]}`}},
			wantBody: envelope(`{"valid":true,"code":"VALID","keyId":"key_1","name":"Production","meta":{"plan":"pro"},
				"expires":1800000000000,"credits":5,"enabled":true,"permissions":["documents.read"],"roles":["admin"],
				"identity":` + testIdentityJSON + `,
				"ratelimits":[{"exceeded":false,"id":"` + ratelimitID("key_1", "requests") + `","name":"requests","limit":10,
				"duration":60000,"reset":1767225660000,"remaining":9,"autoApply":true}]}`),
		},
		{
			name: "get key", route: "keys.getKey", body: `{"keyId":"key_1","decrypt":true}`,
			script:    map[string][]reply{contracts.SubjectKeysGet: ok(testKeyInfo)},
			wantCalls: []call{{Subject: contracts.SubjectKeysGet, Body: `{"keyId":"key_1"}`}},
			wantBody:  envelope(testKeyJSON),
		},
		{
			name: "whoami", route: "keys.whoami", body: `{"key":"sk_secret"}`,
			script:    map[string][]reply{contracts.SubjectKeysWhoami: ok(testKeyInfo)},
			wantCalls: []call{{Subject: contracts.SubjectKeysWhoami, Body: `{"key":"sk_secret"}`}},
			wantBody:  envelope(testKeyJSON),
		},
		{
			name: "update key keeps absent, null and value apart", route: "keys.updateKey",
			body:      `{"keyId":"key_1","name":null,"externalId":"user_2","meta":{"plan":"pro"},"expires":null,"enabled":false,"ratelimits":[]}`,
			script:    map[string][]reply{contracts.SubjectKeysUpdate: ok(testKeyInfo)},
			wantCalls: []call{{Subject: contracts.SubjectKeysUpdate, Body: `{"keyId":"key_1","name":null,"externalId":"user_2","meta":{"plan":"pro"},"expires":null,"ratelimits":[],"enabled":false}`}},
			wantBody:  envelope(`{}`),
		},
		{
			name: "update key: ratelimits and credits null clear", route: "keys.updateKey",
			body:      `{"keyId":"key_1","ratelimits":null,"credits":null,"roles":[],"permissions":["a.read"]}`,
			script:    map[string][]reply{contracts.SubjectKeysUpdate: ok(testKeyInfo)},
			wantCalls: []call{{Subject: contracts.SubjectKeysUpdate, Body: `{"keyId":"key_1","ratelimits":null,"credits":null,"roles":[],"permissions":["a.read"]}`}},
			wantBody:  envelope(`{}`),
		},
		{
			name: "update key: remaining null makes credits unlimited", route: "keys.updateKey",
			body:      `{"keyId":"key_1","credits":{"remaining":null}}`,
			script:    map[string][]reply{contracts.SubjectKeysUpdate: ok(testKeyInfo)},
			wantCalls: []call{{Subject: contracts.SubjectKeysUpdate, Body: `{"keyId":"key_1","credits":null}`}},
			wantBody:  envelope(`{}`),
		},
		{
			name: "update key: remaining and refill replace credits", route: "keys.updateKey",
			body:      `{"keyId":"key_1","credits":{"remaining":5,"refill":{"interval":"daily","amount":10}}}`,
			script:    map[string][]reply{contracts.SubjectKeysUpdate: ok(testKeyInfo)},
			wantCalls: []call{{Subject: contracts.SubjectKeysUpdate, Body: `{"keyId":"key_1","credits":{"remaining":5,"refill":{"interval":"daily","amount":10}}}`}},
			wantBody:  envelope(`{}`),
		},
		{
			name: "update key: remaining alone keeps the refill", route: "keys.updateKey",
			body:   `{"keyId":"key_1","credits":{"remaining":5}}`,
			script: map[string][]reply{contracts.SubjectKeysGet: ok(testKeyInfo), contracts.SubjectKeysUpdate: ok(testKeyInfo)},
			wantCalls: []call{
				{Subject: contracts.SubjectKeysGet, Body: `{"keyId":"key_1"}`},
				{Subject: contracts.SubjectKeysUpdate, Body: `{"keyId":"key_1","credits":{"remaining":5,"refill":{"interval":"monthly","amount":100,"refillDay":1,"mode":"add"}}}`},
			},
			wantBody: envelope(`{}`),
		},
		{
			name: "update key: refill alone keeps the balance", route: "keys.updateKey",
			body:   `{"keyId":"key_1","credits":{"refill":{"interval":"daily","amount":50,"mode":"replace"}}}`,
			script: map[string][]reply{contracts.SubjectKeysGet: ok(testKeyInfo), contracts.SubjectKeysUpdate: ok(testKeyInfo)},
			wantCalls: []call{
				{Subject: contracts.SubjectKeysGet, Body: `{"keyId":"key_1"}`},
				{Subject: contracts.SubjectKeysUpdate, Body: `{"keyId":"key_1","credits":{"remaining":7,"refill":{"interval":"daily","amount":50,"mode":"replace"}}}`},
			},
			wantBody: envelope(`{}`),
		},
		{
			name: "update key: refill null drops only the refill", route: "keys.updateKey",
			body:   `{"keyId":"key_1","credits":{"refill":null}}`,
			script: map[string][]reply{contracts.SubjectKeysGet: ok(testKeyInfo), contracts.SubjectKeysUpdate: ok(testKeyInfo)},
			wantCalls: []call{
				{Subject: contracts.SubjectKeysGet, Body: `{"keyId":"key_1"}`},
				{Subject: contracts.SubjectKeysUpdate, Body: `{"keyId":"key_1","credits":{"remaining":7}}`},
			},
			wantBody: envelope(`{}`),
		},
		{
			name: "update key: empty credits change nothing", route: "keys.updateKey",
			body:      `{"keyId":"key_1","credits":{}}`,
			script:    map[string][]reply{contracts.SubjectKeysUpdate: ok(testKeyInfo)},
			wantCalls: []call{{Subject: contracts.SubjectKeysUpdate, Body: `{"keyId":"key_1"}`}},
			wantBody:  envelope(`{}`),
		},
		{
			name: "update credits: set null is unlimited", route: "keys.updateCredits",
			body:      `{"keyId":"key_1","operation":"set","value":null}`,
			script:    map[string][]reply{contracts.SubjectKeysUpdateCredits: ok(contracts.UpdateCreditsResponse{})},
			wantCalls: []call{{Subject: contracts.SubjectKeysUpdateCredits, Body: `{"keyId":"key_1","operation":"set","value":null}`}},
			wantBody:  envelope(`{"remaining":null}`),
		},
		{
			name: "update credits: increment", route: "keys.updateCredits",
			body:      `{"keyId":"key_1","operation":"increment","value":50}`,
			script:    map[string][]reply{contracts.SubjectKeysUpdateCredits: ok(contracts.UpdateCreditsResponse{Remaining: ptr(int64(57)), Refill: testRefill})},
			wantCalls: []call{{Subject: contracts.SubjectKeysUpdateCredits, Body: `{"keyId":"key_1","operation":"increment","value":50}`}},
			wantBody:  envelope(`{"remaining":57,"refill":{"interval":"monthly","amount":100,"refillDay":1}}`),
		},
		{
			name: "delete key", route: "keys.deleteKey", body: `{"keyId":"key_1","permanent":true}`,
			script:    map[string][]reply{contracts.SubjectKeysDelete: ok(contracts.Empty{})},
			wantCalls: []call{{Subject: contracts.SubjectKeysDelete, Body: `{"keyId":"key_1"}`}},
			wantBody:  envelope(`{}`),
		},
		{
			name: "reroll key ignores unknown members (open schema)", route: "keys.rerollKey",
			body:      `{"keyId":"key_1","expiration":86400000,"KEYID":"key_evil","future":1}`,
			script:    map[string][]reply{contracts.SubjectKeysReroll: ok(contracts.CreateKeyResponse{KeyID: "key_2", Key: "sk_new"})},
			wantCalls: []call{{Subject: contracts.SubjectKeysReroll, Body: `{"keyId":"key_1","expiration":86400000}`}},
			wantBody:  envelope(`{"keyId":"key_2","key":"sk_new"}`),
		},
		{
			name: "list keys", route: "apis.listKeys",
			body:      `{"apiId":"api_ocr","limit":2,"cursor":"c1","externalId":"user_1","decrypt":false,"revalidateKeysCache":true}`,
			script:    map[string][]reply{contracts.SubjectKeysList: ok(contracts.ListKeysResponse{Keys: []contracts.KeyInfo{testKeyInfo}, Cursor: "c2", HasMore: true})},
			wantCalls: []call{{Subject: contracts.SubjectKeysList, Body: `{"apiId":"api_ocr","externalId":"user_1","cursor":"c1","limit":2}`}},
			wantBody:  `{"meta":{"requestId":"` + testRequestID + `"},"data":[` + testKeyJSON + `],"pagination":{"cursor":"c2","hasMore":true}}`,
		},
		{
			name: "list keys: empty page", route: "apis.listKeys", body: `{"apiId":"api_ocr"}`,
			script:    map[string][]reply{contracts.SubjectKeysList: ok(contracts.ListKeysResponse{})},
			wantCalls: []call{{Subject: contracts.SubjectKeysList, Body: `{"apiId":"api_ocr"}`}},
			wantBody:  `{"meta":{"requestId":"` + testRequestID + `"},"data":[],"pagination":{"hasMore":false}}`,
		},
		{
			name: "create identity", route: "identities.createIdentity",
			body:   `{"externalId":"user_1","meta":{"tier":"gold"},"ratelimits":[{"name":"shared","limit":100,"duration":60000}],"credits":{"remaining":1000},"future":"ignored"}`,
			script: map[string][]reply{contracts.SubjectIdentitiesCreate: ok(contracts.IdentityRef{IdentityID: "id_1", ExternalID: "user_1"})},
			wantCalls: []call{{Subject: contracts.SubjectIdentitiesCreate, Body: `{"externalId":"user_1","meta":{"tier":"gold"},
				"ratelimits":[{"name":"shared","limit":100,"duration":60000,"autoApply":false}],"credits":{"remaining":1000}}`}},
			wantBody: envelope(`{"identityId":"id_1"}`),
		},
		{
			name: "get identity by external id", route: "identities.getIdentity", body: `{"identity":"user_1"}`,
			script:    map[string][]reply{contracts.SubjectIdentitiesGet: ok(testIdentity)},
			wantCalls: []call{{Subject: contracts.SubjectIdentitiesGet, Body: `{"externalId":"user_1"}`}},
			wantBody:  envelope(testIdentityJSON),
		},
		{
			name: "get identity by id, after no such external id", route: "identities.getIdentity", body: `{"identity":"id_1"}`,
			script: map[string][]reply{contracts.SubjectIdentitiesGet: {{code: contracts.CodeNotFound, message: "no such identity"}, {body: testIdentity}}},
			wantCalls: []call{
				{Subject: contracts.SubjectIdentitiesGet, Body: `{"externalId":"id_1"}`},
				{Subject: contracts.SubjectIdentitiesGet, Body: `{"identityId":"id_1"}`},
			},
			wantBody: envelope(testIdentityJSON),
		},
		{
			name: "update identity", route: "identities.updateIdentity",
			body:      `{"identity":"user_1","meta":{},"ratelimits":[],"credits":{"remaining":null}}`,
			script:    map[string][]reply{contracts.SubjectIdentitiesUpdate: ok(testIdentity)},
			wantCalls: []call{{Subject: contracts.SubjectIdentitiesUpdate, Body: `{"externalId":"user_1","meta":{},"ratelimits":[],"credits":null}`}},
			wantBody:  envelope(testIdentityJSON),
		},
		{
			name: "update identity: absent members stay absent", route: "identities.updateIdentity",
			body:      `{"identity":"user_1","meta":{"tier":"silver"}}`,
			script:    map[string][]reply{contracts.SubjectIdentitiesUpdate: ok(testIdentity)},
			wantCalls: []call{{Subject: contracts.SubjectIdentitiesUpdate, Body: `{"externalId":"user_1","meta":{"tier":"silver"}}`}},
			wantBody:  envelope(testIdentityJSON),
		},
		{
			name: "delete identity answers meta only", route: "identities.deleteIdentity", body: `{"identity":"user_1"}`,
			script:    map[string][]reply{contracts.SubjectIdentitiesDelete: ok(contracts.Empty{})},
			wantCalls: []call{{Subject: contracts.SubjectIdentitiesDelete, Body: `{"externalId":"user_1"}`}},
			wantBody:  `{"meta":{"requestId":"` + testRequestID + `"}}`,
		},
		{
			name: "list identities", route: "identities.listIdentities", body: `{"limit":10,"cursor":"c1"}`,
			script:    map[string][]reply{contracts.SubjectIdentitiesList: ok(contracts.ListIdentitiesResponse{Identities: []contracts.Identity{testIdentity}})},
			wantCalls: []call{{Subject: contracts.SubjectIdentitiesList, Body: `{"cursor":"c1","limit":10}`}},
			wantBody:  `{"meta":{"requestId":"` + testRequestID + `"},"data":[` + testIdentityJSON + `],"pagination":{"hasMore":false}}`,
		},
		{
			name: "list identities: search filters keyservice's pages", route: "identities.listIdentities",
			body: `{"limit":2,"search":"ACME"}`,
			script: map[string][]reply{contracts.SubjectIdentitiesList: {
				{body: contracts.ListIdentitiesResponse{Identities: []contracts.Identity{{ID: "id_a", ExternalID: "acme-1"}, {ID: "id_b", ExternalID: "other"}}, Cursor: "id_b", HasMore: true}},
				{body: contracts.ListIdentitiesResponse{Identities: []contracts.Identity{{ID: "id_c", ExternalID: "Acme-2"}, {ID: "id_d", ExternalID: "acme-3"}}}},
			}},
			wantCalls: []call{
				{Subject: contracts.SubjectIdentitiesList, Body: `{"limit":100}`},
				{Subject: contracts.SubjectIdentitiesList, Body: `{"cursor":"id_b","limit":100}`},
			},
			wantBody: `{"meta":{"requestId":"` + testRequestID + `"},"data":[{"id":"id_a","externalId":"acme-1"},{"id":"id_c","externalId":"Acme-2"}],
				"pagination":{"cursor":"id_c","hasMore":true}}`,
		},
		{
			name: "list identities: search matches ids too, and a last page has no cursor", route: "identities.listIdentities",
			body: `{"search":"id_D","cursor":"id_b"}`,
			script: map[string][]reply{contracts.SubjectIdentitiesList: ok(contracts.ListIdentitiesResponse{
				Identities: []contracts.Identity{{ID: "id_c", ExternalID: "acme-2"}, {ID: "id_d", ExternalID: "acme-3"}}})},
			wantCalls: []call{{Subject: contracts.SubjectIdentitiesList, Body: `{"cursor":"id_b","limit":100}`}},
			wantBody:  `{"meta":{"requestId":"` + testRequestID + `"},"data":[{"id":"id_d","externalId":"acme-3"}],"pagination":{"hasMore":false}}`,
		},
		{
			name: "list identities: a search whose limit fills with the list's last identity", route: "identities.listIdentities",
			body: `{"search":"acme","limit":1}`,
			script: map[string][]reply{contracts.SubjectIdentitiesList: ok(contracts.ListIdentitiesResponse{
				Identities: []contracts.Identity{{ID: "id_c", ExternalID: "other"}, {ID: "id_d", ExternalID: "acme-3"}}})},
			wantCalls: []call{{Subject: contracts.SubjectIdentitiesList, Body: `{"limit":100}`}},
			wantBody:  `{"meta":{"requestId":"` + testRequestID + `"},"data":[{"id":"id_d","externalId":"acme-3"}],"pagination":{"hasMore":false}}`,
		},
		{
			name: "list keys: a last page drops keyservice's cursor", route: "apis.listKeys", body: `{"apiId":"api_ocr"}`,
			script:    map[string][]reply{contracts.SubjectKeysList: ok(contracts.ListKeysResponse{Keys: []contracts.KeyInfo{}, Cursor: "key_9", HasMore: false})},
			wantCalls: []call{{Subject: contracts.SubjectKeysList, Body: `{"apiId":"api_ocr"}`}},
			wantBody:  `{"meta":{"requestId":"` + testRequestID + `"},"data":[],"pagination":{"hasMore":false}}`,
		},
		{
			name: "limit: a refusal is still a 200", route: "ratelimit.limit",
			body:      `{"namespace":"signup.ip","identifier":"203.0.113.7","limit":5,"duration":60000,"cost":2}`,
			script:    map[string][]reply{contracts.SubjectRatelimitLimit: ok(contracts.RatelimitResponse{Limit: 5, Reset: 1_767_225_660_000})},
			wantCalls: []call{{Subject: contracts.SubjectRatelimitLimit, Body: `{"namespace":"signup.ip","identifier":"203.0.113.7","limit":5,"duration":60000,"cost":2}`}},
			wantBody:  envelope(`{"success":false,"limit":5,"remaining":0,"reset":1767225660000}`),
		},
		{
			name: "multi limit: a bare array in, wrapped for contracts", route: "ratelimit.multiLimit",
			body: `[{"namespace":"a","identifier":"x","limit":5,"duration":60000},{"namespace":"b","identifier":"y","limit":1,"duration":1000,"cost":0}]`,
			script: map[string][]reply{contracts.SubjectRatelimitMultiLimit: ok(contracts.MultiRatelimitResponse{Limits: []contracts.RatelimitResponse{
				{Success: true, Limit: 5, Remaining: 4, Reset: 1_767_225_660_000}, {Limit: 1, Reset: 1_767_225_631_000}}})},
			wantCalls: []call{{Subject: contracts.SubjectRatelimitMultiLimit, Body: `{"limits":[{"namespace":"a","identifier":"x","limit":5,"duration":60000},
				{"namespace":"b","identifier":"y","limit":1,"duration":1000,"cost":0}]}`}},
			wantBody: envelope(`{"passed":false,"limits":[
				{"namespace":"a","identifier":"x","limit":5,"remaining":4,"reset":1767225660000,"passed":true},
				{"namespace":"b","identifier":"y","limit":1,"remaining":0,"reset":1767225631000,"passed":false}]}`),
		},
	}
	covered := map[string]bool{}
	for _, tc := range cases {
		covered[tc.route] = true
		t.Run(tc.name, func(t *testing.T) {
			ks := serveKeyservice(t, nc.ConnectedUrl(), tc.script)
			r := do(t, app, v2Request(tc.route, tc.body))
			require.Equal(t, 200, r.status, r.raw)
			require.Equal(t, testRequestID, r.header.Get("X-Request-Id"))
			require.True(t, strings.HasPrefix(r.header.Get("Content-Type"), "application/json"))
			require.JSONEq(t, tc.wantBody, r.raw)
			got := ks.received()
			require.Len(t, got, len(tc.wantCalls), "calls: %+v", got)
			for i, want := range tc.wantCalls {
				require.Equal(t, want.Subject, got[i].Subject)
				require.JSONEq(t, want.Body, got[i].Body, "call %d on %s", i, want.Subject)
				require.Equal(t, testRequestID, got[i].RequestID, "request ID header")
			}
		})
	}
	for route := range v2Routes {
		require.True(t, covered[route], "no success case for %s", route)
	}
}

// TestV2VerifyKeyIdempotencyKey checks the extension of keys.verifyKey: an
// Idempotency-Key header reaches keyservice as the verification's
// idempotency key (which makes keyservice replay a repeat rather than spend
// again), and a malformed one is a 400 before keyservice is asked.
func TestV2VerifyKeyIdempotencyKey(t *testing.T) {
	nc := startNATS(t)
	app := newV2App(nc, testRootKey, &testlog.Buffer{})
	ks := serveKeyservice(t, nc.ConnectedUrl(), map[string][]reply{
		contracts.SubjectKeysVerify: ok(contracts.VerifyKeyResponse{Valid: true, Code: contracts.VerifyValid, KeyID: "key_1"}),
	})
	req := v2Request("keys.verifyKey", `{"key":"sk_secret"}`)
	req.Header.Set("Idempotency-Key", "order-42")
	r := do(t, app, req)
	require.Equal(t, 200, r.status, r.raw)
	got := ks.received()
	require.Len(t, got, 1)
	require.JSONEq(t, `{"key":"sk_secret","requestId":"`+testRequestID+`","idempotencyKey":"order-42"}`, got[0].Body)

	req = v2Request("keys.verifyKey", `{"key":"sk_secret"}`)
	req.Header.Set("Idempotency-Key", "tab\tinside")
	r = do(t, app, req)
	require.Equal(t, 400, r.status, r.raw)
	require.Len(t, ks.received(), 1, "keyservice asked about a malformed Idempotency-Key")
}
