package httpapi

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"github.com/ocrstack/ocrstack/contracts"
	"github.com/ocrstack/ocrstack/ingress/internal/accounts"
	"github.com/stretchr/testify/require"
)

// accountRequest is a request to an account route with a JSON body (none
// when body is "") and a bearer token (none when token is "").
func accountRequest(method, path, token, body string) *http.Request {
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	return req
}

func (s *accountStack) call(t *testing.T, method, path, token, body string) response {
	t.Helper()
	return do(t, s.app, accountRequest(method, path, token, body))
}

// signup opens the account of email and returns its first key and its ID.
func (s *accountStack) signup(t *testing.T, email string) (key, keyID string) {
	t.Helper()
	r := s.call(t, "POST", "/signup", "", `{"email":"`+email+`","name":"Ada"}`)
	require.Equal(t, 200, r.status, r.raw)
	k := r.body["keys"].([]any)[0].(map[string]any)
	return k["key"].(string), k["keyId"].(string)
}

// requireError requires status and reason, in PicToText's envelope but on
// /signup.
func requireError(t *testing.T, r response, status int, want string) {
	t.Helper()
	require.Equal(t, status, r.status, r.raw)
	require.Equal(t, want, reason(r), r.raw)
}

// TestAccountSignup checks sign-up with accounts and email verification:
// one account per email whatever its case (409 ACCOUNT_EXISTS in the
// sign-up's shape), a bad email refused, the key refused with 403
// EMAIL_NOT_VERIFIED (and no job run) until the mailed link is followed,
// though self-service works before, and a damaged or missing link refused
// with 400 INVALID_TOKEN.
func TestAccountSignup(t *testing.T) {
	s := startAccounts(t, true, nil)
	key, _ := s.signup(t, "ada@example.com")
	require.True(t, strings.HasPrefix(key, "ocr_"), key)

	r := s.call(t, "POST", "/signup", "", `{"email":" Ada@Example.COM ","name":"Ada again"}`)
	requireError(t, r, 409, "ACCOUNT_EXISTS")
	require.Nil(t, r.body["keys"])
	for _, email := range []string{"not-an-email", "Ada <ada@example.com>", "", strings.Repeat("a", 250) + "@b.co"} {
		requireError(t, s.call(t, "POST", "/signup", "", `{"email":"`+email+`"}`), 400, "INVALID_REQUEST")
	}
	require.Equal(t, 1, s.ks.keyCount("ada@example.com"), "a refused sign-up created a key")

	r = do(t, s.app, request(t, "/api/v1/ocr", "Bearer "+key, pngBytes))
	requireError(t, r, 403, "EMAIL_NOT_VERIFIED")
	require.Zero(t, s.jobs.submits, "an unverified account's request ran")
	require.Equal(t, 200, s.call(t, "GET", "/v1/keys", key, "").status, "self-service needs no verified email")

	link := s.mail.link(t, "ada@example.com")
	for range 2 { // following the link again changes nothing
		r = s.call(t, "GET", link, "", "")
		require.Equal(t, 200, r.status, r.raw)
		require.JSONEq(t, `{"email":"ada@example.com","emailVerified":true}`, r.raw)
	}
	r = do(t, s.app, request(t, "/api/v1/ocr", "Bearer "+key, pngBytes))
	require.Equal(t, 200, r.status, r.raw)
	require.Equal(t, 1, s.jobs.submits)

	token := strings.TrimPrefix(link, "/verify-email?token=")
	for _, bad := range []string{"/verify-email", "/verify-email?token=forged.token", "/verify-email?token=" + token + "x"} {
		requireError(t, s.call(t, "GET", bad, "", ""), 400, "INVALID_TOKEN")
	}
}

// TestUnverifiedExpiredKey checks that a key refused for itself (here
// expired) is a 401 even when its account's email is unverified: verifying
// would not revive it, so EMAIL_NOT_VERIFIED would mislead.
func TestUnverifiedExpiredKey(t *testing.T) {
	s := startAccounts(t, true, nil)
	key, keyID := s.signup(t, "ada@example.com")
	s.ks.expire(keyID)
	requireError(t, do(t, s.app, request(t, "/api/v1/ocr", "Bearer "+key, pngBytes)), 401, "INVALID_API_KEY")
	requireError(t, s.call(t, "GET", "/v1/keys", key, ""), 401, "INVALID_API_KEY")
}

// TestUpgradeUser checks who may call /upgradeUser (the root key only:
// anonymous 401, an account's key 403) and its refusals, then that an
// upgrade replaces the account's plan and a replayed transactionId
// answers as the first did and applies nothing.
func TestUpgradeUser(t *testing.T) {
	s := startAccounts(t, false, nil)
	key, keyID := s.signup(t, "ada@example.com")
	_, bobKeyID := s.signup(t, "bob@example.com")
	body := func(email, tx, keyID, plan string) string {
		return `{"email":"` + email + `","transactionId":"` + tx + `","apiKeyId":"` + keyID + `","plan":"` + plan + `"}`
	}
	ok := body("ada@example.com", "txn_1", keyID, "")
	cases := []struct {
		name       string
		token      string
		body       string
		wantStatus int
		wantReason string
	}{
		{"anonymous", "", ok, 401, "INVALID_AUTH_HEADER"},
		{"unknown token", "nope", ok, 401, "INVALID_API_KEY"},
		{"an account's key", key, ok, 403, "FORBIDDEN"},
		{"not JSON", testRootKey, `{`, 400, "INVALID_REQUEST"},
		{"bad email", testRootKey, body("ada", "txn_1", keyID, ""), 400, "INVALID_REQUEST"},
		{"no transaction", testRootKey, body("ada@example.com", "", keyID, ""), 400, "INVALID_REQUEST"},
		{"long transaction", testRootKey, body("ada@example.com", strings.Repeat("t", 65), keyID, ""), 400, "INVALID_REQUEST"},
		{"no key id", testRootKey, body("ada@example.com", "txn_1", "", ""), 400, "INVALID_REQUEST"},
		{"unknown plan", testRootKey, body("ada@example.com", "txn_1", keyID, "gold"), 400, "INVALID_REQUEST"},
		{"unknown email", testRootKey, body("nobody@example.com", "txn_1", keyID, ""), 404, "ACCOUNT_NOT_FOUND"},
		{"another account's key", testRootKey, body("ada@example.com", "txn_1", bobKeyID, ""), 404, "NOT_FOUND"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			requireError(t, s.call(t, "POST", "/upgradeUser", tc.token, tc.body), tc.wantStatus, tc.wantReason)
		})
	}
	usage := func() map[string]any {
		r := s.call(t, "GET", "/v1/usage", key, "")
		require.Equal(t, 200, r.status, r.raw)
		return r.body
	}
	require.Equal(t, "trial", usage()["plan"].(map[string]any)["id"], "a refused upgrade changed the plan")

	first := s.call(t, "POST", "/upgradeUser", testRootKey, ok)
	require.Equal(t, 200, first.status, first.raw)
	require.JSONEq(t, `{"message":"User upgraded successfully","email":"ada@example.com","plan":"pro","transactionId":"txn_1"}`, first.raw)
	require.Empty(t, first.header.Get("Idempotent-Replayed"))
	u := usage()
	require.Equal(t, "pro", u["plan"].(map[string]any)["id"])
	require.Equal(t, 10_000.0, u["creditsRemaining"])

	again := s.call(t, "POST", "/upgradeUser", testRootKey, body("ada@example.com", "txn_1", keyID, "business"))
	require.Equal(t, 200, again.status, again.raw)
	require.Equal(t, first.raw, again.raw)
	require.Equal(t, "true", again.header.Get("Idempotent-Replayed"))
	require.Equal(t, "pro", usage()["plan"].(map[string]any)["id"], "a replayed transaction applied its plan")
}

// TestSelfService checks key self-service's refusals: who may call it, a
// key of another account out of reach (404, and left alone), names and
// rotation grace periods out of bounds (400), an account at its most keys
// (409 TOO_MANY_KEYS); and that rotation keeps the old key for the grace
// period only and revocation ends a key at once.
func TestSelfService(t *testing.T) {
	s := startAccounts(t, false, nil)
	key, keyID := s.signup(t, "ada@example.com")
	bobKey, bobKeyID := s.signup(t, "bob@example.com")
	s.ks.mu.Lock()
	loose := s.ks.newKey(contracts.KeyInfo{APIID: "api_ocr", Enabled: true}, "sk") // made through /v2: no account
	s.ks.mu.Unlock()

	requireError(t, s.call(t, "GET", "/v1/keys", "", ""), 401, "INVALID_AUTH_HEADER")
	requireError(t, s.call(t, "GET", "/v1/keys", testRootKey, ""), 401, "INVALID_API_KEY")
	requireError(t, s.call(t, "GET", "/v1/usage", loose.Key, ""), 403, "FORBIDDEN")
	requireError(t, s.call(t, "DELETE", "/v1/keys/"+bobKeyID, key, ""), 404, "NOT_FOUND")
	requireError(t, s.call(t, "POST", "/v1/keys/"+bobKeyID+"/rotate", key, ""), 404, "NOT_FOUND")
	requireError(t, s.call(t, "DELETE", "/v1/keys/"+strings.Repeat("k", 65), key, ""), 404, "NOT_FOUND")
	require.Equal(t, 200, s.call(t, "GET", "/v1/keys", bobKey, "").status, "another account's key was touched")

	for _, body := range []string{`{`, `{"name":""}`, `{"name":"  "}`, `{"name":"` + strings.Repeat("n", 101) + `"}`, `{"name":"a\u0007"}`} {
		requireError(t, s.call(t, "POST", "/v1/keys", key, body), 400, "INVALID_REQUEST")
	}
	maxGrace := accounts.MaxRotationGrace.Milliseconds()
	for _, body := range []string{`{`, `{"gracePeriodMs":-1}`, `{"gracePeriodMs":` + strconv.FormatInt(maxGrace+1, 10) + `}`, `{"gracePeriodMs":"1"}`} {
		requireError(t, s.call(t, "POST", "/v1/keys/"+keyID+"/rotate", key, body), 400, "INVALID_REQUEST")
	}

	r := s.call(t, "POST", "/v1/keys/"+keyID+"/rotate", key, `{"gracePeriodMs":`+strconv.FormatInt(maxGrace, 10)+`}`)
	require.Equal(t, 200, r.status, r.raw)
	require.Equal(t, keyID, r.body["previousKeyId"])
	require.Equal(t, float64(now.Add(accounts.MaxRotationGrace).UnixMilli()), r.body["previousKeyExpires"])
	rotated := r.body["key"].(string)
	require.Equal(t, 200, s.call(t, "GET", "/v1/usage", key, "").status, "the old key works during the grace period")
	r = s.call(t, "POST", "/v1/keys/"+r.body["keyId"].(string)+"/rotate", rotated, "") // no body: no grace
	require.Equal(t, 200, r.status, r.raw)
	require.NotContains(t, r.body, "previousKeyExpires")
	requireError(t, s.call(t, "GET", "/v1/usage", rotated, ""), 401, "INVALID_API_KEY")
	current := r.body["key"].(string)

	r = s.call(t, "POST", "/v1/keys", current, `{"name":"`+strings.Repeat("n", 100)+`"}`)
	require.Equal(t, 201, r.status, r.raw)
	r = s.call(t, "DELETE", "/v1/keys/"+r.body["keyId"].(string), current, "")
	require.Equal(t, 200, r.status, r.raw)
	require.Equal(t, true, r.body["revoked"])

	for n := s.ks.keyCount("ada@example.com"); n < accounts.MaxKeys; n++ {
		require.Equal(t, 201, s.call(t, "POST", "/v1/keys", current, `{"name":"k`+strconv.Itoa(n)+`"}`).status)
	}
	requireError(t, s.call(t, "POST", "/v1/keys", current, `{"name":"one too many"}`), 409, "TOO_MANY_KEYS")
	require.Equal(t, accounts.MaxKeys, s.ks.keyCount("ada@example.com"))
	r = s.call(t, "GET", "/v1/keys", current, "")
	require.Len(t, r.body["keys"], accounts.MaxKeys)
	require.NotContains(t, r.raw, current, "a list never shows a key")
}

// TestUsage checks GET /v1/usage with analytics answering, failing and
// not configured: the usage, or null with the reason.
func TestUsage(t *testing.T) {
	summary := contracts.UsageSummary{Verifications: 3, Valid: 2, CreditsSpent: 2, Jobs: 2}
	cases := []struct {
		name      string
		usage     func(context.Context, contracts.UsageQuery) (contracts.UsageSummary, error)
		wantUsage bool
		wantError string
	}{
		{"analytics answers", func(_ context.Context, q contracts.UsageQuery) (contracts.UsageSummary, error) {
			if q.OwnerID != "ada@example.com" || q.Start != 1_767_225_600_000 || q.End != now.UnixMilli()+1 {
				return contracts.UsageSummary{}, errors.New("wrong query")
			}
			return summary, nil
		}, true, ""},
		{"analytics fails", func(context.Context, contracts.UsageQuery) (contracts.UsageSummary, error) {
			return contracts.UsageSummary{}, errors.New("down")
		}, false, "analytics did not answer in time; the period's usage is left out"},
		{"no analytics", nil, false, "analytics is not configured"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := startAccounts(t, false, tc.usage)
			key, _ := s.signup(t, "ada@example.com")
			r := s.call(t, "GET", "/v1/usage", key, "")
			require.Equal(t, 200, r.status, r.raw)
			require.Equal(t, "ada@example.com", r.body["email"])
			require.Equal(t, 100.0, r.body["creditsRemaining"])
			require.Equal(t, map[string]any{"start": 1_767_225_600_000.0, "end": 1_769_904_000_000.0}, r.body["period"])
			require.Equal(t, tc.wantUsage, r.body["usage"] != nil, r.raw)
			if tc.wantUsage {
				require.Equal(t, 2.0, r.body["usage"].(map[string]any)["creditsSpent"])
			}
			if tc.wantError == "" {
				require.NotContains(t, r.body, "usageError")
			} else {
				require.Equal(t, tc.wantError, r.body["usageError"])
			}
		})
	}
}

// TestAccountRoutesOff checks that without accounts the account routes
// answer 404 NOT_FOUND.
func TestAccountRoutesOff(t *testing.T) {
	app := newApp(&stubKeys{}, &stubJobs{})
	for _, rt := range []struct{ method, path string }{
		{"POST", "/upgradeUser"}, {"GET", "/verify-email?token=x"}, {"GET", "/v1/keys"}, {"POST", "/v1/keys"},
		{"DELETE", "/v1/keys/key_1"}, {"POST", "/v1/keys/key_1/rotate"}, {"GET", "/v1/usage"},
	} {
		requireError(t, do(t, app, accountRequest(rt.method, rt.path, "good", `{}`)), 404, "NOT_FOUND")
	}
}

// FuzzAccountBodies checks that the account routes' JSON bodies, whatever
// they hold, are answered with a success or a 4xx with a stable reason,
// never a server error. Each input gets an account of its own.
func FuzzAccountBodies(f *testing.F) {
	for _, seed := range []string{
		`{"email":"ada@example.com","transactionId":"t","apiKeyId":"key_2"}`, `{"name":"Production"}`,
		`{"gracePeriodMs":60000}`, `{"gracePeriodMs":1e30}`, `{"name":null,"plan":[]}`, `[]`, `null`, ``, "\x00",
	} {
		f.Add(seed)
	}
	s := startAccounts(f, false, nil)
	n := 0
	f.Fuzz(func(t *testing.T, body string) {
		n++
		key, keyID := s.signup(t, "fuzz"+strconv.Itoa(n)+"@example.com")
		for _, rt := range []struct{ path, token string }{
			{"/upgradeUser", testRootKey}, {"/v1/keys", key}, {"/v1/keys/" + keyID + "/rotate", key}, {"/signup", ""},
		} {
			r := s.call(t, "POST", rt.path, rt.token, body)
			require.Less(t, r.status, 500, "%s: %s", rt.path, r.raw)
			if r.status >= 400 {
				require.NotEmpty(t, reason(r), r.raw)
			}
		}
	})
}

// accounts checks the account routes' responses against the document:
// every success, and their errors.
func (rc *responseChecker) accounts(t *testing.T) {
	s := startAccounts(t, true, func(context.Context, contracts.UsageQuery) (contracts.UsageSummary, error) {
		return contracts.UsageSummary{Verifications: 1, Valid: 1, CreditsSpent: 1, Jobs: 1, Pages: 1}, nil
	})
	check := func(method, path, route, token, body string, status int) response {
		return rc.check(t, s.app, route, accountRequest(method, path, token, body), status)
	}
	r := check("POST", "/signup", "/signup", "", `{"email":"ada@example.com","name":"Ada"}`, 200)
	key := r.body["keys"].([]any)[0].(map[string]any)["key"].(string)
	keyID := r.body["keys"].([]any)[0].(map[string]any)["keyId"].(string)
	check("POST", "/signup", "/signup", "", `{"email":"ada@example.com"}`, 409)
	for _, route := range ocrRoutes {
		rc.check(t, s.app, route, request(t, route, "Bearer "+key, pngBytes), 403)
	}
	check("GET", "/verify-email?token=forged.token", "/verify-email", "", "", 400)
	check("GET", s.mail.link(t, "ada@example.com"), "/verify-email", "", "", 200)

	upgrade := `{"email":"ada@example.com","transactionId":"txn_1","apiKeyId":"` + keyID + `"}`
	check("POST", "/upgradeUser", "/upgradeUser", "", upgrade, 401)
	check("POST", "/upgradeUser", "/upgradeUser", key, upgrade, 403)
	check("POST", "/upgradeUser", "/upgradeUser", testRootKey, `{"email":"nobody@example.com","transactionId":"t","apiKeyId":"k"}`, 404)
	check("POST", "/upgradeUser", "/upgradeUser", testRootKey, `{"email":"ada@example.com"}`, 400)
	check("POST", "/upgradeUser", "/upgradeUser", testRootKey, upgrade, 200)
	check("POST", "/upgradeUser", "/upgradeUser", testRootKey, upgrade, 200) // replayed

	check("GET", "/v1/keys", "/v1/keys", key, "", 200)
	check("GET", "/v1/keys", "/v1/keys", "", "", 401)
	r = check("POST", "/v1/keys", "/v1/keys", key, `{"name":"Production"}`, 201)
	created := r.body["keyId"].(string)
	check("POST", "/v1/keys", "/v1/keys", key, `{"name":""}`, 400)
	r = check("POST", "/v1/keys/"+created+"/rotate", "/v1/keys/{keyId}/rotate", key, `{"gracePeriodMs":60000}`, 200)
	check("POST", "/v1/keys/"+created+"/rotate", "/v1/keys/{keyId}/rotate", key, `{"gracePeriodMs":-1}`, 400)
	check("DELETE", "/v1/keys/"+r.body["keyId"].(string), "/v1/keys/{keyId}", key, "", 200)
	check("DELETE", "/v1/keys/key_nope", "/v1/keys/{keyId}", key, "", 404)
	check("GET", "/v1/usage", "/v1/usage", key, "", 200)
	for n := s.ks.keyCount("ada@example.com"); n < accounts.MaxKeys; n++ {
		check("POST", "/v1/keys", "/v1/keys", key, `{"name":"k"}`, 201)
	}
	check("POST", "/v1/keys", "/v1/keys", key, `{"name":"k"}`, 409)
}
