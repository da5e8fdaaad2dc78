package service

import (
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ocrstack/ocrstack/contracts"
	"github.com/stretchr/testify/require"
)

// TestRatelimitLimit checks a standalone limit step by step: cost 1 by
// default, a cost, cost 0 only reading, a denial spending nothing, the
// window resetting at its end, namespaces and identifiers apart.
func TestRatelimitLimit(t *testing.T) {
	f := start(t, 1)
	f.clock.Set(time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC))
	reset := f.clock.Now().Add(time.Minute).UnixMilli()
	req := func(ns, id string, cost *int64) contracts.RatelimitRequest {
		return contracts.RatelimitRequest{Namespace: ns, Identifier: id, Limit: 3, Duration: 60_000, Cost: cost}
	}
	steps := []struct {
		name    string
		advance time.Duration
		req     contracts.RatelimitRequest
		want    contracts.RatelimitResponse
	}{
		{"first", 0, req("signup.ip", "10.0.0.1", nil), contracts.RatelimitResponse{Success: true, Limit: 3, Remaining: 2, Reset: reset}},
		{"cost 2", 0, req("signup.ip", "10.0.0.1", ptr[int64](2)), contracts.RatelimitResponse{Success: true, Limit: 3, Remaining: 0, Reset: reset}},
		{"cost 0 reads", 0, req("signup.ip", "10.0.0.1", ptr[int64](0)), contracts.RatelimitResponse{Success: true, Limit: 3, Remaining: 0, Reset: reset}},
		{"exhausted", 0, req("signup.ip", "10.0.0.1", nil), contracts.RatelimitResponse{Success: false, Limit: 3, Remaining: 0, Reset: reset}},
		{"another identifier", 0, req("signup.ip", "10.0.0.2", nil), contracts.RatelimitResponse{Success: true, Limit: 3, Remaining: 2, Reset: reset}},
		{"another namespace", 0, req("api.read", "10.0.0.1", nil), contracts.RatelimitResponse{Success: true, Limit: 3, Remaining: 2, Reset: reset}},
		{"identifier with any characters", 0, req("api.read", "ada@example.com/ä *>", nil), contracts.RatelimitResponse{Success: true, Limit: 3, Remaining: 2, Reset: reset}},
		{"next window", time.Minute, req("signup.ip", "10.0.0.1", nil), contracts.RatelimitResponse{Success: true, Limit: 3, Remaining: 2, Reset: reset + 60_000}},
	}
	for _, s := range steps {
		f.clock.Advance(s.advance)
		require.Equal(t, s.want, must[contracts.RatelimitResponse](t, f, contracts.SubjectRatelimitLimit, s.req), s.name)
	}
}

// TestRatelimitRejectsBadInput checks that malformed limits are BAD_REQUEST
// naming every bad field, and write nothing.
func TestRatelimitRejectsBadInput(t *testing.T) {
	f := start(t, 1)
	cases := []struct {
		name, subject, body, want string
	}{
		{"everything wrong", contracts.SubjectRatelimitLimit, `{"namespace":"a b","identifier":"","limit":0,"duration":999,"cost":-1}`,
			"namespace: 1 to 64 characters of A-Z a-z 0-9 . _ -; identifier: required, at most 256 characters; limit: must be at least 1; duration: must be between 1000 and 31622400000 milliseconds; cost: must be between 0"},
		{"namespace too long", contracts.SubjectRatelimitLimit, `{"namespace":"` + strings.Repeat("n", 65) + `","identifier":"i","limit":1,"duration":1000}`, "namespace"},
		{"identifier too long", contracts.SubjectRatelimitLimit, `{"namespace":"n","identifier":"` + strings.Repeat("i", 257) + `","limit":1,"duration":1000}`, "identifier"},
		{"unknown field", contracts.SubjectRatelimitLimit, `{"namespace":"n","identifier":"i","limit":1,"duration":1000,"async":true}`, "unknown field \"async\""},
		{"no limits", contracts.SubjectRatelimitMultiLimit, `{"limits":[]}`, "limits: 1 to 100"},
		{"one bad of two", contracts.SubjectRatelimitMultiLimit, `{"limits":[{"namespace":"n","identifier":"i","limit":1,"duration":1000},{"namespace":"n","identifier":"i","limit":1,"duration":1}]}`, "limits[1].duration"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := f.lastSeqs(t)
			code, desc := f.callRaw(t, tc.subject, []byte(tc.body), nil)
			require.Equal(t, string(contracts.CodeBadRequest), code)
			require.Contains(t, desc, tc.want)
			require.Equal(t, before, f.lastSeqs(t))
		})
	}
}

// TestMultiLimitAllOrNothing checks that multiLimit charges every limit
// only when all pass: a denial leaves the passing ones uncharged.
func TestMultiLimitAllOrNothing(t *testing.T) {
	f := start(t, 1)
	a := contracts.RatelimitRequest{Namespace: "api", Identifier: "user1", Limit: 3, Duration: 60_000}
	b := contracts.RatelimitRequest{Namespace: "ai.generation", Identifier: "user1", Limit: 1, Duration: 60_000}
	multi := func(rs ...contracts.RatelimitRequest) contracts.MultiRatelimitResponse {
		return must[contracts.MultiRatelimitResponse](t, f, contracts.SubjectRatelimitMultiLimit, contracts.MultiRatelimitRequest{Limits: rs})
	}
	got := multi(a, b)
	require.True(t, got.Passed)
	require.Equal(t, []int64{2, 0}, []int64{got.Limits[0].Remaining, got.Limits[1].Remaining})

	got = multi(a, b)
	require.False(t, got.Passed)
	require.True(t, got.Limits[0].Success, "a alone would pass")
	require.False(t, got.Limits[1].Success)
	require.Equal(t, int64(2), got.Limits[0].Remaining, "and reports what it had, since nothing was spent")

	peek := a
	peek.Cost = ptr[int64](0)
	require.Equal(t, int64(2), must[contracts.RatelimitResponse](t, f, contracts.SubjectRatelimitLimit, peek).Remaining, "the denial spent nothing")

	got = multi(a, a)
	require.True(t, got.Passed, "a limit named twice is charged twice")
	require.Equal(t, []int64{1, 0}, []int64{got.Limits[0].Remaining, got.Limits[1].Remaining})
}

// TestRatelimitConcurrentIsExact races 32 clients over 3 replicas: exactly
// Limit single charges pass, and multiLimit charges of a shared limit with
// another pass exactly as often as the shared limit allows, charging the
// other limit exactly that often.
func TestRatelimitConcurrentIsExact(t *testing.T) {
	f := start(t, 3)
	single := contracts.RatelimitRequest{Namespace: "signup.ip", Identifier: "10.0.0.1", Limit: 50, Duration: 60_000}
	shared := contracts.RatelimitRequest{Namespace: "api", Identifier: "user1", Limit: 20, Duration: 60_000}
	other := contracts.RatelimitRequest{Namespace: "api.write", Identifier: "user1", Limit: 1000, Duration: 60_000}
	var singles, multis atomic.Int64
	var wg sync.WaitGroup
	for g := range 32 {
		wg.Go(func() {
			for range 4 {
				if g%2 == 0 {
					if must[contracts.RatelimitResponse](t, f, contracts.SubjectRatelimitLimit, single).Success {
						singles.Add(1)
					}
					continue
				}
				got := must[contracts.MultiRatelimitResponse](t, f, contracts.SubjectRatelimitMultiLimit, contracts.MultiRatelimitRequest{Limits: []contracts.RatelimitRequest{shared, other}})
				if got.Passed {
					multis.Add(1)
				}
			}
		})
	}
	wg.Wait()
	require.Equal(t, int64(50), singles.Load())
	require.Equal(t, int64(20), multis.Load())
	peek := other
	peek.Cost = ptr[int64](0)
	require.Equal(t, int64(980), must[contracts.RatelimitResponse](t, f, contracts.SubjectRatelimitLimit, peek).Remaining)
}
