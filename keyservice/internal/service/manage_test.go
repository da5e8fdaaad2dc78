package service

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/ocrstack/ocrstack/contracts"
	"github.com/stretchr/testify/require"
)

// TestGetAndWhoami checks that get (by id) and whoami (by plaintext, spending
// nothing) read back what create stored, never the hash or the key, and
// that unknown or malformed ids are NOT_FOUND or BAD_REQUEST.
func TestGetAndWhoami(t *testing.T) {
	f := start(t, 1)
	now := f.clock.Now().UnixMilli()
	req := contracts.CreateKeyRequest{APIID: "api_test", Prefix: "sk", Name: "Production", ExternalID: "ada@example.com",
		Meta: json.RawMessage(`{"plan":"free"}`), Expires: now + 3_600_000, Roles: []string{"admin"}, Permissions: []string{"ocr.run"},
		Credits:    &contracts.Credits{Remaining: 7, Refill: &contracts.Refill{Interval: contracts.RefillMonthly, Amount: 100, RefillDay: 31, Mode: contracts.RefillAdd}},
		Ratelimits: []contracts.Ratelimit{{Name: "requests", Limit: 6, Duration: 60_000, AutoApply: true}}}
	created := f.create(t, req)
	want := contracts.KeyInfo{KeyID: created.KeyID, APIID: "api_test", Start: created.Key[:len("sk_")+4], Name: "Production",
		ExternalID: "ada@example.com", Meta: json.RawMessage(`{"plan":"free"}`), Enabled: true, Expires: req.Expires,
		Credits: req.Credits, Ratelimits: req.Ratelimits, Roles: req.Roles, Permissions: req.Permissions, CreatedAt: now, UpdatedAt: now}
	cases := []struct {
		name     string
		subject  string
		req      any
		wantCode contracts.Code
	}{
		{"get", contracts.SubjectKeysGet, contracts.KeyRef{KeyID: created.KeyID}, ""},
		{"whoami", contracts.SubjectKeysWhoami, contracts.WhoamiRequest{Key: created.Key}, ""},
		{"get unknown", contracts.SubjectKeysGet, contracts.KeyRef{KeyID: "key_unknown"}, contracts.CodeNotFound},
		{"get malformed id", contracts.SubjectKeysGet, contracts.KeyRef{KeyID: "key.*"}, contracts.CodeBadRequest},
		{"get without id", contracts.SubjectKeysGet, contracts.KeyRef{}, contracts.CodeBadRequest},
		{"whoami unknown", contracts.SubjectKeysWhoami, contracts.WhoamiRequest{Key: "sk_nope"}, contracts.CodeNotFound},
		{"whoami mistyped", contracts.SubjectKeysWhoami, contracts.WhoamiRequest{Key: mistype(created.Key)}, contracts.CodeNotFound},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var got json.RawMessage
			code, desc := f.call(t, tc.subject, tc.req, &got)
			require.Equal(t, string(tc.wantCode), code, desc)
			if code != "" {
				return
			}
			require.NotContains(t, string(got), created.Key)
			require.NotContains(t, string(got), "hash")
			var info contracts.KeyInfo
			require.NoError(t, json.Unmarshal(got, &info))
			require.Equal(t, want, info)
		})
	}
	code, _ := f.callRaw(t, contracts.SubjectKeysGet, []byte(`{"keyId":"`+created.KeyID+`","extra":1}`), nil)
	require.Equal(t, string(contracts.CodeBadRequest), code)
}

// TestUpdateKey checks Unkey's update rule (absent keeps, null clears, a
// value replaces), that changed limits, credits and state take effect on the
// next verification, and that a refused update writes nothing.
func TestUpdateKey(t *testing.T) {
	f := start(t, 1)
	created := f.create(t, contracts.CreateKeyRequest{APIID: "api_test", Name: "Production", ExternalID: "ada",
		Meta: json.RawMessage(`{"a":1}`), Roles: []string{"r"}, Permissions: []string{"p"},
		Credits:    &contracts.Credits{Remaining: 5},
		Ratelimits: []contracts.Ratelimit{{Name: "requests", Limit: 1, Duration: 60_000, AutoApply: true}}})
	get := func(t *testing.T) contracts.KeyInfo {
		return must[contracts.KeyInfo](t, f, contracts.SubjectKeysGet, contracts.KeyRef{KeyID: created.KeyID})
	}
	cases := []struct {
		name       string
		body       string
		wantErr    string
		check      func(t *testing.T, info contracts.KeyInfo)
		wantVerify contracts.VerifyCode
	}{
		{"nothing but the id keeps everything", `{}`, "", func(t *testing.T, info contracts.KeyInfo) {
			require.Equal(t, "Production", info.Name)
			require.JSONEq(t, `{"a":1}`, string(info.Meta))
			require.Equal(t, int64(5), info.Credits.Remaining)
		}, "VALID"},
		{"rate limit raised takes effect", `{"ratelimits":[{"name":"requests","limit":100,"duration":60000,"autoApply":true}]}`, "", func(t *testing.T, info contracts.KeyInfo) {
			require.Equal(t, int64(100), info.Ratelimits[0].Limit)
		}, "VALID"},
		{"values replace", `{"name":"Staging","meta":{"b":2},"roles":["x"],"permissions":["y","z"]}`, "", func(t *testing.T, info contracts.KeyInfo) {
			require.Equal(t, "Staging", info.Name)
			require.JSONEq(t, `{"b":2}`, string(info.Meta))
			require.Equal(t, []string{"x"}, info.Roles)
			require.Equal(t, []string{"y", "z"}, info.Permissions)
		}, "VALID"},
		{"credits replaced", `{"credits":{"remaining":0}}`, "", func(t *testing.T, info contracts.KeyInfo) {
			require.Equal(t, int64(0), info.Credits.Remaining)
		}, "USAGE_EXCEEDED"},
		{"null clears", `{"name":null,"meta":null,"credits":null,"ratelimits":null,"roles":null,"expires":null}`, "", func(t *testing.T, info contracts.KeyInfo) {
			require.Empty(t, info.Name)
			require.Nil(t, info.Meta)
			require.Nil(t, info.Credits, "null credits is unlimited")
			require.Nil(t, info.Ratelimits)
			require.Nil(t, info.Roles)
			require.Equal(t, []string{"y", "z"}, info.Permissions)
		}, "VALID"},
		{"disabled", `{"enabled":false}`, "", nil, "DISABLED"},
		{"enabled null is the default, enabled", `{"enabled":null}`, "", nil, "VALID"},
		{"expires in the future", `{"expires":` + jsonInt(f.clock.Now().Add(time.Hour).UnixMilli()) + `}`, "", func(t *testing.T, info contracts.KeyInfo) {
			require.NotZero(t, info.Expires)
		}, "VALID"},
		{"unknown field", `{"ownerId":"x"}`, "unknown field \"ownerId\"", nil, ""},
		{"unknown field in credits", `{"credits":{"remaining":1,"max":2}}`, "credits: invalid JSON: json: unknown field \"max\"", nil, ""},
		{"wrong type", `{"name":5}`, "name: invalid JSON", nil, ""},
		{"every problem at once", `{"expires":1,"ratelimits":[{"name":"r","limit":0,"duration":1000}],"permissions":["a b"],"meta":[1]}`,
			"meta: must be a JSON object; expires: must be a unix time in milliseconds in the future, or null for never; ratelimits[0].limit: must be at least 1; permissions[0]:", nil, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := f.lastSeqs(t)
			body := strings.Replace(tc.body, "{", `{"keyId":"`+created.KeyID+`",`, 1)
			body = strings.Replace(body, `,}`, `}`, 1)
			var info contracts.KeyInfo
			code, desc := f.callRaw(t, contracts.SubjectKeysUpdate, []byte(body), &info)
			if tc.wantErr != "" {
				require.Equal(t, string(contracts.CodeBadRequest), code)
				require.Contains(t, desc, tc.wantErr)
				require.Equal(t, before, f.lastSeqs(t), "a refused update wrote")
				return
			}
			require.Empty(t, code, desc)
			require.Equal(t, info, get(t), "update answers what get reads")
			if tc.check != nil {
				tc.check(t, info)
			}
			require.Equal(t, tc.wantVerify, f.verify(t, created.Key).Code)
		})
	}
	code, _ := f.call(t, contracts.SubjectKeysUpdate, contracts.UpdateKeyRequest{KeyID: "key_unknown", Name: json.RawMessage(`"x"`)}, nil)
	require.Equal(t, string(contracts.CodeNotFound), code)
}

func jsonInt(v int64) string { b, _ := json.Marshal(v); return string(b) }

// TestUpdateCredits checks set, increment and decrement: a decrement never
// goes below zero, set null makes the key unlimited, increment of unlimited
// credits is refused, and every refusal writes nothing.
func TestUpdateCredits(t *testing.T) {
	f := start(t, 1)
	created := f.create(t, contracts.CreateKeyRequest{APIID: "api_test", Credits: &contracts.Credits{Remaining: 10,
		Refill: &contracts.Refill{Interval: contracts.RefillDaily, Amount: 10}}})
	cases := []struct {
		name     string
		op       contracts.CreditsOperation
		value    *int64
		wantCode contracts.Code
		want     *int64
	}{
		{"increment", contracts.CreditsIncrement, ptr[int64](5), "", ptr[int64](15)},
		{"decrement", contracts.CreditsDecrement, ptr[int64](4), "", ptr[int64](11)},
		{"decrement stops at zero", contracts.CreditsDecrement, ptr[int64](100), "", ptr[int64](0)},
		{"set", contracts.CreditsSet, ptr[int64](3), "", ptr[int64](3)},
		{"increment needs a value", contracts.CreditsIncrement, nil, contracts.CodeBadRequest, nil},
		{"negative value", contracts.CreditsSet, ptr[int64](-1), contracts.CodeBadRequest, nil},
		{"unknown operation", "multiply", ptr[int64](2), contracts.CodeBadRequest, nil},
		{"set null is unlimited", contracts.CreditsSet, nil, "", nil},
		{"increment of unlimited is refused", contracts.CreditsIncrement, ptr[int64](1), contracts.CodeBadRequest, nil},
		{"set again", contracts.CreditsSet, ptr[int64](2), "", ptr[int64](2)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := f.lastSeqs(t)
			var got contracts.UpdateCreditsResponse
			code, desc := f.call(t, contracts.SubjectKeysUpdateCredits, contracts.UpdateCreditsRequest{KeyID: created.KeyID, Operation: tc.op, Value: tc.value}, &got)
			require.Equal(t, string(tc.wantCode), code, desc)
			if code != "" {
				require.Equal(t, before, f.lastSeqs(t), "a refused change wrote")
				return
			}
			require.Equal(t, tc.want, got.Remaining)
			info := must[contracts.KeyInfo](t, f, contracts.SubjectKeysGet, contracts.KeyRef{KeyID: created.KeyID})
			if tc.want == nil {
				require.Nil(t, info.Credits)
				require.Nil(t, got.Refill, "unlimited credits keep no refill")
			} else {
				require.Equal(t, *tc.want, info.Credits.Remaining)
			}
		})
	}
	code, _ := f.call(t, contracts.SubjectKeysUpdateCredits, contracts.UpdateCreditsRequest{KeyID: "key_nope", Operation: "set"}, nil)
	require.Equal(t, string(contracts.CodeNotFound), code)
}

// mistype changes the last character of key to another one.
func mistype(key string) string {
	last := "x"
	if strings.HasSuffix(key, last) {
		last = "y"
	}
	return key[:len(key)-1] + last
}
