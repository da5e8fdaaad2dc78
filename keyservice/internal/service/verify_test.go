package service

import (
	"cmp"
	"context"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ocrstack/ocrstack/contracts"
	"github.com/ocrstack/ocrstack/keyservice/internal/streams"
	"github.com/stretchr/testify/require"
)

// TestVerifyCheckOrder checks Unkey's order: exists, enabled, expires,
// permissions, rate limits, credits. Each case fails every check from some
// point on and must report the first; a denial spends nothing, so the
// credits and last use read back unchanged.
func TestVerifyCheckOrder(t *testing.T) {
	f := start(t, 1)
	one := []contracts.Ratelimit{{Name: "requests", Limit: 1, Duration: 60_000}}
	tooMuch := []contracts.VerifyRatelimit{{Name: "requests", Cost: ptr[int64](2)}}
	enough := []contracts.VerifyRatelimit{{Name: "requests"}}
	cases := []struct {
		name        string
		enabled     bool
		expire      bool
		perms       []string
		credits     int64
		limit       []contracts.VerifyRatelimit
		wantCode    contracts.VerifyCode
		wantCredits int64
	}{
		{"disabled before expired", false, true, nil, 0, tooMuch, "DISABLED", 0},
		{"expired before permissions", true, true, nil, 0, tooMuch, "EXPIRED", 0},
		{"permissions before rate limits", true, false, nil, 0, tooMuch, "INSUFFICIENT_PERMISSIONS", 0},
		{"rate limits before credits", true, false, []string{"ocr.run"}, 0, tooMuch, "RATE_LIMITED", 0},
		{"credits last", true, false, []string{"ocr.run"}, 0, enough, "USAGE_EXCEEDED", 0},
		{"all pass", true, false, []string{"ocr.run"}, 3, enough, "VALID", 2},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			expires := f.clock.Now().Add(time.Hour).UnixMilli()
			created := f.create(t, contracts.CreateKeyRequest{APIID: "api_test", Enabled: &tc.enabled, Expires: expires,
				Permissions: tc.perms, Credits: &contracts.Credits{Remaining: tc.credits}, Ratelimits: one})
			if tc.expire {
				f.clock.Advance(2 * time.Hour)
			}
			got := f.verifyReq(t, contracts.VerifyKeyRequest{Key: created.Key, Permissions: "ocr.run", Ratelimits: tc.limit})
			require.Equal(t, tc.wantCode, got.Code)
			require.Equal(t, tc.wantCode == contracts.VerifyValid, got.Valid)
			require.Equal(t, created.KeyID, got.KeyID)
			info := must[contracts.KeyInfo](t, f, contracts.SubjectKeysGet, contracts.KeyRef{KeyID: created.KeyID})
			require.Equal(t, tc.wantCredits, info.Credits.Remaining)
			require.Equal(t, tc.wantCode == contracts.VerifyValid, info.LastUsedAt != 0, "last use recorded")
		})
	}
}

// TestVerifyPermissions checks permission queries against a key's
// permissions: AND, OR, parentheses and precedence decide VALID or
// INSUFFICIENT_PERMISSIONS; a malformed query is BAD_REQUEST and spends
// nothing.
func TestVerifyPermissions(t *testing.T) {
	f := start(t, 1)
	created := f.create(t, contracts.CreateKeyRequest{APIID: "api_test", Credits: &contracts.Credits{Remaining: 100},
		Permissions: []string{"documents.read", "ocr.run"}, Roles: []string{"admin"}})
	cases := []struct {
		query    string
		wantCode contracts.VerifyCode
		wantErr  string
	}{
		{"documents.read", "VALID", ""},
		{"documents.write", "INSUFFICIENT_PERMISSIONS", ""},
		{"documents.read AND ocr.run", "VALID", ""},
		{"documents.read and documents.write", "INSUFFICIENT_PERMISSIONS", ""},
		{"documents.write OR ocr.run", "VALID", ""},
		{"documents.write OR ocr.run AND admin", "INSUFFICIENT_PERMISSIONS", ""},
		{"(documents.write OR ocr.run) AND documents.read", "VALID", ""},
		{"admin", "INSUFFICIENT_PERMISSIONS", ""}, // roles are labels, not permissions
		{"documents.read AND", "", "permissions: malformed permission query: expected a permission name"},
		{"(ocr.run", "", "permissions: malformed permission query: expected \")\""},
		{strings.Repeat("a", 1001), "", "longer than 1000"},
	}
	for _, tc := range cases {
		t.Run(tc.query[:min(len(tc.query), 40)], func(t *testing.T) {
			before := f.lastSeqs(t)
			var got contracts.VerifyKeyResponse
			code, desc := f.call(t, contracts.SubjectKeysVerify, contracts.VerifyKeyRequest{Key: created.Key, Permissions: tc.query, RequestID: tc.query}, &got)
			if tc.wantErr != "" {
				require.Equal(t, string(contracts.CodeBadRequest), code)
				require.Contains(t, desc, tc.wantErr)
				require.Equal(t, before, f.lastSeqs(t), "a refused verification wrote")
				return
			}
			require.Empty(t, code, desc)
			require.Equal(t, tc.wantCode, got.Code)
			require.Equal(t, []string{"documents.read", "ocr.run"}, got.Permissions)
			require.Equal(t, []string{"admin"}, got.Roles)
		})
	}
}

// TestVerifyRatelimits checks named limits: auto-applied limits always
// charge 1 unless named; a named limit charges its cost (0 only checks)
// with optional limit and duration overrides; a limit that is not
// auto-applied counts only when named; an unknown name needs limit and
// duration (an ad-hoc limit) or is BAD_REQUEST; every result reports id,
// name, limit, duration, remaining, reset, exceeded and autoApply.
func TestVerifyRatelimits(t *testing.T) {
	f := start(t, 1)
	f.clock.Set(time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC))
	reset := f.clock.Now().Add(time.Minute).UnixMilli()
	created := f.create(t, contracts.CreateKeyRequest{APIID: "api_test", Ratelimits: []contracts.Ratelimit{
		{Name: "requests", Limit: 10, Duration: 60_000, AutoApply: true},
		{Name: "pages", Limit: 5, Duration: 60_000},
	}})
	type rl = contracts.RatelimitResult
	id := func(name string) string { return created.KeyID + ":" + name }
	cases := []struct {
		name     string
		named    []contracts.VerifyRatelimit
		wantCode contracts.VerifyCode
		wantErr  string
		want     []rl
	}{
		{"auto-applied only", nil, "VALID", "",
			[]rl{{ID: id("requests"), Name: "requests", Limit: 10, Duration: 60_000, Remaining: 9, Reset: reset, AutoApply: true}}},
		{"named with a cost", []contracts.VerifyRatelimit{{Name: "pages", Cost: ptr[int64](3)}}, "VALID", "",
			[]rl{{ID: id("requests"), Name: "requests", Limit: 10, Duration: 60_000, Remaining: 8, Reset: reset, AutoApply: true},
				{ID: id("pages"), Name: "pages", Limit: 5, Duration: 60_000, Remaining: 2, Reset: reset}}},
		{"auto-applied named with cost 0 only checks", []contracts.VerifyRatelimit{{Name: "requests", Cost: ptr[int64](0)}}, "VALID", "",
			[]rl{{ID: id("requests"), Name: "requests", Limit: 10, Duration: 60_000, Remaining: 8, Reset: reset, AutoApply: true}}},
		{"over the limit spends nothing", []contracts.VerifyRatelimit{{Name: "pages", Cost: ptr[int64](3)}}, "RATE_LIMITED", "",
			[]rl{{ID: id("requests"), Name: "requests", Limit: 10, Duration: 60_000, Remaining: 8, Reset: reset, AutoApply: true},
				{ID: id("pages"), Name: "pages", Limit: 5, Duration: 60_000, Remaining: 2, Reset: reset, Exceeded: true}}},
		{"limit override", []contracts.VerifyRatelimit{{Name: "pages", Cost: ptr[int64](3), Limit: ptr[int64](6)}}, "VALID", "",
			[]rl{{ID: id("requests"), Name: "requests", Limit: 10, Duration: 60_000, Remaining: 7, Reset: reset, AutoApply: true},
				{ID: id("pages"), Name: "pages", Limit: 6, Duration: 60_000, Remaining: 0, Reset: reset}}},
		{"ad-hoc limit", []contracts.VerifyRatelimit{{Name: "burst", Limit: ptr[int64](2), Duration: ptr[int64](10_000)}}, "VALID", "",
			[]rl{{ID: id("requests"), Name: "requests", Limit: 10, Duration: 60_000, Remaining: 6, Reset: reset, AutoApply: true},
				{ID: id("burst"), Name: "burst", Limit: 2, Duration: 10_000, Remaining: 1, Reset: f.clock.Now().Add(10 * time.Second).UnixMilli()}}},
		{"unknown name without limit", []contracts.VerifyRatelimit{{Name: "nope"}}, "", "ratelimits[0].name: the key has no limit \"nope\"", nil},
		{"duplicate name", []contracts.VerifyRatelimit{{Name: "pages"}, {Name: "pages"}}, "", "ratelimits[1].name: \"pages\" is named twice", nil},
		{"bad override", []contracts.VerifyRatelimit{{Name: "pages", Limit: ptr[int64](0), Duration: ptr[int64](10), Cost: ptr[int64](-1)}}, "",
			"ratelimits[0].cost: must be between 0 and 9007199254740992; ratelimits[0].limit: must be at least 1; ratelimits[0].duration", nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := f.lastSeqs(t)
			var got contracts.VerifyKeyResponse
			code, desc := f.call(t, contracts.SubjectKeysVerify, contracts.VerifyKeyRequest{Key: created.Key, Ratelimits: tc.named}, &got)
			if tc.wantErr != "" {
				require.Equal(t, string(contracts.CodeBadRequest), code)
				require.Contains(t, desc, tc.wantErr)
				require.Equal(t, before, f.lastSeqs(t), "a refused verification wrote")
				return
			}
			require.Empty(t, code, desc)
			require.Equal(t, tc.wantCode, got.Code)
			require.Equal(t, tc.want, got.Ratelimits)
		})
	}
}

// TestVerifyRejectsBadInput checks that a malformed verification is
// BAD_REQUEST naming every bad field, before the key is looked up, and
// writes nothing.
func TestVerifyRejectsBadInput(t *testing.T) {
	f := start(t, 1)
	created := f.create(t, contracts.CreateKeyRequest{APIID: "api_test", Credits: &contracts.Credits{Remaining: 5}})
	cases := []struct {
		name, body, want string
	}{
		{"empty body", ``, "invalid JSON"},
		{"truncated", `{"key":"` + created.Key, "invalid JSON"},
		{"unknown field", `{"key":"k","apiId":"x"}`, "unknown field \"apiId\""},
		{"unknown nested field", `{"key":"k","credits":{"cost":1,"units":2}}`, "unknown field \"units\""},
		{"wrong type", `{"key":1}`, "invalid JSON"},
		{"negative cost", `{"key":"` + created.Key + `","credits":{"cost":-1}}`, "credits.cost: must be between 0"},
		{"too many tags", `{"key":"k","tags":[` + strings.Repeat(`"t",`, 20) + `"t"]}`, "tags: at most 20"},
		{"empty tag", `{"key":"k","tags":[""]}`, "tags[0]: 1 to 256 characters"},
		{"every problem at once", `{"key":"k","credits":{"cost":-1},"permissions":"a AND"}`, "credits.cost: must be between 0 and 9007199254740992; permissions:"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := f.lastSeqs(t)
			code, desc := f.callRaw(t, contracts.SubjectKeysVerify, []byte(tc.body), nil)
			require.Equal(t, string(contracts.CodeBadRequest), code)
			require.Contains(t, desc, tc.want)
			require.Equal(t, before, f.lastSeqs(t))
		})
	}
	info := must[contracts.KeyInfo](t, f, contracts.SubjectKeysGet, contracts.KeyRef{KeyID: created.KeyID})
	require.Equal(t, int64(5), info.Credits.Remaining)
}

// TestIdempotentReplay checks that a verification repeating a request id
// seen for the key within 10 minutes gets the first answer, spends nothing
// and emits no event, and that after 10 minutes the id spends again.
func TestIdempotentReplay(t *testing.T) {
	f := start(t, 2)
	created := f.create(t, contracts.CreateKeyRequest{APIID: "api_test", Credits: &contracts.Credits{Remaining: 3},
		Ratelimits: []contracts.Ratelimit{{Name: "r", Limit: 100, Duration: 3_600_000, AutoApply: true}}})
	steps := []struct {
		name        string
		advance     time.Duration
		requestID   string
		wantCredits int64
		wantRLLeft  int64
	}{
		{"first", 0, "r1", 2, 99},
		{"replay", 0, "r1", 2, 99},
		{"replay a minute later", time.Minute, "r1", 2, 99},
		{"another id", 0, "r2", 1, 98},
		{"replay of the other id", 0, "r2", 1, 98},
		{"after 10 minutes the id spends again", 10 * time.Minute, "r1", 0, 97},
		// Credits are gone now: a retry must still replay its VALID, not
		// be refused like a new request.
		{"replay once the credits ran out", 0, "r1", 0, 97},
	}
	for _, s := range steps {
		f.clock.Advance(s.advance)
		got := f.verifyReq(t, contracts.VerifyKeyRequest{Key: created.Key, IdempotencyKey: s.requestID})
		require.Equal(t, contracts.VerifyValid, got.Code, s.name)
		require.Equal(t, s.wantCredits, *got.Credits, s.name)
		require.Equal(t, s.wantRLLeft, got.Ratelimits[0].Remaining, s.name)
	}
	info := must[contracts.KeyInfo](t, f, contracts.SubjectKeysGet, contracts.KeyRef{KeyID: created.KeyID})
	require.Equal(t, int64(0), info.Credits.Remaining)

	// The request id is for tracing only: an end user may repeat it, and a
	// repeat must spend like any other request.
	again := f.create(t, contracts.CreateKeyRequest{APIID: "api_test", Credits: &contracts.Credits{Remaining: 2}})
	for i, want := range []int64{1, 0} {
		got := f.verifyReq(t, contracts.VerifyKeyRequest{Key: again.Key, RequestID: "client-chosen"})
		require.Equal(t, want, *got.Credits, "verification %d with a repeated request id", i)
	}
	// A last verification as a sentinel. Each replica publishes its
	// events in reply order, but the two replicas' batches may interleave
	// (each sends at most one a millisecond), so the sentinel only tells
	// that its own replica's earlier events arrived.
	f.verifyReq(t, contracts.VerifyKeyRequest{Key: "sentinel", RequestID: "sentinel"})
	// Each replay publishes its first verification's event again, under
	// the same id, so there is one event id per decision: r1, r2, r1 ten
	// minutes later, the two repeated request ids and the sentinel. (The
	// stream drops a replay's copy by its Nats-Msg-Id when both travel
	// alone; a copy in an event batch is stored, and counted once by id.)
	distinct := func(all []contracts.VerificationEvent) map[string]contracts.VerificationEvent {
		out := map[string]contracts.VerificationEvent{}
		for _, ev := range all {
			out[ev.EventID] = ev
		}
		return out
	}
	all := f.events(t, 6)
	for evs := distinct(all); len(evs) < 6; evs = distinct(all) {
		all = f.events(t, len(all)+1)
	}
	// Longer than any batch waits (emit's maxDelay), so a seventh id
	// would be there by now.
	time.Sleep(100 * time.Millisecond)
	evs := distinct(f.events(t, len(all)))
	require.Len(t, evs, 6, "event ids: one per decision")
	var mine []contracts.VerificationEvent
	for _, ev := range evs {
		if ev.KeyID == created.KeyID {
			mine = append(mine, ev)
		}
	}
	slices.SortFunc(mine, func(a, b contracts.VerificationEvent) int { return cmp.Compare(a.Time, b.Time) })
	require.Len(t, mine, 3, "r1, r2, and r1 ten minutes later")
	require.True(t, slices.ContainsFunc(slices.Collect(maps.Values(evs)), func(ev contracts.VerificationEvent) bool { return ev.RequestID == "sentinel" }))
	first, later := mine[0], mine[2]
	require.Equal(t, contracts.VerifyValid, first.Outcome)
	require.NotEqual(t, first.EventID, later.EventID, "a separate decision under the same idempotency key has an event of its own")
	require.Equal(t, later.Time-first.Time, (10*time.Minute + time.Minute).Milliseconds(), "each event carries its decision's time")
}

// TestReplayRepublishesEvent: a verification whose answer was lost (its
// commit landed) and whose event was never published is retried by its
// caller; the replay publishes the first decision's event, with the same
// id and time, so the verification is counted once, not never.
func TestReplayRepublishesEvent(t *testing.T) {
	f := start(t, 1)
	created := f.create(t, contracts.CreateKeyRequest{APIID: "api_test", Credits: &contracts.Credits{Remaining: 5}})
	first := f.verifyReq(t, contracts.VerifyKeyRequest{Key: created.Key, IdempotencyKey: "job_1", RequestID: "req_1"})
	require.Equal(t, contracts.VerifyValid, first.Code)
	evs := f.events(t, 1)
	require.Len(t, evs, 1)
	// Drop the event from the stream, as if its publish was lost with the
	// answer, then retry.
	require.NoError(t, f.js.DeleteStream(context.Background(), contracts.EventsStream))
	require.NoError(t, streams.Ensure(context.Background(), f.js, contracts.EventsStreamSpec))
	f.clock.Advance(time.Second)
	replay := f.verifyReq(t, contracts.VerifyKeyRequest{Key: created.Key, IdempotencyKey: "job_1", RequestID: "req_1"})
	require.Equal(t, *first.Credits, *replay.Credits, "a replay spends nothing")
	again := f.events(t, 1)
	require.Len(t, again, 1)
	require.Equal(t, evs[0].EventID, again[0].EventID)
	require.Equal(t, evs[0].Time, again[0].Time)
	require.Equal(t, evs[0].Cost, again[0].Cost)
	require.Equal(t, evs[0].CreditsRemaining, again[0].CreditsRemaining)
}
