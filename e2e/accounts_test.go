package e2e

import (
	"bytes"
	"encoding/json"
	"io"
	"mime/multipart"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/ocrstack/ocrstack/e2e/internal/textimage"
	"github.com/stretchr/testify/require"
)

// call sends an HTTP request to the stack and decodes the JSON answer.
func call(t *testing.T, s *stack, method, path, token, body string) (int, map[string]any, http.Header) {
	t.Helper()
	req, err := http.NewRequest(method, s.url+path, strings.NewReader(body))
	require.NoError(t, err)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	var out map[string]any
	require.NoError(t, json.Unmarshal(raw, &out), "%s %s: %s", method, path, raw)
	out["_raw"] = string(raw)
	return resp.StatusCode, out, resp.Header
}

// reasonOf reads the stable reason of either error shape.
func reasonOf(body map[string]any) string {
	if e, ok := body["error"].(map[string]any); ok {
		if d, ok := e["details"].([]any); ok && len(d) > 0 {
			return d[0].(map[string]any)["reason"].(string)
		}
	}
	r, _ := body["reason"].(string)
	return r
}

// TestAccounts drives the account flow through the real services, with
// email verification on and the file outbox: sign-up, a second sign-up
// refused, a key refused until the emailed link is followed, the upgrade
// (root key only, idempotent per transaction), and the owner's key
// self-service (list, create, rotate with a grace period, revoke, another
// account's key out of reach) and usage.
func TestAccounts(t *testing.T) {
	outbox := t.TempDir()
	s := startStack(t, stackNATS{env: []string{"OCR_EMAIL_VERIFICATION=on", "OCR_OUTBOX_DIR=" + outbox}})
	img, err := textimage.PNG(lines, 40)
	require.NoError(t, err)
	ocr := func(key string) (int, string) {
		var buf bytes.Buffer
		mw := multipart.NewWriter(&buf)
		fw, err := mw.CreateFormFile("image", "scan.png")
		require.NoError(t, err)
		_, _ = fw.Write(img)
		require.NoError(t, mw.Close())
		st, raw := postRaw(t, s.url+"/api/v1/ocr", "Bearer "+key, mw.FormDataContentType(), buf.Bytes())
		return st, raw
	}

	st, body, _ := call(t, s, "POST", "/signup", "", `{"email":" Ada@Example.com ","name":"Ada"}`)
	require.Equal(t, 200, st, body["_raw"])
	first := body["keys"].([]any)[0].(map[string]any)
	key1, keyID1 := first["key"].(string), first["keyId"].(string)
	require.True(t, strings.HasPrefix(key1, "ocr_"), key1)

	st, body, _ = call(t, s, "POST", "/signup", "", `{"email":"ada@example.com","name":"Ada again"}`)
	require.Equal(t, 409, st, body["_raw"])
	require.Equal(t, "ACCOUNT_EXISTS", reasonOf(body))
	st, body, _ = call(t, s, "POST", "/signup", "", `{"email":"not an email","name":"X"}`)
	require.Equal(t, 400, st, body["_raw"])

	st, raw := ocr(key1)
	require.Equal(t, 403, st, raw)
	require.Contains(t, raw, "EMAIL_NOT_VERIFIED")

	mails, err := filepath.Glob(filepath.Join(outbox, "*.eml"))
	require.NoError(t, err)
	require.NotEmpty(t, mails, "no verification mail in the outbox")
	eml, err := os.ReadFile(mails[0])
	require.NoError(t, err)
	require.Contains(t, string(eml), "To: ada@example.com")
	link := regexp.MustCompile(`http://\S+/verify-email\?token=\S+`).FindString(string(eml))
	require.NotEmpty(t, link, string(eml))
	st, body, _ = call(t, s, "GET", strings.TrimPrefix(link, s.url), "", "")
	require.Equal(t, 200, st, body["_raw"])
	require.Equal(t, true, body["emailVerified"])
	st, body, _ = call(t, s, "GET", "/verify-email?token=forged.token", "", "")
	require.Equal(t, 400, st, body["_raw"])
	require.Equal(t, "INVALID_TOKEN", reasonOf(body))

	require.Eventually(t, func() bool { st, _ := ocr(key1); return st == 200 }, 20*time.Second, 200*time.Millisecond,
		"the key still refused after the email was verified")

	// The upgrade: the root key only, once per transaction.
	upgrade := `{"email":"ada@example.com","transactionId":"txn_1","apiKeyId":"` + keyID1 + `"}`
	st, body, _ = call(t, s, "POST", "/upgradeUser", "", upgrade)
	require.Equal(t, 401, st, body["_raw"])
	st, body, _ = call(t, s, "POST", "/upgradeUser", key1, upgrade)
	require.Equal(t, 403, st, body["_raw"])
	st, body, _ = call(t, s, "POST", "/upgradeUser", rootKey, upgrade)
	require.Equal(t, 200, st, body["_raw"])
	require.Equal(t, "pro", body["plan"])
	firstAnswer := body["_raw"]
	st, body, h := call(t, s, "POST", "/upgradeUser", rootKey, `{"email":"ada@example.com","transactionId":"txn_1","apiKeyId":"`+keyID1+`","plan":"business"}`)
	require.Equal(t, 200, st, body["_raw"])
	require.Equal(t, firstAnswer, body["_raw"], "a repeated transaction answers as the first did")
	require.Equal(t, "true", h.Get("Idempotent-Replayed"))
	st, body, _ = call(t, s, "POST", "/upgradeUser", rootKey, `{"email":"nobody@example.com","transactionId":"t","apiKeyId":"`+keyID1+`"}`)
	require.Equal(t, 404, st, body["_raw"])
	require.Equal(t, "ACCOUNT_NOT_FOUND", reasonOf(body))

	usage := func(key string) map[string]any {
		st, body, _ := call(t, s, "GET", "/v1/usage", key, "")
		require.Equal(t, 200, st, body["_raw"])
		return body
	}
	u := usage(key1)
	require.Equal(t, "pro", u["plan"].(map[string]any)["id"])
	require.Equal(t, 10_000.0, u["creditsRemaining"], u["_raw"])
	rls := u["ratelimits"].([]any)
	require.Len(t, rls, 1, u["_raw"])
	require.Equal(t, 100.0, rls[0].(map[string]any)["limit"])
	_, hasUsage := u["usage"]
	require.True(t, hasUsage, "usage is always present, null when analytics is silent")
	if u["usage"] == nil {
		require.NotEmpty(t, u["usageError"], u["_raw"])
		t.Logf("analytics did not answer the usage query: %s", u["usageError"])
	}
	require.Eventually(t, func() bool {
		got, ok := usage(key1)["usage"].(map[string]any)
		return ok && got["creditsSpent"].(float64) >= 1
	}, 20*time.Second, 300*time.Millisecond, "analytics never reported the OCR request")

	// Self-service.
	st, body, _ = call(t, s, "GET", "/v1/keys", key1, "")
	require.Equal(t, 200, st, body["_raw"])
	require.Len(t, body["keys"], 1)
	require.NotContains(t, body["_raw"], key1, "a list never shows a key")
	require.Equal(t, keyID1, body["keys"].([]any)[0].(map[string]any)["keyId"])

	st, body, _ = call(t, s, "POST", "/v1/keys", key1, `{"name":"Production"}`)
	require.Equal(t, 201, st, body["_raw"])
	key2, keyID2 := body["key"].(string), body["keyId"].(string)
	st, body, _ = call(t, s, "POST", "/v1/keys", key1, `{"name":""}`)
	require.Equal(t, 400, st, body["_raw"])
	st, body, _ = call(t, s, "GET", "/v1/keys", key2, "")
	require.Equal(t, 200, st, body["_raw"])
	require.Len(t, body["keys"], 2)

	st, body, _ = call(t, s, "POST", "/v1/keys/"+keyID1+"/rotate", key2, `{"gracePeriodMs":60000}`)
	require.Equal(t, 200, st, body["_raw"])
	key3 := body["key"].(string)
	require.NotEqual(t, key1, key3)
	require.Equal(t, keyID1, body["previousKeyId"])
	st, _, _ = call(t, s, "GET", "/v1/usage", key1, "")
	require.Equal(t, 200, st, "the old key works during the grace period")
	st, _, _ = call(t, s, "GET", "/v1/usage", key3, "")
	require.Equal(t, 200, st, "the new key works")
	st, body, _ = call(t, s, "POST", "/v1/keys/"+keyID2+"/rotate", key2, `{"gracePeriodMs":999999999999}`)
	require.Equal(t, 400, st, body["_raw"])

	st, body, _ = call(t, s, "POST", "/signup", "", `{"email":"bob@example.com","name":"Bob"}`)
	require.Equal(t, 200, st, body["_raw"])
	bobKeyID := body["keys"].([]any)[0].(map[string]any)["keyId"].(string)
	st, body, _ = call(t, s, "DELETE", "/v1/keys/"+bobKeyID, key3, "")
	require.Equal(t, 404, st, "another account's key: %s", body["_raw"])

	st, body, _ = call(t, s, "DELETE", "/v1/keys/"+keyID2, key3, "")
	require.Equal(t, 200, st, body["_raw"])
	require.Eventually(t, func() bool {
		st, _, _ := call(t, s, "GET", "/v1/usage", key2, "")
		return st == 401
	}, 10*time.Second, 100*time.Millisecond, "the revoked key still works")
	st, body, _ = call(t, s, "GET", "/v1/keys", "", "")
	require.Equal(t, 401, st, body["_raw"])
	st, body, _ = call(t, s, "GET", "/v1/keys", rootKey, "")
	require.Equal(t, 401, st, "the root key is no account's key: %s", body["_raw"])
}
