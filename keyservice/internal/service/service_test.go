package service

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go/micro"
	"github.com/ocrstack/ocrstack/contracts"
	"github.com/stretchr/testify/require"
)

// TestCreateAndVerify checks each verification outcome end to end over NATS,
// and that verify reads back what create stored.
func TestCreateAndVerify(t *testing.T) {
	f := start(t, 1)
	now := f.clock.Now().UnixMilli()
	disabled := false
	base := contracts.CreateKeyRequest{APIID: "api_test", Prefix: "ocr", ExternalID: "ada@example.com", Meta: json.RawMessage(`{"name":"Ada"}`)}
	withCredits := base
	withCredits.Credits = &contracts.Credits{Remaining: 1}
	limited := base
	limited.Ratelimits = []contracts.Ratelimit{{Name: "requests", Limit: 1, Duration: 10_000, AutoApply: true}}
	off := base
	off.Enabled = &disabled
	expiring := base
	expiring.Expires = now + 60_000

	cases := []struct {
		name      string
		req       contracts.CreateKeyRequest
		before    func()
		wantCodes []contracts.VerifyCode
	}{
		{"plain key stays valid", base, nil, []contracts.VerifyCode{"VALID", "VALID", "VALID"}},
		{"credits run out", withCredits, nil, []contracts.VerifyCode{"VALID", "USAGE_EXCEEDED", "USAGE_EXCEEDED"}},
		{"rate limited", limited, nil, []contracts.VerifyCode{"VALID", "RATE_LIMITED"}},
		{"rate limit resets in the next window", limited, func() { f.clock.Advance(10 * time.Second) }, []contracts.VerifyCode{"VALID"}},
		{"disabled", off, nil, []contracts.VerifyCode{"DISABLED"}},
		{"expired", expiring, func() { f.clock.Advance(time.Minute) }, []contracts.VerifyCode{"EXPIRED"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			created := f.create(t, tc.req)
			require.True(t, strings.HasPrefix(created.Key, "ocr_"), created.Key)
			if tc.before != nil {
				tc.before()
			}
			for i, want := range tc.wantCodes {
				got := f.verify(t, created.Key)
				require.Equal(t, want, got.Code, "verification %d", i)
				require.Equal(t, want == contracts.VerifyValid, got.Valid)
				require.Equal(t, created.KeyID, got.KeyID)
				require.Equal(t, "ada@example.com", got.ExternalID)
				require.JSONEq(t, `{"name":"Ada"}`, string(got.Meta))
			}
		})
	}
	t.Run("unknown and malformed keys are NOT_FOUND", func(t *testing.T) {
		for _, k := range []string{"ocr_unknown", "", "bad key with spaces", strings.Repeat("x", 1000)} {
			got := f.verify(t, k)
			require.Equal(t, contracts.VerifyNotFound, got.Code, k)
			require.False(t, got.Valid)
			require.Empty(t, got.KeyID)
		}
	})
}

// TestCreateRejectsBadInput checks that a malformed create is refused with
// BAD_REQUEST naming the field, and that nothing is written.
func TestCreateRejectsBadInput(t *testing.T) {
	f := start(t, 1)
	cases := []struct {
		name      string
		body      string
		wantField string
	}{
		{"not JSON", `{`, "invalid JSON"},
		{"unknown field", `{"apiId":"a","ownerId":"x"}`, "ownerId"},
		{"trailing data", `{"apiId":"a"} {}`, "after the object"},
		{"no api id", `{}`, "apiId"},
		{"prefix too long", `{"apiId":"a","prefix":"abcdefghijklmnopq"}`, "prefix"},
		{"prefix with underscore", `{"apiId":"a","prefix":"o_r"}`, "prefix"},
		{"byteLength too small", `{"apiId":"a","byteLength":8}`, "byteLength"},
		{"meta not an object", `{"apiId":"a","meta":[1]}`, "meta"},
		{"meta too large", `{"apiId":"a","meta":{"x":"` + strings.Repeat("a", 17<<10) + `"}}`, "meta"},
		{"negative credits", `{"apiId":"a","credits":{"remaining":-1}}`, "credits.remaining"},
		{"expired already", `{"apiId":"a","expires":1}`, "expires"},
		{"short duration", `{"apiId":"a","ratelimits":[{"name":"r","limit":1,"duration":999}]}`, "ratelimits[0].duration"},
		{"every problem at once", `{"apiId":"a","prefix":"a_b","byteLength":1}`, "prefix: at most 16 characters of a-z, A-Z, 0-9; byteLength"},
	}
	kv, err := f.js.KeyValue(context.Background(), contracts.KeysBucket)
	require.NoError(t, err)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			msg, err := f.nc.Request(contracts.SubjectKeysCreate, []byte(tc.body), 5*time.Second)
			require.NoError(t, err)
			require.Equal(t, string(contracts.CodeBadRequest), msg.Header.Get(micro.ErrorCodeHeader))
			require.Contains(t, msg.Header.Get(micro.ErrorHeader), tc.wantField)
			var body contracts.Error
			require.NoError(t, json.Unmarshal(msg.Data, &body))
			require.Equal(t, contracts.CodeBadRequest, body.Code)
		})
	}
	status, err := kv.Status(context.Background())
	require.NoError(t, err)
	require.Zero(t, status.Values(), "a refused create wrote to the bucket")
}

// TestConcurrentVerifyIsExact races 64 clients against 3 replicas on one key
// with 50 credits and checks that exactly 50 verifications are admitted.
func TestConcurrentVerifyIsExact(t *testing.T) {
	f := start(t, 3)
	created := f.create(t, contracts.CreateKeyRequest{APIID: "api_test", Credits: &contracts.Credits{Remaining: 50}})
	var valid, exceeded atomic.Int64
	var wg sync.WaitGroup
	for range 64 {
		wg.Go(func() {
			for range 2 {
				switch f.verify(t, created.Key).Code {
				case contracts.VerifyValid:
					valid.Add(1)
				case contracts.VerifyUsageExceeded:
					exceeded.Add(1)
				}
			}
		})
	}
	wg.Wait()
	require.Equal(t, int64(50), valid.Load())
	require.Equal(t, int64(78), exceeded.Load())
	last := f.verify(t, created.Key)
	require.Equal(t, int64(0), *last.Credits)
}

// TestVerificationEvents checks that each verification, valid or not, is
// recorded once on the events stream, with the outcome and never the key.
func TestVerificationEvents(t *testing.T) {
	f := start(t, 1)
	created := f.create(t, contracts.CreateKeyRequest{APIID: "api_test", ExternalID: "bob", Credits: &contracts.Credits{Remaining: 1}})
	f.verifyReq(t, contracts.VerifyKeyRequest{Key: created.Key, RequestID: "req_1"})
	f.verifyReq(t, contracts.VerifyKeyRequest{Key: created.Key, RequestID: "req_2"})
	f.verifyReq(t, contracts.VerifyKeyRequest{Key: "ocr_nope", RequestID: "req_3"})

	got := f.events(t, 3)
	require.Len(t, got, 3)
	outcomes := map[contracts.VerifyCode]int{}
	for i, ev := range got {
		b, err := json.Marshal(ev)
		require.NoError(t, err)
		require.NotContains(t, string(b), created.Key)
		outcomes[ev.Outcome]++
		require.Equal(t, fmt.Sprintf("req_%d", i+1), ev.RequestID)
		if ev.KeyID != "" {
			require.Equal(t, "bob", ev.OwnerID)
			require.Equal(t, "api_test", ev.APIID)
		}
	}
	require.Equal(t, map[contracts.VerifyCode]int{"VALID": 1, "USAGE_EXCEEDED": 1, "NOT_FOUND": 1}, outcomes)
}

// TestCorruptRecord checks that a damaged stored value makes verify answer
// INTERNAL rather than crash or admit, and that the service keeps serving.
func TestCorruptRecord(t *testing.T) {
	f := start(t, 1)
	created := f.create(t, contracts.CreateKeyRequest{APIID: "api_test"})
	kv, err := f.js.KeyValue(context.Background(), contracts.KeysBucket)
	require.NoError(t, err)
	hash, err := kv.Get(context.Background(), "id."+created.KeyID)
	require.NoError(t, err)
	_, err = kv.Put(context.Background(), "h."+string(hash.Value()), []byte(`{"keyId":`))
	require.NoError(t, err)

	var resp contracts.VerifyKeyResponse
	code, _ := f.call(t, contracts.SubjectKeysVerify, contracts.VerifyKeyRequest{Key: created.Key}, &resp)
	require.Equal(t, string(contracts.CodeInternal), code)

	other := f.create(t, contracts.CreateKeyRequest{APIID: "api_test"})
	require.Equal(t, contracts.VerifyValid, f.verify(t, other.Key).Code)
}
