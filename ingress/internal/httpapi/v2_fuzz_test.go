package httpapi

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/ocrstack/ocrstack/contracts"
	"github.com/ocrstack/ocrstack/ingress/internal/apierr"
)

// v2Targets pairs each /v2 request schema with the type its handler
// decodes into.
var v2Targets = []struct {
	schema *schema
	dst    func() any
}{
	{createKeySchema, func() any { return new(v2CreateKeyBody) }},
	{verifyKeySchema, func() any { return new(v2VerifyKeyBody) }},
	{getKeySchema, func() any { return new(contracts.GetKeyRequest) }},
	{whoamiSchema, func() any { return new(contracts.WhoamiRequest) }},
	{updateKeySchema, func() any { return new(v2UpdateKeyBody) }},
	{updateCreditsSchema, func() any { return new(contracts.UpdateCreditsRequest) }},
	{deleteKeySchema, func() any { return new(contracts.DeleteKeyRequest) }},
	{rerollKeySchema, func() any { return new(contracts.RerollKeyRequest) }},
	{listKeysSchema, func() any { return new(contracts.ListKeysRequest) }},
	{createIdentitySchema, func() any { return new(v2CreateIdentityBody) }},
	{identityRefSchema, func() any { return new(v2IdentityBody) }},
	{updateIdentitySchema, func() any { return new(v2UpdateIdentityBody) }},
	{listIdentitiesSchema, func() any { return new(v2ListIdentitiesBody) }},
	{limitSchema, func() any { return new(contracts.RatelimitRequest) }},
	{multiLimitSchema, func() any { return new([]contracts.RatelimitRequest) }},
}

// FuzzV2Body checks the /v2 request decoder on arbitrary bodies: it never
// panics; it refuses only with a 400 that names at least one location, or a
// 413; and whatever it accepts fits the handler's type (the schema admits
// nothing the type cannot hold) and translates without a non-public error.
func FuzzV2Body(f *testing.F) {
	seeds := []string{
		`{"apiId":"api_ocr","prefix":"sk","byteLength":24,"meta":{"a":[1,{"b":null}]},"credits":{"remaining":null},"ratelimits":[{"name":"abc","limit":1,"duration":1000}]}`,
		`{"key":"sk_1","tags":["a"],"credits":{"cost":0},"ratelimits":[{"name":"abc","cost":1,"limit":0}]}`,
		`{"keyId":"key_1","decrypt":true}`,
		`{"key":"sk_1"}`,
		`{"keyId":"key_1","name":null,"credits":{"remaining":5,"refill":null},"ratelimits":null,"meta":{}}`,
		`{"keyId":"key_1","operation":"set","value":null}`,
		`{"keyId":"key_1","permanent":false}`,
		`{"keyId":"key_1","expiration":0,"KEYID":"x"}`,
		`{"apiId":"a","limit":100,"cursor":""}`,
		`{"externalId":"u","credits":{"remaining":1,"refill":{"interval":"daily","amount":1,"mode":"add"}}}`,
		`{"identity":"u"}`,
		`{"identity":"u","credits":{"remaining":null},"ratelimits":[]}`,
		`{"limit":5,"cursor":"id_1","search":"acme"}`,
		`{}`,
		`{"namespace":"n","identifier":"i","limit":1,"duration":1000,"cost":0}`,
		`[{"namespace":"n","identifier":"i","limit":1,"duration":1000}]`,
		`{"expires":1e3,"limit":-0,"x":"\ud800"}`, `[`, `null`, `"s"`, `{"a":1}{}`,
	}
	for i, s := range seeds {
		f.Add(uint8(i), []byte(s))
	}
	f.Fuzz(func(t *testing.T, which uint8, body []byte) {
		target := v2Targets[int(which)%len(v2Targets)]
		dst := target.dst()
		err := decodeBody(body, target.schema, dst)
		var e *apierr.Error
		switch {
		case errors.As(err, &e):
			if !(e.Status == 400 && len(e.Fields) > 0) && e.Status != 413 {
				t.Fatalf("refusal %d with %d fields: %v", e.Status, len(e.Fields), e)
			}
			return
		case err != nil:
			t.Fatalf("accepted by the schema but not by %T: %v", dst, err)
		}
		if _, err := json.Marshal(dst); err != nil {
			t.Fatalf("re-encode %T: %v", dst, err)
		}
		switch b := dst.(type) {
		case *v2CreateKeyBody:
			_, err = b.Credits.toContracts("body.credits")
		case *v2CreateIdentityBody:
			_, err = b.Credits.toContracts("body.credits")
		case *v2UpdateIdentityBody:
			_, err = identityCredits(b.Credits)
		}
		if err != nil && !errors.As(err, &e) {
			t.Fatalf("translate %T: %v", dst, err)
		}
	})
}

// BenchmarkV2VerifyBody measures what the ingress adds to a keys.verifyKey
// call besides the NATS round trip: checking and decoding the body, and
// encoding the translated answer.
func BenchmarkV2VerifyBody(b *testing.B) {
	body := []byte(`{"key":"sk_2cGKbMxRjIzhCxo1IdjH3arELti7Sdyc8w6XYbvtcyuBowPT","tags":["route=/upload"],"credits":{"cost":1},"ratelimits":[{"name":"requests"}]}`)
	v := contracts.VerifyKeyResponse{Valid: true, Code: contracts.VerifyValid, KeyID: "key_1", Enabled: true, Credits: new(int64),
		Meta:       json.RawMessage(`{"plan":"pro"}`),
		Ratelimits: []contracts.RatelimitResult{{Name: "requests", Limit: 6, Duration: 60_000, Remaining: 5, Reset: 1_767_225_660_000}}}
	b.ReportAllocs()
	for b.Loop() {
		var req v2VerifyKeyBody
		if err := decodeBody(body, verifyKeySchema, &req); err != nil {
			b.Fatal(err)
		}
		if _, err := json.Marshal(v2Envelope{Meta: v2Meta{RequestID: "req_1"}, Data: toV2Verify(v)}); err != nil {
			b.Fatal(err)
		}
	}
}
