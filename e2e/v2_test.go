package e2e

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"
)

// v2 calls POST /v2/<route> with a bearer token and returns the status and
// the decoded envelope's data (or error).
func v2(t *testing.T, s *stack, token, route, body string) (int, map[string]any) {
	t.Helper()
	status, raw := postRaw(t, s.url+"/v2/"+route, "Bearer "+token, "application/json", []byte(body))
	var env map[string]any
	require.NoError(t, json.Unmarshal([]byte(raw), &env), raw)
	require.Contains(t, env, "meta", raw)
	if data, ok := env["data"].(map[string]any); ok {
		return status, data
	}
	if e, ok := env["error"].(map[string]any); ok {
		return status, e
	}
	return status, env
}

// TestUnkeyV2 drives the real keyservice through the ingress's Unkey v2 API:
// a key's whole life (create, verify down to USAGE_EXCEEDED, top up,
// disable, read back, rotate, revoke) and a standalone rate limit, all as
// the root key; an OCR key is refused.
func TestUnkeyV2(t *testing.T) {
	s := startStack(t)
	st, created := v2(t, s, rootKey, "keys.createKey", `{"apiId":"api_ocr","prefix":"sk","name":"Production",
		"externalId":"acme","meta":{"plan":"pro"},"credits":{"remaining":2},
		"ratelimits":[{"name":"requests","limit":100,"duration":60000,"autoApply":true}]}`)
	require.Equal(t, 200, st, created)
	key, keyID := created["key"].(string), created["keyId"].(string)
	require.Regexp(t, `^sk_`, key)

	verify := func(k string) map[string]any {
		st, d := v2(t, s, rootKey, "keys.verifyKey", `{"key":"`+k+`"}`)
		require.Equal(t, 200, st, d)
		return d
	}
	d := verify(key)
	require.Equal(t, "VALID", d["code"])
	require.Equal(t, true, d["valid"])
	require.EqualValues(t, 1, d["credits"])
	require.Equal(t, map[string]any{"plan": "pro"}, d["meta"])
	require.Equal(t, "VALID", verify(key)["code"])
	require.Equal(t, "USAGE_EXCEEDED", verify(key)["code"])

	st, d = v2(t, s, rootKey, "keys.updateCredits", `{"keyId":"`+keyID+`","operation":"increment","value":5}`)
	require.Equal(t, 200, st, d)
	require.EqualValues(t, 5, d["remaining"])
	d = verify(key)
	require.Equal(t, "VALID", d["code"])
	require.EqualValues(t, 4, d["credits"])

	st, d = v2(t, s, rootKey, "keys.updateKey", `{"keyId":"`+keyID+`","enabled":false}`)
	require.Equal(t, 200, st, d)
	require.Equal(t, "DISABLED", verify(key)["code"])
	st, _ = v2(t, s, rootKey, "keys.updateKey", `{"keyId":"`+keyID+`","enabled":true}`)
	require.Equal(t, 200, st)

	st, d = v2(t, s, rootKey, "keys.getKey", `{"keyId":"`+keyID+`"}`)
	require.Equal(t, 200, st, d)
	require.Equal(t, "Production", d["name"])
	require.NotContains(t, d, "key", "getKey returned a plaintext key")
	st, d = v2(t, s, rootKey, "keys.whoami", `{"key":"`+key+`"}`)
	require.Equal(t, 200, st, d)
	require.Equal(t, keyID, d["keyId"])

	status, raw := postRaw(t, s.url+"/v2/apis.listKeys", "Bearer "+rootKey, "application/json", []byte(`{"apiId":"api_ocr","externalId":"acme"}`))
	require.Equal(t, 200, status, raw)
	require.Contains(t, raw, keyID)
	require.NotContains(t, raw, key)

	st, d = v2(t, s, rootKey, "keys.rerollKey", `{"keyId":"`+keyID+`","expiration":60000}`)
	require.Equal(t, 200, st, d)
	newKey, newID := d["key"].(string), d["keyId"].(string)
	require.NotEqual(t, key, newKey)
	require.Equal(t, "VALID", verify(newKey)["code"], "the new key works")
	require.Equal(t, "VALID", verify(key)["code"], "the old key works during the grace period")

	st, _ = v2(t, s, rootKey, "keys.deleteKey", `{"keyId":"`+newID+`"}`)
	require.Equal(t, 200, st)
	require.Equal(t, "NOT_FOUND", verify(newKey)["code"])

	for i, want := range []bool{true, true, false} {
		st, d = v2(t, s, rootKey, "ratelimit.limit", `{"namespace":"signup.ip","identifier":"203.0.113.7","limit":2,"duration":60000}`)
		require.Equal(t, 200, st, d)
		require.Equal(t, want, d["success"], "standalone limit call %d", i)
	}

	st, _ = v2(t, s, newKey, "keys.createKey", `{"apiId":"api_ocr"}`)
	require.Equal(t, 401, st, "a non-root key reached /v2")
	_, signup := postJSON(t, s.url+"/signup", "", `{"email":"eve@example.com"}`)
	var sk struct {
		Keys []struct{ Key string } `json:"keys"`
	}
	require.NoError(t, json.Unmarshal([]byte(signup), &sk))
	st, _ = v2(t, s, sk.Keys[0].Key, "keys.verifyKey", `{"key":"x"}`)
	require.Equal(t, 401, st, "an OCR key reached /v2")
}
