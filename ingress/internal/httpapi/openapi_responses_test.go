package httpapi

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/ocrstack/ocrstack/contracts"
	"github.com/ocrstack/ocrstack/ingress/internal/jobs"
	"github.com/ocrstack/ocrstack/ingress/internal/testlog"
	"github.com/stretchr/testify/require"
)

// responseChecker validates real responses against the document and
// remembers which operations and statuses it saw.
type responseChecker struct {
	spec specValidator
	seen map[string]bool // "POST /v1/ocr 202"
}

// check sends req to app, requires wantStatus, and validates the response
// against the operation at path (OpenAPI's form).
func (rc *responseChecker) check(t *testing.T, app *fiber.App, path string, req *http.Request, wantStatus int) response {
	t.Helper()
	r := do(t, app, req)
	require.Equal(t, wantStatus, r.status, "%s %s: %s", req.Method, path, r.raw)
	rc.spec.checkResponse(t, req.Method, path, r)
	rc.seen[fmt.Sprintf("%s %s %d", req.Method, path, r.status)] = true
	return r
}

func jsonRequest(method, path, body string) *http.Request {
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	return req
}

// TestOpenAPIResponses checks that real responses of every route, each
// success and a sample of errors in every dialect, match the document:
// status, body schema (exact shapes), reason and headers; and that every
// documented success response was seen, so that no route's documented
// result goes untested.
func TestOpenAPIResponses(t *testing.T) {
	rc := &responseChecker{spec: fetchSpec(t, newApp(&stubKeys{}, &stubJobs{})), seen: map[string]bool{}}
	t.Run("tutorial and PicToText", func(t *testing.T) { rc.tutorial(t) })
	t.Run("v1", func(t *testing.T) { rc.v1(t) })
	t.Run("v2", func(t *testing.T) { rc.v2(t) })
	t.Run("analytics", func(t *testing.T) { rc.analytics(t) })
	t.Run("accounts", func(t *testing.T) { rc.accounts(t) })

	for path, item := range rc.spec.doc["paths"].(map[string]any) {
		for method, op := range item.(map[string]any) {
			for status := range op.(map[string]any)["responses"].(map[string]any) {
				key := strings.ToUpper(method) + " " + path + " " + status
				if strings.HasPrefix(status, "2") && path != "/docs" && path != "/openapi.json" {
					require.True(t, rc.seen[key], "%s is documented but no test response was checked against it", key)
				}
			}
		}
	}
}

func (rc *responseChecker) tutorial(t *testing.T) {
	done := contracts.OCRResult{Status: contracts.JobSucceeded, Text: "Hola", RecognitionMs: 42, HOCR: "<div/>", TSV: "level\n",
		Words: []contracts.TextBox{{Page: 1, Text: "Hola", Confidence: 91.5, Width: 40, Height: 12}},
		Lines: []contracts.TextBox{{Page: 1, Text: "Hola", Confidence: 91.5, Width: 40, Height: 12}}}
	app := newApp(&stubKeys{}, &stubJobs{result: done})
	for _, route := range ocrRoutes {
		rc.check(t, app, route, request(t, route, "Bearer good", pngBytes), 200)
		rc.check(t, app, route, request(t, route, "", pngBytes), 401)
		rc.check(t, app, route, request(t, route, "Bearer limited", pngBytes), 429)
		rc.check(t, app, route, request(t, route, "Bearer spent", pngBytes), 402)
		rc.check(t, app, route, request(t, route, "Bearer good", []byte("plain text")), 415)
	}
	badBase64 := jsonRequest("POST", "/uploadBase64", `{"imageBase64":"!!!"}`)
	badBase64.Header.Set("Authorization", "Bearer good")
	rc.check(t, app, "/uploadBase64", badBase64, 400)
	failed := newApp(&stubKeys{}, &stubJobs{result: contracts.OCRResult{Status: contracts.JobFailed,
		Error: &contracts.Error{Code: contracts.CodeUnreadableImage, Message: "bad"}}})
	rc.check(t, failed, "/api/v1/ocr", request(t, "/api/v1/ocr", "Bearer good", pngBytes), 422)
	late := newApp(&stubKeys{}, &stubJobs{err: fmt.Errorf("x: %w", jobs.ErrTimeout)})
	rc.check(t, late, "/upload", request(t, "/upload", "Bearer good", pngBytes), 503)

	rc.check(t, app, "/signup", jsonRequest("POST", "/signup", `{"email":"ada@example.com","name":"Ada"}`), 200)
	rc.check(t, app, "/signup", jsonRequest("POST", "/signup", `{"email":"nope"}`), 400)
	for range 2 { // the third and fourth of SignupLimit 3
		rc.check(t, app, "/signup", jsonRequest("POST", "/signup", `{"email":"ada@example.com"}`), 200)
	}
	rc.check(t, app, "/signup", jsonRequest("POST", "/signup", `{"email":"ada@example.com"}`), 429)

	rc.check(t, app, "/livez", httptest.NewRequest("GET", "/livez", nil), 200)
	rc.check(t, app, "/readyz", httptest.NewRequest("GET", "/readyz", nil), 200)
	cfg := testConfig(&stubKeys{}, &stubJobs{})
	cfg.Ready = func(context.Context) map[string]error { return map[string]error{"nats": errors.New("down")} }
	rc.check(t, New(cfg), "/readyz", httptest.NewRequest("GET", "/readyz", nil), 503)
}

func (rc *responseChecker) v1(t *testing.T) {
	st := startV1(t, 5*time.Second)
	go func() {
		job := <-st.jobs
		if err := st.finish(t, job, contracts.OCRResult{Status: contracts.JobSucceeded, Text: "one\ftwo", RecognitionMs: 7,
			Pages: []contracts.PageResult{{Page: 1, Text: "one", Source: contracts.PageSourceTextLayer}, {Page: 2, Text: "two", Source: contracts.PageSourceOCR}},
			Words: []contracts.TextBox{{Page: 2, Text: "two", Confidence: 90, X: 1, Y: 2, Width: 3, Height: 4}}}); err != nil {
			t.Errorf("finish: %v", err)
		}
	}()
	rc.check(t, st.app, "/v1/ocr", v1Request(t, "/v1/ocr", "Bearer good", false, pngBytes, map[string]string{"output": "text,words"}), 200)

	r := rc.check(t, st.app, "/v1/jobs", v1Request(t, "/v1/jobs", "Bearer good", true, pngBytes, map[string]string{"callbackUrl": "https://example.com/hook"}), 202)
	job := st.nextJob(t)
	require.Equal(t, job.JobID, r.body["jobId"])
	get := func(key, id string) *http.Request {
		req := httptest.NewRequest("GET", "/v1/jobs/"+id, nil)
		req.Header.Set("Authorization", "Bearer "+key)
		return req
	}
	rc.check(t, st.app, "/v1/jobs/{id}", get("good", job.JobID), 200)
	require.NoError(t, st.start(t, job.JobID, 1, 2))
	rc.check(t, st.app, "/v1/jobs/{id}", get("good", job.JobID), 200)
	require.NoError(t, st.finish(t, job, contracts.OCRResult{Status: contracts.JobFailed, CompletedAt: 1767225640000,
		Error: &contracts.Error{Code: contracts.CodeTooManyPages, Message: "over 100 pages"}}))
	rc.check(t, st.app, "/v1/jobs/{id}", get("good", job.JobID), 200)
	rc.check(t, st.app, "/v1/jobs/{id}", get("other", job.JobID), 404)
	rc.check(t, st.app, "/v1/jobs/{id}", get("nope", job.JobID), 401)
	rc.check(t, st.app, "/v1/jobs", jsonRequest("POST", "/v1/jobs", `{"image":"iVBORw0KGgo=","callbackUrl":"ftp://x"}`), 401)
	bad := jsonRequest("POST", "/v1/jobs", `{"image":"iVBORw0KGgo=","callbackUrl":"ftp://x"}`)
	bad.Header.Set("Authorization", "Bearer good")
	rc.check(t, st.app, "/v1/jobs", bad, 400)

	slow := startV1(t, 50*time.Millisecond)
	rc.check(t, slow.app, "/v1/ocr", v1Request(t, "/v1/ocr", "Bearer good", true, pngBytes, nil), 202)
}

func (rc *responseChecker) v2(t *testing.T) {
	nc := startNATS(t)
	app := newV2App(nc, testRootKey, &testlog.Buffer{})
	credits := int64(6)
	limit := contracts.RatelimitResponse{Success: true, Limit: 5, Remaining: 4, Reset: 1_767_225_660_000}
	serveKeyservice(t, nc.ConnectedUrl(), map[string][]reply{
		contracts.SubjectKeysCreate: ok(contracts.CreateKeyResponse{KeyID: "key_new", Key: "sk_secret"}),
		contracts.SubjectKeysVerify: ok(contracts.VerifyKeyResponse{Valid: true, Code: contracts.VerifyValid, KeyID: "key_1", Name: "Production",
			Meta: []byte(`{"plan":"pro"}`), Credits: &credits, Enabled: true, ExternalID: "user_1", Roles: []string{"admin"},
			Ratelimits: []contracts.RatelimitResult{{ID: "key_1", Name: "requests", Limit: 6, Duration: 60_000, Remaining: 5, Reset: 1_767_225_660_000, AutoApply: true}}}),
		contracts.SubjectKeysGet:           ok(testKeyInfo),
		contracts.SubjectKeysWhoami:        ok(testKeyInfo),
		contracts.SubjectKeysUpdate:        ok(testKeyInfo),
		contracts.SubjectKeysUpdateCredits: ok(contracts.UpdateCreditsResponse{Remaining: &credits, Refill: testRefill}),
		contracts.SubjectKeysDelete:        ok(contracts.Empty{}),
		contracts.SubjectKeysReroll:        ok(contracts.CreateKeyResponse{KeyID: "key_2", Key: "sk_new"}),
		contracts.SubjectKeysList:          ok(contracts.ListKeysResponse{Keys: []contracts.KeyInfo{testKeyInfo}, Cursor: "c2", HasMore: true}),
		contracts.SubjectIdentitiesCreate:  ok(contracts.IdentityRef{IdentityID: "id_1", ExternalID: "user_1"}),
		contracts.SubjectIdentitiesGet:     {{code: contracts.CodeNotFound, message: "no such identity"}, {code: contracts.CodeNotFound, message: "no such identity"}, {body: testIdentity}},
		contracts.SubjectIdentitiesUpdate:  ok(testIdentity),
		contracts.SubjectIdentitiesDelete:  ok(contracts.Empty{}),
		contracts.SubjectIdentitiesList:    ok(contracts.ListIdentitiesResponse{Identities: []contracts.Identity{testIdentity}}),
		contracts.SubjectRatelimitLimit:    ok(limit),
		contracts.SubjectRatelimitMultiLimit: ok(contracts.MultiRatelimitResponse{Passed: true,
			Limits: []contracts.RatelimitResponse{limit}}),
	})
	const rl = `{"namespace":"ns","identifier":"i","limit":5,"duration":60000}`
	bodies := map[string]string{
		"keys.createKey": `{"apiId":"api_ocr"}`, "keys.verifyKey": `{"key":"sk_secret"}`, "keys.getKey": `{"keyId":"key_1"}`,
		"keys.whoami": `{"key":"sk_secret"}`, "keys.updateKey": `{"keyId":"key_1","name":"x"}`,
		"keys.updateCredits": `{"keyId":"key_1","operation":"increment","value":5}`, "keys.deleteKey": `{"keyId":"key_1"}`,
		"keys.rerollKey": `{"keyId":"key_1","expiration":0}`, "apis.listKeys": `{"apiId":"api_ocr"}`,
		"identities.createIdentity": `{"externalId":"user_1"}`, "identities.getIdentity": `{"identity":"user_1"}`,
		"identities.updateIdentity": `{"identity":"user_1","meta":{}}`, "identities.deleteIdentity": `{"identity":"user_1"}`,
		"identities.listIdentities": `{}`, "ratelimit.limit": rl, "ratelimit.multiLimit": "[" + rl + "]",
	}
	require.ElementsMatch(t, slices.Collect(maps.Keys(v2Routes)), slices.Collect(maps.Keys(bodies)), "a /v2 route without a test body")
	rc.check(t, app, "/v2/identities.getIdentity", v2Request("identities.getIdentity", `{"identity":"nobody"}`), 404)
	for _, route := range slices.Sorted(maps.Keys(bodies)) {
		rc.check(t, app, "/v2/"+route, v2Request(route, bodies[route]), 200)
	}
	rc.check(t, app, "/v2/keys.getKey", v2Request("keys.getKey", `{"keyId":"k","extra":1}`), 400)
	noAuth := v2Request("keys.getKey", `{"keyId":"key_1"}`)
	noAuth.Header.Del("Authorization")
	rc.check(t, app, "/v2/keys.getKey", noAuth, 401)
	rc.check(t, New(Config{Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), MaxImageBytes: 1 << 20}),
		"/v2/keys.getKey", v2Request("keys.getKey", `{"keyId":"key_1"}`), 401)
}
