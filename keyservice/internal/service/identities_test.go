package service

import (
	"encoding/json"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ocrstack/ocrstack/contracts"
	"github.com/stretchr/testify/require"
)

// TestIdentityCRUD checks create, get (by id and by external id), update
// (absent keeps, null clears, value replaces), delete and list, and that
// duplicates are CONFLICT, unknown identities NOT_FOUND and bad input
// BAD_REQUEST, each refusal writing nothing.
func TestIdentityCRUD(t *testing.T) {
	f := start(t, 1)
	ref := must[contracts.IdentityRef](t, f, contracts.SubjectIdentitiesCreate, contracts.CreateIdentityRequest{
		ExternalID: "acme", Meta: json.RawMessage(`{"plan":"pro"}`), Credits: &contracts.Credits{Remaining: 10},
		Ratelimits: []contracts.Ratelimit{{Name: "requests", Limit: 5, Duration: 1000, AutoApply: true}}})
	require.Equal(t, "acme", ref.ExternalID)
	want := contracts.Identity{ID: ref.IdentityID, ExternalID: "acme", Meta: json.RawMessage(`{"plan":"pro"}`),
		Ratelimits: []contracts.Ratelimit{{Name: "requests", Limit: 5, Duration: 1000, AutoApply: true}}, Credits: &contracts.Credits{Remaining: 10}}
	require.Equal(t, want, must[contracts.Identity](t, f, contracts.SubjectIdentitiesGet, contracts.IdentityRef{IdentityID: ref.IdentityID}))
	require.Equal(t, want, must[contracts.Identity](t, f, contracts.SubjectIdentitiesGet, contracts.IdentityRef{ExternalID: "acme"}))

	refusals := []struct {
		name, subject, body string
		wantCode            contracts.Code
		want                string
	}{
		{"duplicate external id", contracts.SubjectIdentitiesCreate, `{"externalId":"acme"}`, contracts.CodeConflict, "externalId: an identity with this externalId exists"},
		{"no external id", contracts.SubjectIdentitiesCreate, `{}`, contracts.CodeBadRequest, "externalId: required"},
		{"unknown field", contracts.SubjectIdentitiesCreate, `{"externalId":"b","name":"x"}`, contracts.CodeBadRequest, "unknown field \"name\""},
		{"bad limits and credits", contracts.SubjectIdentitiesCreate, `{"externalId":"b","ratelimits":[{"name":"r","limit":1,"duration":5}],"credits":{"remaining":-1}}`,
			contracts.CodeBadRequest, "ratelimits[0].duration: must be between 1000 and 31622400000 milliseconds; credits.remaining"},
		{"get by both", contracts.SubjectIdentitiesGet, `{"identityId":"` + ref.IdentityID + `","externalId":"acme"}`, contracts.CodeBadRequest, "not both"},
		{"get by neither", contracts.SubjectIdentitiesGet, `{}`, contracts.CodeBadRequest, "give identityId or externalId"},
		{"get unknown", contracts.SubjectIdentitiesGet, `{"externalId":"nobody"}`, contracts.CodeNotFound, "externalId: not found"},
		{"update unknown", contracts.SubjectIdentitiesUpdate, `{"identityId":"id_nope","meta":null}`, contracts.CodeNotFound, "identityId: not found"},
		{"update bad meta", contracts.SubjectIdentitiesUpdate, `{"externalId":"acme","meta":"x"}`, contracts.CodeBadRequest, "meta: must be a JSON object"},
		{"delete unknown", contracts.SubjectIdentitiesDelete, `{"identityId":"id_nope"}`, contracts.CodeNotFound, "not found"},
	}
	for _, tc := range refusals {
		t.Run(tc.name, func(t *testing.T) {
			before := f.lastSeqs(t)
			code, desc := f.callRaw(t, tc.subject, []byte(tc.body), nil)
			require.Equal(t, string(tc.wantCode), code)
			require.Contains(t, desc, tc.want)
			require.Equal(t, before, f.lastSeqs(t))
		})
	}

	updates := []struct {
		name  string
		body  string
		check func(t *testing.T, id contracts.Identity)
	}{
		{"absent keeps", `{"externalId":"acme"}`, func(t *testing.T, id contracts.Identity) { require.Equal(t, want, id) }},
		{"values replace", `{"externalId":"acme","meta":{"plan":"team"},"credits":{"remaining":99}}`, func(t *testing.T, id contracts.Identity) {
			require.JSONEq(t, `{"plan":"team"}`, string(id.Meta))
			require.Equal(t, int64(99), id.Credits.Remaining)
			require.Len(t, id.Ratelimits, 1)
		}},
		{"null clears", `{"identityId":"` + ref.IdentityID + `","meta":null,"ratelimits":null,"credits":null}`, func(t *testing.T, id contracts.Identity) {
			require.Nil(t, id.Meta)
			require.Nil(t, id.Ratelimits)
			require.Nil(t, id.Credits)
		}},
	}
	for _, tc := range updates {
		t.Run(tc.name, func(t *testing.T) {
			var got contracts.Identity
			code, desc := f.callRaw(t, contracts.SubjectIdentitiesUpdate, []byte(tc.body), &got)
			require.Empty(t, code, desc)
			tc.check(t, got)
			require.Equal(t, got, must[contracts.Identity](t, f, contracts.SubjectIdentitiesGet, contracts.IdentityRef{ExternalID: "acme"}))
		})
	}

	must[contracts.Empty](t, f, contracts.SubjectIdentitiesDelete, contracts.IdentityRef{ExternalID: "acme"})
	code, _ := f.call(t, contracts.SubjectIdentitiesGet, contracts.IdentityRef{IdentityID: ref.IdentityID}, nil)
	require.Equal(t, string(contracts.CodeNotFound), code)
	again := must[contracts.IdentityRef](t, f, contracts.SubjectIdentitiesCreate, contracts.CreateIdentityRequest{ExternalID: "acme"})
	require.NotEqual(t, ref.IdentityID, again.IdentityID, "a deleted external id is free again")
}

// TestListIdentities checks identity paging: every identity once, in id
// order, with their credits.
func TestListIdentities(t *testing.T) {
	f := start(t, 1)
	for i := range 25 {
		must[contracts.IdentityRef](t, f, contracts.SubjectIdentitiesCreate, contracts.CreateIdentityRequest{ExternalID: fmt.Sprint("user", i), Credits: &contracts.Credits{Remaining: int64(i)}})
	}
	seen := map[string]bool{}
	var pages []int
	cursor := ""
	for {
		page := must[contracts.ListIdentitiesResponse](t, f, contracts.SubjectIdentitiesList, contracts.ListIdentitiesRequest{Cursor: cursor, Limit: 10})
		pages = append(pages, len(page.Identities))
		for _, id := range page.Identities {
			require.False(t, seen[id.ExternalID])
			seen[id.ExternalID] = true
			require.Equal(t, id.ExternalID, fmt.Sprint("user", id.Credits.Remaining))
		}
		if !page.HasMore {
			break
		}
		cursor = page.Cursor
	}
	require.Equal(t, []int{10, 10, 5}, pages)
	require.Len(t, seen, 25)
}

// TestIdentityLinking checks that a key created or updated with the external
// id of an identity is linked to it (its verification reports and applies
// the identity), that unlinking keeps the key's own credits, and that a
// key created before its identity stays unlinked until updated.
func TestIdentityLinking(t *testing.T) {
	f := start(t, 1)
	early := f.create(t, contracts.CreateKeyRequest{APIID: "api_test", ExternalID: "acme", Credits: &contracts.Credits{Remaining: 5}})
	ref := must[contracts.IdentityRef](t, f, contracts.SubjectIdentitiesCreate, contracts.CreateIdentityRequest{ExternalID: "acme",
		Credits: &contracts.Credits{Remaining: 2}, Meta: json.RawMessage(`{"plan":"pro"}`)})
	linked := f.create(t, contracts.CreateKeyRequest{APIID: "api_test", ExternalID: "acme"})

	got := f.verify(t, early.Key)
	require.Nil(t, got.Identity, "created before the identity: not linked")
	require.Equal(t, int64(4), *got.Credits)

	got = f.verify(t, linked.Key)
	require.Equal(t, ref.IdentityID, got.Identity.ID)
	require.JSONEq(t, `{"plan":"pro"}`, string(got.Identity.Meta))
	require.Equal(t, int64(1), got.Identity.Credits.Remaining)

	info := must[contracts.KeyInfo](t, f, contracts.SubjectKeysUpdate, contracts.UpdateKeyRequest{KeyID: early.KeyID, ExternalID: json.RawMessage(`"acme"`)})
	require.Equal(t, ref.IdentityID, info.Identity.ID, "linked by update")
	require.Equal(t, int64(4), info.Credits.Remaining, "its own credits move along")
	got = f.verify(t, early.Key)
	require.Equal(t, contracts.VerifyValid, got.Code)
	require.Equal(t, int64(3), *got.Credits)
	require.Equal(t, int64(0), got.Identity.Credits.Remaining)
	require.Equal(t, contracts.VerifyUsageExceeded, f.verify(t, linked.Key).Code, "identity credits are shared")

	info = must[contracts.KeyInfo](t, f, contracts.SubjectKeysUpdate, contracts.UpdateKeyRequest{KeyID: early.KeyID, ExternalID: json.RawMessage(`null`)})
	require.Nil(t, info.Identity, "unlinked by update")
	require.Equal(t, int64(3), info.Credits.Remaining)
	got = f.verify(t, early.Key)
	require.Equal(t, contracts.VerifyValid, got.Code, "no longer bound by the identity's credits")
	require.Equal(t, int64(2), *got.Credits)

	must[contracts.Empty](t, f, contracts.SubjectIdentitiesDelete, contracts.IdentityRef{IdentityID: ref.IdentityID})
	got = f.verify(t, linked.Key)
	require.Equal(t, contracts.VerifyValid, got.Code, "a deleted identity's credits no longer apply")
	require.Nil(t, got.Identity)
}

// TestIdentitySharedBudgetIsExact races 32 clients over 2 replicas on two
// keys of one identity, whose rate limit (40 a minute) and credits (50) are
// shared, and checks the exact counts: 40 admitted in the first minute, the
// last 10 credits in the second, and each key's own credits charged for
// exactly its own admissions.
func TestIdentitySharedBudgetIsExact(t *testing.T) {
	f := start(t, 2)
	f.clock.Set(time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC))
	must[contracts.IdentityRef](t, f, contracts.SubjectIdentitiesCreate, contracts.CreateIdentityRequest{ExternalID: "acme",
		Credits: &contracts.Credits{Remaining: 50}, Ratelimits: []contracts.Ratelimit{{Name: "requests", Limit: 40, Duration: 60_000, AutoApply: true}}})
	k1 := f.create(t, contracts.CreateKeyRequest{APIID: "api_test", ExternalID: "acme", Credits: &contracts.Credits{Remaining: 1000}})
	k2 := f.create(t, contracts.CreateKeyRequest{APIID: "api_test", ExternalID: "acme"})
	round := func() (codes map[contracts.VerifyCode]int64, valid1 int64) {
		var mu sync.Mutex
		codes = map[contracts.VerifyCode]int64{}
		var v1 atomic.Int64
		var wg sync.WaitGroup
		for g := range 32 {
			wg.Go(func() {
				for i := range 4 {
					key := []string{k1.Key, k2.Key}[(g+i)%2]
					code := f.verify(t, key).Code
					if code == contracts.VerifyValid && key == k1.Key {
						v1.Add(1)
					}
					mu.Lock()
					codes[code]++
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		return codes, v1.Load()
	}
	codes, first1 := round()
	require.Equal(t, map[contracts.VerifyCode]int64{"VALID": 40, "RATE_LIMITED": 88}, codes)
	f.clock.Advance(time.Minute)
	codes, second1 := round()
	require.Equal(t, map[contracts.VerifyCode]int64{"VALID": 10, "USAGE_EXCEEDED": 118}, codes)

	info := must[contracts.KeyInfo](t, f, contracts.SubjectKeysGet, contracts.KeyRef{KeyID: k1.KeyID})
	require.Equal(t, 1000-first1-second1, info.Credits.Remaining)
	require.Equal(t, int64(0), info.Identity.Credits.Remaining)
}
