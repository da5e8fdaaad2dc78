package service

import (
	"testing"

	"github.com/ocrstack/ocrstack/contracts"
)

// FuzzDecodeCreate feeds arbitrary bytes to the create request decoder and
// validator: they must return an error or a request that passes validation,
// never panic.
func FuzzDecodeCreate(f *testing.F) {
	f.Add([]byte(`{"apiId":"a","prefix":"ocr","meta":{"a":1},"ratelimits":[{"name":"r","limit":1,"duration":1000}]}`))
	f.Add([]byte(`{"apiId":"a","credits":{"remaining":-1}}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, b []byte) {
		var r contracts.CreateKeyRequest
		if decodeStrict(b, &r) != nil {
			return
		}
		_ = validateCreate(&r, 1)
	})
}

// FuzzDecodeVerify checks the verify request decoder never panics and keeps
// a decoded key within what it was given.
func FuzzDecodeVerify(f *testing.F) {
	f.Add([]byte(`{"key":"ocr_abc","credits":{"cost":2},"tags":["a"]}`))
	f.Add([]byte(`{"key":1}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		var r contracts.VerifyKeyRequest
		if decodeStrict(b, &r) != nil {
			return
		}
		if len(r.Key) > len(b) {
			t.Fatalf("decoded key longer than input")
		}
	})
}
