package httpapi

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/micro"
	"github.com/ocrstack/ocrstack/contracts"
	"github.com/ocrstack/ocrstack/ingress/internal/keysclient"
	"github.com/ocrstack/ocrstack/ingress/internal/natstest"
	"github.com/stretchr/testify/require"
)

const analyticsRoot = "root_analytics_secret"

// fakeAnalytics answers the verifications subject on a real NATS server as
// the analytics service would: with reply, or with a micro error reply of
// code. It records the queries it got.
type fakeAnalytics struct {
	mu    sync.Mutex
	got   []contracts.VerificationsQuery
	reply contracts.VerificationsResponse
	code  contracts.Code
}

func (f *fakeAnalytics) handle(m *nats.Msg) {
	var q contracts.VerificationsQuery
	_ = json.Unmarshal(m.Data, &q)
	f.mu.Lock()
	f.got = append(f.got, q)
	reply, code := f.reply, f.code
	f.mu.Unlock()
	out := nats.NewMsg(m.Reply)
	if code != "" {
		out.Header.Set(micro.ErrorCodeHeader, string(code))
		out.Header.Set(micro.ErrorHeader, "refused")
		out.Data, _ = json.Marshal(contracts.Error{Code: code, Message: "start: refused by analytics"})
	} else {
		out.Data, _ = json.Marshal(reply)
	}
	_ = m.RespondMsg(out)
}

// analyticsApp is the API with a root key, calling through the real NATS
// client; fake, when not nil, answers as analytics.
func analyticsApp(t *testing.T, fake *fakeAnalytics) *fiber.App {
	nc := natstest.Start(t)
	if fake != nil {
		_, err := nc.Subscribe(contracts.SubjectAnalyticsVerifications, fake.handle)
		require.NoError(t, err)
		require.NoError(t, nc.Flush())
	}
	cfg := testConfig(&stubKeys{}, &stubJobs{})
	cfg.Keys = keysclient.New(nc, 300*time.Millisecond)
	cfg.RootKey = analyticsRoot
	return New(cfg)
}

func analyticsRequest(query, auth string) *http.Request {
	req := httptest.NewRequest(http.MethodGet, analyticsPath+"?"+query, nil)
	if auth != "" {
		req.Header.Set(fiber.HeaderAuthorization, auth)
	}
	return req
}

// TestAnalyticsVerifications checks GET /v1/analytics/verifications: the
// root key only (401 otherwise, before analytics is asked), every
// parameter checked with a 400 INVALID_REQUEST naming it, the query
// forwarded as contracts.VerificationsQuery, the buckets answered as
// analytics gave them, and analytics' refusals and outages mapped to 400,
// 503 and 500.
func TestAnalyticsVerifications(t *testing.T) {
	fake := &fakeAnalytics{reply: contracts.VerificationsResponse{Buckets: []contracts.VerificationBucket{
		{Time: 1767225600000, Total: 3, Valid: 2, RateLimited: 1, CreditsSpent: 2},
	}}}
	app := analyticsApp(t, fake)
	root := "Bearer " + analyticsRoot
	const ok = "start=1767225600000&end=1767312000000&groupBy=hour"
	cases := []struct {
		name       string
		query      string
		auth       string
		wantStatus int
		wantReason string
		wantInMsg  string
	}{
		{name: "no header", query: ok, wantStatus: 401, wantReason: "INVALID_AUTH_HEADER"},
		{name: "an OCR key", query: ok, auth: "Bearer good", wantStatus: 401, wantReason: "INVALID_API_KEY"},
		{name: "no start", query: "end=1&groupBy=day", auth: root, wantStatus: 400, wantReason: "INVALID_REQUEST", wantInMsg: "start"},
		{name: "start not a number", query: "start=yesterday&end=1&groupBy=day", auth: root, wantStatus: 400, wantReason: "INVALID_REQUEST", wantInMsg: "start"},
		{name: "negative end", query: "start=0&end=-1&groupBy=day", auth: root, wantStatus: 400, wantReason: "INVALID_REQUEST", wantInMsg: "end"},
		{name: "end before start", query: "start=5&end=4&groupBy=day", auth: root, wantStatus: 400, wantReason: "INVALID_REQUEST", wantInMsg: "after start"},
		{name: "range too long", query: "start=0&end=34560000001&groupBy=day", auth: root, wantStatus: 400, wantReason: "INVALID_REQUEST", wantInMsg: "400 days"},
		{name: "unknown grouping", query: "start=0&end=1&groupBy=week", auth: root, wantStatus: 400, wantReason: "INVALID_REQUEST", wantInMsg: "groupBy"},
		{name: "limit zero", query: ok + "&limit=0", auth: root, wantStatus: 400, wantReason: "INVALID_REQUEST", wantInMsg: "limit"},
		{name: "limit too large", query: ok + "&limit=1001", auth: root, wantStatus: 400, wantReason: "INVALID_REQUEST", wantInMsg: "limit"},
		{name: "long key id", query: ok + "&keyId=" + strings.Repeat("k", 257), auth: root, wantStatus: 400, wantReason: "INVALID_REQUEST", wantInMsg: "keyId"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := do(t, app, analyticsRequest(tc.query, tc.auth))
			require.Equal(t, tc.wantStatus, r.status, r.raw)
			require.Equal(t, tc.wantReason, reason(r))
			require.Contains(t, r.raw, tc.wantInMsg)
		})
	}
	fake.mu.Lock()
	require.Empty(t, fake.got, "a refused request never reaches analytics")
	fake.mu.Unlock()

	r := do(t, app, analyticsRequest(ok+"&apiId=api_ocr&keyId=key_1&ownerId=ada%40example.com&limit=24", root))
	require.Equal(t, 200, r.status, r.raw)
	require.JSONEq(t, `{"buckets":[{"time":1767225600000,"total":3,"valid":2,"notFound":0,"forbidden":0,"insufficientPermissions":0,`+
		`"usageExceeded":0,"rateLimited":1,"disabled":0,"expired":0,"creditsSpent":2}]}`, r.raw)
	fake.mu.Lock()
	require.Equal(t, []contracts.VerificationsQuery{{Start: 1767225600000, End: 1767312000000, GroupBy: "hour",
		APIID: "api_ocr", KeyID: "key_1", OwnerID: "ada@example.com", Limit: 24}}, fake.got)
	fake.reply = contracts.VerificationsResponse{}
	fake.mu.Unlock()

	r = do(t, app, analyticsRequest(ok, root))
	require.Equal(t, 200, r.status, r.raw)
	require.JSONEq(t, `{"buckets":[]}`, r.raw, "no buckets is an empty list, not null")

	for _, tc := range []struct {
		code       contracts.Code
		wantStatus int
		wantReason string
	}{
		{contracts.CodeBadRequest, 400, "INVALID_REQUEST"},
		{contracts.CodeTimeout, 503, "SERVICE_UNAVAILABLE"},
		{contracts.CodeInternal, 500, "INTERNAL"},
	} {
		fake.mu.Lock()
		fake.code = tc.code
		fake.mu.Unlock()
		r := do(t, app, analyticsRequest(ok, root))
		require.Equal(t, tc.wantStatus, r.status, r.raw)
		require.Equal(t, tc.wantReason, reason(r))
	}

	r = do(t, analyticsApp(t, nil), analyticsRequest(ok, root))
	require.Equal(t, 503, r.status, r.raw)
	require.Equal(t, "SERVICE_UNAVAILABLE", reason(r))
	require.Equal(t, "1", r.header.Get(fiber.HeaderRetryAfter))
}

// analytics checks the route's responses against the document.
func (rc *responseChecker) analytics(t *testing.T) {
	fake := &fakeAnalytics{reply: contracts.VerificationsResponse{Buckets: []contracts.VerificationBucket{
		{KeyID: "key_1", Total: 2, Valid: 1, Expired: 1, CreditsSpent: 1},
	}}}
	app := analyticsApp(t, fake)
	root := "Bearer " + analyticsRoot
	rc.check(t, app, analyticsPath, analyticsRequest("start=0&end=1000&groupBy=key", root), 200)
	rc.check(t, app, analyticsPath, analyticsRequest("start=0&end=1000&groupBy=week", root), 400)
	rc.check(t, app, analyticsPath, analyticsRequest("start=0&end=1000&groupBy=key", ""), 401)
	rc.check(t, analyticsApp(t, nil), analyticsPath, analyticsRequest("start=0&end=1000&groupBy=key", root), 503)
}

// FuzzVerificationsQuery checks that the query-string decoder never panics,
// refuses only with a 400 INVALID_REQUEST, and passes on only queries the
// analytics service accepts: a known grouping, an ordered range within
// bounds, a limit in range and short ids.
func FuzzVerificationsQuery(f *testing.F) {
	f.Add("start=0&end=1000&groupBy=hour")
	f.Add("start=1767225600000&end=1767312000000&groupBy=owner&apiId=a&keyId=k&ownerId=o&limit=10")
	f.Add("start=1&end=0&groupBy=day")
	f.Add("start=0&end=34560000000&groupBy=month&limit=1000")
	f.Add("start=%20&end=1e3&groupBy=key&limit=-1")
	f.Fuzz(func(t *testing.T, raw string) {
		vals, err := url.ParseQuery(raw)
		if err != nil {
			return
		}
		get := func(key string, _ ...string) string { return vals.Get(key) }
		q, err := parseVerificationsQuery(get)
		if err != nil {
			e, ok := err.(interface{ Error() string })
			require.True(t, ok)
			require.Contains(t, e.Error(), "400 INVALID_REQUEST", raw)
			return
		}
		switch {
		case q.Start < 0 || q.End <= q.Start || q.End-q.Start > contracts.MaxAnalyticsRange:
			t.Fatalf("accepted range %d..%d", q.Start, q.End)
		case q.Limit < 0 || q.Limit > contracts.MaxAnalyticsBuckets:
			t.Fatalf("accepted limit %d", q.Limit)
		case len(q.APIID) > 256 || len(q.KeyID) > 256 || len(q.OwnerID) > 256:
			t.Fatal("accepted a long id")
		}
		found := false
		for _, g := range verificationsGroupings {
			found = found || g == q.GroupBy
		}
		require.True(t, found, "groupBy %q", q.GroupBy)
	})
}
