package service

import (
	"strings"
	"testing"
	"time"

	"github.com/ocrstack/ocrstack/contracts"
	"github.com/ocrstack/ocrstack/keyservice/internal/store"
	"github.com/stretchr/testify/require"
)

// TestDeleteKey checks that delete revokes at once: the key verifies as
// NOT_FOUND, get and a second delete are NOT_FOUND, and its budget is gone.
func TestDeleteKey(t *testing.T) {
	f := start(t, 1)
	created := f.create(t, contracts.CreateKeyRequest{APIID: "api_test", Credits: &contracts.Credits{Remaining: 5}})
	require.Equal(t, contracts.VerifyValid, f.verify(t, created.Key).Code)
	must[contracts.Empty](t, f, contracts.SubjectKeysDelete, contracts.KeyRef{KeyID: created.KeyID})
	require.Equal(t, contracts.VerifyNotFound, f.verify(t, created.Key).Code)
	cases := []struct {
		name     string
		subject  string
		req      any
		wantCode contracts.Code
	}{
		{"get", contracts.SubjectKeysGet, contracts.KeyRef{KeyID: created.KeyID}, contracts.CodeNotFound},
		{"delete again", contracts.SubjectKeysDelete, contracts.KeyRef{KeyID: created.KeyID}, contracts.CodeNotFound},
		{"whoami", contracts.SubjectKeysWhoami, contracts.WhoamiRequest{Key: created.Key}, contracts.CodeNotFound},
		{"credits", contracts.SubjectKeysUpdateCredits, contracts.UpdateCreditsRequest{KeyID: created.KeyID, Operation: "set"}, contracts.CodeNotFound},
		{"malformed id", contracts.SubjectKeysDelete, contracts.KeyRef{KeyID: "a b"}, contracts.CodeBadRequest},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := f.lastSeqs(t)
			code, _ := f.call(t, tc.subject, tc.req, nil)
			require.Equal(t, string(tc.wantCode), code)
			require.Equal(t, before, f.lastSeqs(t))
		})
	}
	list := must[contracts.ListKeysResponse](t, f, contracts.SubjectKeysList, contracts.ListKeysRequest{APIID: "api_test"})
	require.Empty(t, list.Keys)
}

// TestRerollSharesOneBudget checks key rotation: the new key has a new id,
// the same settings and owner; during the grace period the old key verifies
// too, and both draw on one budget (credits and rate limits), so rotation
// never doubles a quota; after the grace period the old key is NOT_FOUND.
func TestRerollSharesOneBudget(t *testing.T) {
	// One replica: another one that had verified the old key before the
	// reroll answers from its cache until the change reaches it, within
	// milliseconds (TestPropagation measures it), with the old key's id.
	f := start(t, 1)
	f.clock.Set(time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC))
	old := f.create(t, contracts.CreateKeyRequest{APIID: "api_test", Prefix: "sk", Name: "Production", ExternalID: "ada",
		Credits:    &contracts.Credits{Remaining: 8},
		Ratelimits: []contracts.Ratelimit{{Name: "requests", Limit: 3, Duration: 60_000, AutoApply: true}}})
	require.Equal(t, contracts.VerifyValid, f.verify(t, old.Key).Code) // 7 credits, 2 left this minute
	fresh := must[contracts.CreateKeyResponse](t, f, contracts.SubjectKeysReroll, contracts.RerollKeyRequest{KeyID: old.KeyID, Expiration: 3_600_000})
	require.NotEqual(t, old.KeyID, fresh.KeyID)
	require.True(t, strings.HasPrefix(fresh.Key, "sk_"), fresh.Key)

	info := must[contracts.KeyInfo](t, f, contracts.SubjectKeysGet, contracts.KeyRef{KeyID: fresh.KeyID})
	require.Equal(t, "Production", info.Name)
	require.Equal(t, "ada", info.ExternalID)
	require.Equal(t, int64(7), info.Credits.Remaining)

	steps := []struct {
		name    string
		advance time.Duration
		key     string
		want    contracts.VerifyCode
		credits int64
	}{
		{"old key, same window", 0, old.Key, "VALID", 6},
		{"new key, same window", 0, fresh.Key, "VALID", 5},
		{"window shared: old key limited", 0, old.Key, "RATE_LIMITED", 5},
		{"window shared: new key limited", 0, fresh.Key, "RATE_LIMITED", 5},
		{"next window, new", time.Minute, fresh.Key, "VALID", 4},
		{"next window, old", 0, old.Key, "VALID", 3},
		{"next window, new again", 0, fresh.Key, "VALID", 2},
		{"third window, old", time.Minute, old.Key, "VALID", 1},
		{"third window, new", 0, fresh.Key, "VALID", 0},
		{"credits shared: old key exceeded", 0, old.Key, "USAGE_EXCEEDED", 0},
		{"after the grace period, old key gone", time.Hour, old.Key, "NOT_FOUND", 0},
		{"new key stays", 0, fresh.Key, "USAGE_EXCEEDED", 0},
	}
	for _, s := range steps {
		f.clock.Advance(s.advance)
		got := f.verify(t, s.key)
		require.Equal(t, s.want, got.Code, s.name)
		if s.want != contracts.VerifyNotFound {
			require.Equal(t, fresh.KeyID, got.KeyID, "%s: the old key answers as the new one", s.name)
			require.Equal(t, s.credits, *got.Credits, s.name)
		}
	}
}

// TestRerollLifecycle checks the edges of rotation: expiration 0 revokes the
// old key at once; rerolling a new key re-points the older old keys at the
// newest one; an old key id is NOT_FOUND for everything but delete, which
// revokes just that old key; deleting the newest key revokes all; more than
// store.MaxAliases old keys in grace is a CONFLICT; bad input is BAD_REQUEST.
func TestRerollLifecycle(t *testing.T) {
	f := start(t, 1)
	reroll := func(keyID string, grace int64) contracts.CreateKeyResponse {
		return must[contracts.CreateKeyResponse](t, f, contracts.SubjectKeysReroll, contracts.RerollKeyRequest{KeyID: keyID, Expiration: grace})
	}
	a := f.create(t, contracts.CreateKeyRequest{APIID: "api_test", Credits: &contracts.Credits{Remaining: 100}})
	b := reroll(a.KeyID, 0)
	require.Equal(t, contracts.VerifyNotFound, f.verify(t, a.Key).Code, "expiration 0 revokes at once")

	c := reroll(b.KeyID, 60_000)
	d := reroll(c.KeyID, 60_000)
	for _, k := range []string{b.Key, c.Key, d.Key} {
		got := f.verify(t, k)
		require.Equal(t, contracts.VerifyValid, got.Code)
		require.Equal(t, d.KeyID, got.KeyID, "every old key resolves to the newest")
	}
	code, desc := f.call(t, contracts.SubjectKeysGet, contracts.KeyRef{KeyID: c.KeyID}, nil)
	require.Equal(t, string(contracts.CodeNotFound), code)
	require.Contains(t, desc, "rerolled")
	code, _ = f.call(t, contracts.SubjectKeysReroll, contracts.RerollKeyRequest{KeyID: c.KeyID}, nil)
	require.Equal(t, string(contracts.CodeNotFound), code)

	must[contracts.Empty](t, f, contracts.SubjectKeysDelete, contracts.KeyRef{KeyID: b.KeyID})
	require.Equal(t, contracts.VerifyNotFound, f.verify(t, b.Key).Code, "deleting an old id revokes it")
	require.Equal(t, contracts.VerifyValid, f.verify(t, c.Key).Code, "and only it")

	must[contracts.Empty](t, f, contracts.SubjectKeysDelete, contracts.KeyRef{KeyID: d.KeyID})
	for _, k := range []string{c.Key, d.Key} {
		require.Equal(t, contracts.VerifyNotFound, f.verify(t, k).Code, "deleting the newest revokes every old key")
	}

	e := f.create(t, contracts.CreateKeyRequest{APIID: "api_test"})
	for range store.MaxAliases {
		e = reroll(e.KeyID, 60_000)
	}
	before := f.lastSeqs(t)
	code, _ = f.call(t, contracts.SubjectKeysReroll, contracts.RerollKeyRequest{KeyID: e.KeyID, Expiration: 60_000}, nil)
	require.Equal(t, string(contracts.CodeConflict), code)
	require.Equal(t, before, f.lastSeqs(t))
	f.clock.Advance(time.Minute)
	reroll(e.KeyID, 60_000) // the old keys expired, so room again

	for _, body := range []string{`{"keyId":"` + e.KeyID + `","expiration":-1}`, `{"keyId":"","expiration":0}`, `{"keyId":"k","grace":1}`,
		`{"keyId":"` + e.KeyID + `","expiration":2592000001}`} {
		code, _ := f.callRaw(t, contracts.SubjectKeysReroll, []byte(body), nil)
		require.Equal(t, string(contracts.CodeBadRequest), code, body)
	}
}
