package httpapi

import (
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/ocrstack/ocrstack/contracts"
	"github.com/ocrstack/ocrstack/ingress/internal/testlog"
	"github.com/stretchr/testify/require"
)

// TestV2Auth checks that every /v2 route admits only the root key: a
// missing or malformed header, a wrong token, an OCR key, a token that is
// the root key's prefix, and any token when no root key is configured are
// all a 401 in Unkey's error shape, before keyservice hears of the request;
// and that no token reaches the logs.
func TestV2Auth(t *testing.T) {
	nc := startNATS(t)
	logs := &testlog.Buffer{}
	ks := serveKeyservice(t, nc.ConnectedUrl(), map[string][]reply{">": {{code: contracts.CodeInternal, message: "must not be called"}}})
	withRoot, withoutRoot := newV2App(nc, testRootKey, logs), newV2App(nc, "", logs)
	cases := []struct {
		name     string
		auth     string
		noRoot   bool
		wantType string
	}{
		{"no header", "", false, "unkey/authentication/malformed"},
		{"basic scheme", "Basic " + testRootKey, false, "unkey/authentication/malformed"},
		{"bearer without token", "Bearer ", false, "unkey/authentication/malformed"},
		{"wrong token", "Bearer root_test_WRONG_0123456789abcd", false, "unkey/authentication/key_not_found"},
		{"an OCR key", "Bearer good", false, "unkey/authentication/key_not_found"},
		{"the root key's prefix", "Bearer " + testRootKey[:len(testRootKey)-1], false, "unkey/authentication/key_not_found"},
		{"the root key and more", "Bearer " + testRootKey + "x", false, "unkey/authentication/key_not_found"},
		{"no root key configured", "Bearer " + testRootKey, true, "unkey/authentication/key_not_found"},
	}
	for route := range v2Routes {
		for _, tc := range cases {
			t.Run(route+"/"+tc.name, func(t *testing.T) {
				app := withRoot
				if tc.noRoot {
					app = withoutRoot
				}
				req := v2Request(route, `{}`)
				req.Header.Del("Authorization")
				if tc.auth != "" {
					req.Header.Set("Authorization", tc.auth)
				}
				r := do(t, app, req)
				require.Equal(t, 401, r.status, r.raw)
				e := v2Error(t, r)
				require.Equal(t, "Unauthorized", e["title"])
				require.Equal(t, unkeyDocs+tc.wantType, e["type"])
				require.Nil(t, e["errors"], "only a 400 lists errors")
			})
		}
	}
	require.Empty(t, ks.received(), "an unauthenticated request reached keyservice")
	require.NotContains(t, logs.String(), testRootKey[:12], "a token reached the logs")
}

// TestV2RootKeyAdmitted checks the scheme is case-insensitive as in RFC 6750
// and that the root key opens even an unknown route, which is then a 404 in
// Unkey's shape; a wrong method is refused in the same shape.
func TestV2RootKeyAdmitted(t *testing.T) {
	nc := startNATS(t)
	app := newV2App(nc, testRootKey, &testlog.Buffer{})
	serveKeyservice(t, nc.ConnectedUrl(), map[string][]reply{contracts.SubjectKeysDelete: ok(contracts.Empty{})})

	req := v2Request("keys.deleteKey", `{"keyId":"key_1"}`)
	req.Header.Set("Authorization", "bearer "+testRootKey)
	r := do(t, app, req)
	require.Equal(t, 200, r.status, r.raw)

	r = do(t, app, v2Request("keys.addRoles", `{}`))
	require.Equal(t, 404, r.status, r.raw)
	require.Equal(t, "about:blank", v2Error(t, r)["type"])

	get := httptest.NewRequest(http.MethodGet, "/v2/keys.getKey", nil)
	get.Header.Set("Authorization", "Bearer "+testRootKey)
	r = do(t, app, get)
	require.Contains(t, []int{404, 405}, r.status, r.raw)
	v2Error(t, r)
}

// TestV2KeyserviceErrors checks how keyservice's error replies and outages
// become Unkey errors: BAD_REQUEST 400, NOT_FOUND 404, CONFLICT 409,
// INTERNAL and unknown codes 500 without the internal message, and
// UNAVAILABLE (keyservice's storage did not answer) or no answer (nobody
// listening, or too slow) a 503 with Retry-After.
func TestV2KeyserviceErrors(t *testing.T) {
	nc := startNATS(t)
	app := newV2App(nc, testRootKey, &testlog.Buffer{})
	cases := []struct {
		name       string
		route      string
		body       string
		replies    map[string][]reply
		wantStatus int
		wantType   string
		wantDetail string
		wantCalls  int
	}{
		{"bad request", "keys.createKey", `{"apiId":"api_ocr","prefix":"no_underscores"}`,
			map[string][]reply{contracts.SubjectKeysCreate: {{code: contracts.CodeBadRequest, message: "prefix: only letters and digits"}}},
			400, "unkey/application/invalid_input", "prefix: only letters and digits", 1},
		{"key not found", "keys.getKey", `{"keyId":"key_nope"}`,
			map[string][]reply{contracts.SubjectKeysGet: {{code: contracts.CodeNotFound, message: "no such key"}}},
			404, "unkey/data/key_not_found", "no such key", 1},
		{"identity not found by either name", "identities.getIdentity", `{"identity":"nobody"}`,
			map[string][]reply{contracts.SubjectIdentitiesGet: {{code: contracts.CodeNotFound, message: "no such identity"}}},
			404, "unkey/data/identity_not_found", "no such identity", 2},
		{"identity named by neither a known external id nor a well-formed id", "identities.deleteIdentity", `{"identity":"team-7"}`,
			map[string][]reply{contracts.SubjectIdentitiesDelete: {{code: contracts.CodeNotFound, message: "no such identity"},
				{code: contracts.CodeBadRequest, message: "identityId: required, 1 to 64 characters of A-Z a-z 0-9 _"}}},
			404, "unkey/data/identity_not_found", "no such identity", 2},
		{"api not found", "apis.listKeys", `{"apiId":"api_nope"}`,
			map[string][]reply{contracts.SubjectKeysList: {{code: contracts.CodeNotFound, message: "no such api"}}},
			404, "unkey/data/api_not_found", "no such api", 1},
		{"conflict", "identities.createIdentity", `{"externalId":"user_1"}`,
			map[string][]reply{contracts.SubjectIdentitiesCreate: {{code: contracts.CodeConflict, message: "externalId user_1 is taken"}}},
			409, "unkey/data/identity_already_exists", "externalId user_1 is taken", 1},
		{"internal", "keys.whoami", `{"key":"sk_x"}`,
			map[string][]reply{contracts.SubjectKeysWhoami: {{code: contracts.CodeInternal, message: "kv: bucket ocr_keys: boom"}}},
			500, "unkey/application/unexpected_error", "Something went wrong on our side; please retry", 1},
		{"unknown code", "keys.whoami", `{"key":"sk_x"}`,
			map[string][]reply{contracts.SubjectKeysWhoami: {{code: "SOMETHING_NEW", message: "boom"}}},
			500, "unkey/application/unexpected_error", "Something went wrong on our side; please retry", 1},
		{"keyservice timeout code", "ratelimit.limit", `{"namespace":"a","identifier":"b","limit":1,"duration":1000}`,
			map[string][]reply{contracts.SubjectRatelimitLimit: {{code: contracts.CodeTimeout, message: "kv timeout"}}},
			503, "unkey/application/service_unavailable", "Key management timed out; please retry", 1},
		{"storage unavailable", "keys.createKey", `{"apiId":"api_ocr"}`,
			map[string][]reply{contracts.SubjectKeysCreate: {{code: contracts.CodeUnavailable, message: "boom: no responders"}}},
			503, "unkey/application/service_unavailable", "Key storage is unavailable for a moment; please retry", 1},
		{"storage unavailable to a verification", "keys.verifyKey", `{"key":"sk_x"}`,
			map[string][]reply{contracts.SubjectKeysVerify: {{code: contracts.CodeUnavailable, message: "boom: no responders"}}},
			503, "unkey/application/service_unavailable", "Key storage is unavailable for a moment; please retry", 1},
		{"nobody listening", "keys.verifyKey", `{"key":"sk_x"}`, nil,
			503, "unkey/application/service_unavailable", "Key management is unavailable; please retry", 0},
		{"no answer in time", "keys.verifyKey", `{"key":"sk_x"}`,
			map[string][]reply{contracts.SubjectKeysVerify: {{silent: true}}},
			503, "unkey/application/service_unavailable", "Key management is unavailable; please retry", 1},
		{"reply of the wrong shape", "keys.getKey", `{"keyId":"key_1"}`,
			map[string][]reply{contracts.SubjectKeysGet: ok([]int{1})},
			500, "unkey/application/unexpected_error", "Something went wrong on our side; please retry", 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ks := serveKeyservice(t, nc.ConnectedUrl(), tc.replies)
			r := do(t, app, v2Request(tc.route, tc.body))
			require.Equal(t, tc.wantStatus, r.status, r.raw)
			e := v2Error(t, r)
			require.Equal(t, unkeyDocs+tc.wantType, e["type"])
			require.Equal(t, tc.wantDetail, e["detail"])
			require.NotContains(t, r.raw, "boom", "internal detail leaked")
			require.Len(t, ks.received(), tc.wantCalls)
			if tc.wantStatus == 400 {
				require.Equal(t, []string{"body.prefix"}, locations(t, e), "the field keyservice names")
			}
			if tc.wantStatus == 503 {
				require.Equal(t, "1", r.header.Get("Retry-After"))
			}
			if tc.wantStatus == 409 {
				require.Equal(t, "Conflicting Resource", e["title"])
			}
		})
	}
}

// TestV2StrictDecoding checks requests against Unkey's schemas before
// keyservice sees them: an unknown member of a closed object, a missing or
// mistyped member, null where the spec has no null, and values out of range
// are a 400 whose errors[] name the member; open objects ignore unknown
// members (TestV2Routes).
func TestV2StrictDecoding(t *testing.T) {
	nc := startNATS(t)
	app := newV2App(nc, testRootKey, &testlog.Buffer{})
	ks := serveKeyservice(t, nc.ConnectedUrl(), map[string][]reply{">": {{code: contracts.CodeInternal, message: "must not be called"}}})
	cases := []struct {
		name          string
		route         string
		body          string
		wantLocations []string
	}{
		{"not JSON", "keys.getKey", `{"keyId":`, []string{"body"}},
		{"empty body", "keys.getKey", ``, []string{"body"}},
		{"two values", "keys.getKey", `{"keyId":"key_1"} {}`, []string{"body"}},
		{"array for an object", "keys.getKey", `["key_1"]`, []string{"body"}},
		{"unknown member", "keys.getKey", `{"keyId":"key_1","keyID":"key_2"}`, []string{"body.keyID"}},
		{"wrong case is unknown, and required is missing", "keys.createKey", `{"APIID":"api_ocr"}`, []string{"body.apiId", "body.APIID"}},
		{"unknown nested member", "keys.createKey", `{"apiId":"api_ocr","credits":{"remaining":5,"refill":{"interval":"daily","amount":1,"every":2}}}`, []string{"body.credits.refill.every"}},
		{"mistyped member", "keys.createKey", `{"apiId":"api_ocr","expires":"soon"}`, []string{"body.expires"}},
		{"fraction for an integer", "keys.createKey", `{"apiId":"api_ocr","byteLength":16.5}`, []string{"body.byteLength"}},
		{"below minimum", "keys.createKey", `{"apiId":"api_ocr","byteLength":8}`, []string{"body.byteLength"}},
		{"too long", "keys.createKey", `{"apiId":"api_ocr","prefix":"` + strings.Repeat("p", 17) + `"}`, []string{"body.prefix"}},
		{"enum", "keys.createKey", `{"apiId":"api_ocr","credits":{"remaining":1,"refill":{"interval":"hourly","amount":1}}}`, []string{"body.credits.refill.interval"}},
		{"ratelimit item", "keys.createKey", `{"apiId":"api_ocr","ratelimits":[{"name":"ok_name","limit":1,"duration":999}]}`, []string{"body.ratelimits[0].duration"}},
		{"credits null on create", "keys.createKey", `{"apiId":"api_ocr","credits":null}`, []string{"body.credits"}},
		{"refill on unlimited credits", "keys.createKey", `{"apiId":"api_ocr","credits":{"remaining":null,"refill":{"interval":"daily","amount":1}}}`, []string{"body.credits.refill"}},
		{"recoverable keys", "keys.createKey", `{"apiId":"api_ocr","recoverable":true}`, []string{"body.recoverable"}},
		{"too many meta members", "keys.createKey", `{"apiId":"api_ocr","meta":{` + manyMembers(101) + `}}`, []string{"body.meta"}},
		{"several problems at once", "keys.createKey", `{"name":"","enabled":"yes"}`, []string{"body.apiId", "body.enabled", "body.name"}},
		{"verify: key missing", "keys.verifyKey", `{"tags":["a"]}`, []string{"body.key"}},
		{"verify: too many tags", "keys.verifyKey", `{"key":"k","tags":[` + strings.Repeat(`"t",`, 20) + `"t"]}`, []string{"body.tags"}},
		{"verify: closed credits", "keys.verifyKey", `{"key":"k","credits":{"cost":1,"free":true}}`, []string{"body.credits.free"}},
		{"verify: ratelimit name missing", "keys.verifyKey", `{"key":"k","ratelimits":[{"cost":1}]}`, []string{"body.ratelimits[0].name"}},
		{"get: null id", "keys.getKey", `{"keyId":null}`, []string{"body.keyId"}},
		{"whoami: empty key", "keys.whoami", `{"key":""}`, []string{"body.key"}},
		{"update: enabled cannot be null", "keys.updateKey", `{"keyId":"key_1","enabled":null}`, []string{"body.enabled"}},
		{"update: roles cannot be null", "keys.updateKey", `{"keyId":"key_1","roles":null}`, []string{"body.roles"}},
		{"update: unknown credits member", "keys.updateKey", `{"keyId":"key_1","credits":{"balance":5}}`, []string{"body.credits.balance"}},
		{"update: refill on unlimited credits", "keys.updateKey", `{"keyId":"key_1","credits":{"remaining":null,"refill":{"interval":"daily","amount":1}}}`, []string{"body.credits.refill"}},
		{"update credits: unknown operation", "keys.updateCredits", `{"keyId":"key_1","operation":"multiply","value":2}`, []string{"body.operation"}},
		{"update credits: increment needs a value", "keys.updateCredits", `{"keyId":"key_1","operation":"increment"}`, []string{"body.value"}},
		{"update credits: negative", "keys.updateCredits", `{"keyId":"key_1","operation":"set","value":-1}`, []string{"body.value"}},
		{"delete: permanent must be a boolean", "keys.deleteKey", `{"keyId":"key_1","permanent":"yes"}`, []string{"body.permanent"}},
		{"reroll: expiration required", "keys.rerollKey", `{"keyId":"key_1"}`, []string{"body.expiration"}},
		{"list keys: limit over 100", "apis.listKeys", `{"apiId":"api_ocr","limit":101}`, []string{"body.limit"}},
		{"create identity: externalId missing", "identities.createIdentity", `{"meta":{}}`, []string{"body.externalId"}},
		{"get identity: empty", "identities.getIdentity", `{"identity":""}`, []string{"body.identity"}},
		{"delete identity: unknown member", "identities.deleteIdentity", `{"identity":"u","cascade":true}`, []string{"body.cascade"}},
		{"update identity: meta cannot be null", "identities.updateIdentity", `{"identity":"u","meta":null}`, []string{"body.meta"}},
		{"list identities: limit 0", "identities.listIdentities", `{"limit":0}`, []string{"body.limit"}},
		{"limit: window too short", "ratelimit.limit", `{"namespace":"a","identifier":"b","limit":1,"duration":999}`, []string{"body.duration"}},
		{"limit: unknown member", "ratelimit.limit", `{"namespace":"a","identifier":"b","limit":1,"duration":1000,"async":true}`, []string{"body.async"}},
		{"multi limit: object for the array", "ratelimit.multiLimit", `{"limits":[]}`, []string{"body"}},
		{"multi limit: empty", "ratelimit.multiLimit", `[]`, []string{"body"}},
		{"multi limit: item member", "ratelimit.multiLimit", `[{"namespace":"a","identifier":"b","limit":1,"duration":1000},{"namespace":"a","limit":1,"duration":1000}]`, []string{"body[1].identifier"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := do(t, app, v2Request(tc.route, tc.body))
			require.Equal(t, 400, r.status, r.raw)
			e := v2Error(t, r)
			require.Equal(t, "Bad Request", e["title"])
			require.Equal(t, unkeyDocs+"unkey/application/invalid_input", e["type"])
			got := locations(t, e)
			slices.Sort(got)
			want := slices.Clone(tc.wantLocations)
			slices.Sort(want)
			require.Equal(t, want, got, r.raw)
			for _, x := range e["errors"].([]any) {
				require.NotEmpty(t, x.(map[string]any)["message"])
			}
			if len(got) == 1 {
				only := e["errors"].([]any)[0].(map[string]any)
				require.Equal(t, only["location"].(string)+": "+only["message"].(string), e["detail"])
			}
		})
	}
	t.Run("body over 1 MiB", func(t *testing.T) {
		r := do(t, app, v2Request("keys.createKey", `{"apiId":"api_ocr","name":"`+strings.Repeat("x", maxV2Body)+`"}`))
		require.Equal(t, 413, r.status, r.raw)
		v2Error(t, r)
	})
	require.Empty(t, ks.received(), "an invalid request reached keyservice")
}

func manyMembers(n int) string {
	var b strings.Builder
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(`"m` + strings.Repeat("x", i%7) + string(rune('a'+i%26)) + itoa(i) + `":1`)
	}
	return b.String()
}

// TestV2VerifyOutcomes checks that every verification outcome is a 200
// carrying valid and code, never an HTTP error, and that a key that was not
// found reports neither keyId nor enabled, as Unkey does.
func TestV2VerifyOutcomes(t *testing.T) {
	nc := startNATS(t)
	app := newV2App(nc, testRootKey, &testlog.Buffer{})
	limited := contracts.RatelimitResult{ID: "rl_fixed", Name: "requests", Limit: 6, Duration: 60_000, Remaining: 0, Reset: 1_767_225_660_000, Exceeded: true}
	for _, code := range []contracts.VerifyCode{
		contracts.VerifyNotFound, contracts.VerifyForbidden, contracts.VerifyInsufficientPermissions,
		contracts.VerifyUsageExceeded, contracts.VerifyRateLimited, contracts.VerifyDisabled, contracts.VerifyExpired,
	} {
		t.Run(string(code), func(t *testing.T) {
			v := contracts.VerifyKeyResponse{Code: code, KeyID: "key_1", Enabled: code != contracts.VerifyDisabled}
			switch code {
			case contracts.VerifyNotFound:
				v = contracts.VerifyKeyResponse{Code: code}
			case contracts.VerifyRateLimited:
				v.Ratelimits = []contracts.RatelimitResult{limited}
			case contracts.VerifyUsageExceeded:
				v.Credits = ptr(int64(0))
			}
			serveKeyservice(t, nc.ConnectedUrl(), map[string][]reply{contracts.SubjectKeysVerify: ok(v)})
			r := do(t, app, v2Request("keys.verifyKey", `{"key":"sk_whatever"}`))
			require.Equal(t, 200, r.status, r.raw)
			data := r.body["data"].(map[string]any)
			require.Equal(t, false, data["valid"])
			require.Equal(t, string(code), data["code"])
			switch code {
			case contracts.VerifyNotFound:
				require.NotContains(t, data, "keyId")
				require.NotContains(t, data, "enabled")
			case contracts.VerifyRateLimited:
				require.Equal(t, []any{map[string]any{"exceeded": true, "id": "rl_fixed", "name": "requests", "limit": float64(6),
					"duration": float64(60000), "reset": float64(1767225660000), "remaining": float64(0), "autoApply": false}}, data["ratelimits"])
			case contracts.VerifyUsageExceeded:
				require.Equal(t, float64(0), data["credits"])
			case contracts.VerifyDisabled:
				require.Equal(t, false, data["enabled"])
			}
		})
	}
}

// TestRatelimitID checks the derived ids match Unkey's pattern and are
// stable per owner and name.
func TestRatelimitID(t *testing.T) {
	id := ratelimitID("key_1", "requests")
	require.Regexp(t, regexp.MustCompile(`^rl_[a-f0-9]{16}$`), id)
	require.Equal(t, id, ratelimitID("key_1", "requests"))
	require.NotEqual(t, id, ratelimitID("key_2", "requests"))
	require.NotEqual(t, id, ratelimitID("key_1", "other"))
	require.Equal(t, id, verifyRatelimitID(contracts.RatelimitResult{ID: "key_1", Name: "requests"}, "key_9"))
}
