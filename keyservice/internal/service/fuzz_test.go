package service

import (
	"testing"

	"github.com/ocrstack/ocrstack/contracts"
	"github.com/ocrstack/ocrstack/keyservice/internal/limits"
	"github.com/ocrstack/ocrstack/keyservice/internal/perm"
	"github.com/ocrstack/ocrstack/keyservice/internal/store"
)

const fuzzNow = 1_795_348_830_000

// fuzzDecode decodes b strictly into a T, reporting whether it decoded.
func fuzzDecode[T any](b []byte) (*T, bool) {
	var r T
	return &r, decodeStrict(b, &r) == nil
}

// FuzzDecodeCreate feeds arbitrary bytes to the create request decoder and
// validator: a request they accept has only valid names and budgets.
func FuzzDecodeCreate(f *testing.F) {
	f.Add([]byte(`{"apiId":"a","prefix":"ocr","meta":{"a":1},"ratelimits":[{"name":"r","limit":1,"duration":1000}]}`))
	f.Add([]byte(`{"apiId":"a","credits":{"remaining":-1,"refill":{"interval":"monthly","amount":1,"refillDay":31}}}`))
	f.Add([]byte(`{"apiId":"a","roles":["and"],"permissions":["a.b"]}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, ok := fuzzDecode[contracts.CreateKeyRequest](b)
		if !ok || validateCreate(r, fuzzNow) != nil {
			return
		}
		for _, n := range append(r.Roles, r.Permissions...) {
			if !perm.ValidName(n) {
				t.Fatalf("accepted name %q", n)
			}
		}
		if c := r.Credits; c != nil && (c.Remaining < 0 || c.Refill != nil && c.Refill.Amount < 1) {
			t.Fatalf("accepted credits %+v", c)
		}
	})
}

// FuzzDecodeVerify checks the verify decoder and validator never panic,
// and that a request they accept has a usable permission query and costs
// in range.
func FuzzDecodeVerify(f *testing.F) {
	f.Add([]byte(`{"key":"ocr_abc","credits":{"cost":2},"tags":["a"],"permissions":"a AND (b OR c)"}`))
	f.Add([]byte(`{"key":"k","ratelimits":[{"name":"r","cost":0,"limit":5,"duration":1000}]}`))
	f.Add([]byte(`{"key":1}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, ok := fuzzDecode[contracts.VerifyKeyRequest](b)
		if !ok {
			return
		}
		vr, err := validateVerify(r)
		if err != nil {
			return
		}
		if vr.cost < 0 || (r.Permissions != "" && vr.query == nil) {
			t.Fatalf("accepted %+v", r)
		}
		in, err := plan(vr)(store.Record{KeyID: "key_1", Enabled: true}, nil)
		if err == nil {
			for _, l := range in.Limits {
				if l.Cost < 0 || l.Limit < 1 || l.Duration < minLimitDuration {
					t.Fatalf("planned limit %+v", l)
				}
			}
		}
	})
}

// FuzzDecodeUpdate checks that an accepted key update applies to a record
// and budget without panicking and leaves them valid.
func FuzzDecodeUpdate(f *testing.F) {
	f.Add([]byte(`{"keyId":"key_1","name":null,"meta":{"a":1},"credits":{"remaining":3},"enabled":false,"roles":["a"]}`))
	f.Add([]byte(`{"keyId":"key_1","expires":null,"ratelimits":[],"externalId":"x","permissions":null}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, ok := fuzzDecode[contracts.UpdateKeyRequest](b)
		if !ok {
			return
		}
		c, err := parseKeyUpdate(r, fuzzNow)
		if err != nil {
			return
		}
		rec := store.Record{KeyID: "key_1", Enabled: true}
		c.Apply(&rec)
		for _, n := range append(rec.Roles, rec.Permissions...) {
			if !perm.ValidName(n) {
				t.Fatalf("accepted name %q", n)
			}
		}
		if c.Budget != nil {
			var budget limits.Budget
			c.Budget(&budget)
			if budget.Credits != nil && *budget.Credits < 0 {
				t.Fatal("negative credits accepted")
			}
		}
	})
}

// FuzzDecodeUpdateCredits checks that an accepted credits change never
// leaves a balance below zero or above limits.MaxCredits.
func FuzzDecodeUpdateCredits(f *testing.F) {
	f.Add([]byte(`{"keyId":"key_1","operation":"decrement","value":5}`), int64(3))
	f.Add([]byte(`{"keyId":"key_1","operation":"set","value":null}`), int64(0))
	f.Fuzz(func(t *testing.T, b []byte, balance int64) {
		r, ok := fuzzDecode[contracts.UpdateCreditsRequest](b)
		if !ok || validateUpdateCredits(r) != nil || balance < 0 || balance > limits.MaxCredits {
			return
		}
		budget := limits.Budget{Credits: &balance}
		if changeCredits(&budget, r.Operation, r.Value) == nil && budget.Credits != nil &&
			(*budget.Credits < 0 || *budget.Credits > limits.MaxCredits) {
			t.Fatalf("balance %d", *budget.Credits)
		}
	})
}

// FuzzDecodeKeyRequests checks the small key requests (get, delete,
// whoami, reroll, list): whatever they accept names a valid id.
func FuzzDecodeKeyRequests(f *testing.F) {
	f.Add([]byte(`{"keyId":"key_1","expiration":1000}`))
	f.Add([]byte(`{"apiId":"a","externalId":"e","cursor":"key_1","limit":5}`))
	f.Add([]byte(`{"key":"ocr_x"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		if r, ok := fuzzDecode[contracts.KeyRef](b); ok {
			var p problems
			if p.id("keyId", r.KeyID); p.err() == nil && !store.ValidID(r.KeyID) {
				t.Fatalf("accepted key id %q", r.KeyID)
			}
		}
		if r, ok := fuzzDecode[contracts.RerollKeyRequest](b); ok && validateReroll(r) == nil && (!store.ValidID(r.KeyID) || r.Expiration < 0) {
			t.Fatalf("accepted reroll %+v", r)
		}
		if r, ok := fuzzDecode[contracts.ListKeysRequest](b); ok {
			if size, err := validateList(r); err == nil && (size < 1 || size > maxPageSize) {
				t.Fatalf("page size %d", size)
			}
		}
		_, _ = fuzzDecode[contracts.WhoamiRequest](b)
	})
}

// FuzzDecodeIdentityRequests checks the identity requests: an accepted one
// names exactly one identity and valid limits and credits.
func FuzzDecodeIdentityRequests(f *testing.F) {
	f.Add([]byte(`{"externalId":"acme","meta":{},"ratelimits":[{"name":"r","limit":1,"duration":1000}],"credits":{"remaining":1}}`))
	f.Add([]byte(`{"identityId":"id_1","meta":null,"credits":{"remaining":5}}`))
	f.Add([]byte(`{"cursor":"id_1","limit":3}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		if r, ok := fuzzDecode[contracts.CreateIdentityRequest](b); ok && validateCreateIdentity(r) == nil && r.ExternalID == "" {
			t.Fatal("accepted an identity without external id")
		}
		if r, ok := fuzzDecode[contracts.UpdateIdentityRequest](b); ok {
			apply, budget, err := parseIdentityUpdate(r, fuzzNow)
			if err == nil {
				if (r.IdentityID == "") == (r.ExternalID == "") {
					t.Fatalf("accepted ref %q %q", r.IdentityID, r.ExternalID)
				}
				apply(&store.Identity{})
				if budget != nil {
					budget(&limits.Budget{})
				}
			}
		}
		if r, ok := fuzzDecode[contracts.ListIdentitiesRequest](b); ok {
			var p problems
			p.page(r.Cursor, r.Limit)
		}
	})
}

// FuzzDecodeRatelimit checks the standalone limit requests: an accepted
// one has limits, durations and costs in range.
func FuzzDecodeRatelimit(f *testing.F) {
	f.Add([]byte(`{"namespace":"signup.ip","identifier":"10.0.0.1","limit":5,"duration":60000,"cost":2}`))
	f.Add([]byte(`{"limits":[{"namespace":"a","identifier":"b","limit":1,"duration":1000}]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		var specs []store.LimitSpec
		if r, ok := fuzzDecode[contracts.RatelimitRequest](b); ok {
			var p problems
			if spec := p.limitSpec("", r); p.err() == nil {
				specs = append(specs, spec)
			}
		}
		if r, ok := fuzzDecode[contracts.MultiRatelimitRequest](b); ok {
			if s, err := validateMulti(r); err == nil {
				specs = append(specs, s...)
			}
		}
		for _, s := range specs {
			if s.Limit < 1 || s.Duration < minLimitDuration || s.Cost < 0 || s.Namespace == "" || s.Identifier == "" {
				t.Fatalf("accepted %+v", s)
			}
		}
	})
}

// FuzzDecodeRefund checks the refund decoder and validator never panic,
// and that a request they accept names a valid key id and an idempotency
// key a verification could have used.
func FuzzDecodeRefund(f *testing.F) {
	f.Add([]byte(`{"keyId":"key_1","idempotencyKey":"job_1","reason":"job failed"}`))
	f.Add([]byte(`{"keyId":"a.>","idempotencyKey":""}`))
	f.Add([]byte(`{"keyId":1}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, ok := fuzzDecode[contracts.RefundRequest](b)
		if !ok || validateRefund(r) != nil {
			return
		}
		if !store.ValidID(r.KeyID) || r.IdempotencyKey == "" || len(r.IdempotencyKey) > maxRequestIDLen || len(r.Reason) > maxReasonLength {
			t.Fatalf("accepted %+v", r)
		}
	})
}
