package service

import (
	"fmt"
	"testing"

	"github.com/ocrstack/ocrstack/contracts"
)

// BenchmarkVerify measures one verification end to end over NATS on an
// embedded server: a key that counts nothing (no write), one with credits
// and a rate limit (one compare-and-set), and the same with a request id
// remembered for idempotency (a larger Doc), and a key of an identity with
// its own limit and credits.
func BenchmarkVerify(b *testing.B) {
	f := start(b, 1)
	lots := &contracts.Credits{Remaining: 1 << 50}
	limit := []contracts.Ratelimit{{Name: "r", Limit: 1 << 50, Duration: 60_000, AutoApply: true}}
	must[contracts.IdentityRef](b, f, contracts.SubjectIdentitiesCreate, contracts.CreateIdentityRequest{ExternalID: "acme", Credits: lots, Ratelimits: limit})
	cases := []struct {
		name      string
		req       contracts.CreateKeyRequest
		requestID bool
	}{
		{"plain", contracts.CreateKeyRequest{APIID: "api"}, false},
		{"credits and limit", contracts.CreateKeyRequest{APIID: "api", Credits: lots, Ratelimits: limit}, false},
		{"credits and limit with request id", contracts.CreateKeyRequest{APIID: "api", Credits: lots, Ratelimits: limit}, true},
		{"identity", contracts.CreateKeyRequest{APIID: "api", ExternalID: "acme", Credits: lots, Ratelimits: limit}, true},
	}
	for _, tc := range cases {
		b.Run(tc.name, func(b *testing.B) {
			key := f.create(b, tc.req).Key
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				r := contracts.VerifyKeyRequest{Key: key}
				if tc.requestID {
					i++
					r.IdempotencyKey = fmt.Sprint("bench", i)
				}
				var resp contracts.VerifyKeyResponse
				if code, desc := f.call(b, contracts.SubjectKeysVerify, r, &resp); code != "" || !resp.Valid {
					b.Fatal(code, desc, resp.Code)
				}
			}
		})
	}
}
