package store

import (
	"strings"
	"testing"
)

// TestDecode checks that stored values breaking an invariant are refused.
func TestDecode(t *testing.T) {
	hash := strings.Repeat("a", 64)
	cases := []struct {
		name    string
		decode  func([]byte) error
		value   string
		wantErr bool
	}{
		{"record", decRecord, `{"keyId":"key_1","hash":"` + hash + `","enabled":true}`, false},
		{"record from a newer version", decRecord, `{"keyId":"key_1","hash":"` + hash + `","future":1}`, false},
		{"record not JSON", decRecord, `{`, true},
		{"record without key id", decRecord, `{"hash":"` + hash + `"}`, true},
		{"record with short hash", decRecord, `{"keyId":"key_1","hash":"ab"}`, true},
		{"record with zero limit", decRecord, `{"keyId":"key_1","hash":"` + hash + `","ratelimits":[{"name":"r","limit":0,"duration":1000}]}`, true},
		{"record with wildcard state id", decRecord, `{"keyId":"key_1","hash":"` + hash + `","stateId":"a.>"}`, true},
		{"alias", decRecord, `{"keyId":"key_1","hash":"` + hash + `","aliasOf":"` + hash + `","aliasExpires":5}`, false},
		{"alias without expiry", decRecord, `{"keyId":"key_1","hash":"` + hash + `","aliasOf":"` + hash + `"}`, true},
		{"identity", decIdentity, `{"id":"id_1","externalId":"ada"}`, false},
		{"identity without external id", decIdentity, `{"id":"id_1"}`, true},
		{"identity with a dotted id", decIdentity, `{"id":"id.1","externalId":"ada"}`, true},
		{"doc", decDoc, `{"identity":{"credits":3},"keys":{"key_1":{"credits":1,"windows":{"r":{"start":1,"count":2}}}}}`, false},
		{"doc with negative key credits", decDoc, `{"keys":{"key_1":{"credits":-1}}}`, true},
		{"doc with negative identity credits", decDoc, `{"identity":{"credits":-1}}`, true},
		{"doc with negative count", decDoc, `{"keys":{"k":{"windows":{"r":{"start":1,"count":-2}}}}}`, true},
		{"doc with a pending record", decDoc, `{"keys":{"k":{}},"pending":{"p.` + strings.Repeat("0f", 16) + `":{"s":"k","r":"j","t":1}}}`, false},
		{"doc with a pending record under a wildcard", decDoc, `{"pending":{"p.>":{"s":"k","r":"j","t":1}}}`, true},
		{"doc with a pending record under another entry", decDoc, `{"pending":{"k.` + strings.Repeat("0f", 16) + `":{"t":1}}}`, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.decode([]byte(tc.value)); (err != nil) != tc.wantErr {
				t.Errorf("decode error = %v, wantErr %v", err, tc.wantErr)
			}
		})
	}
}

func decRecord(b []byte) error   { _, err := DecodeRecord(b); return err }
func decIdentity(b []byte) error { _, err := DecodeIdentity(b); return err }
func decDoc(b []byte) error      { _, err := DecodeDoc(b); return err }

// FuzzDecodeRecord checks that any stored bytes decode to an error or a
// record that keeps its invariants.
func FuzzDecodeRecord(f *testing.F) {
	f.Add([]byte(`{"keyId":"key_1","hash":"` + strings.Repeat("a", 64) + `"}`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := DecodeRecord(b)
		if err == nil && (r.KeyID == "" || len(r.Hash) != 64 || !ValidID(r.State()) && r.StateID != "") {
			t.Fatalf("invariant broken: %+v", r)
		}
	})
}

// FuzzDecodeDoc checks that no stored state decodes to negative credits,
// or to a pending idempotency record under anything but a record's key.
func FuzzDecodeDoc(f *testing.F) {
	f.Add([]byte(`{"identity":{"credits":3},"keys":{"k":{"credits":3,"windows":{"r":{"start":1,"count":2}}}}}`))
	f.Add([]byte(`{"keys":{"k":{}},"pending":{"p.0123456789abcdef0123456789abcdef":{"s":"k","r":"j","t":1,"c":1}}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		d, err := DecodeDoc(b)
		if err != nil {
			return
		}
		if d.Identity != nil && d.Identity.Credits != nil && *d.Identity.Credits < 0 {
			t.Fatal("negative identity credits decoded")
		}
		for _, ks := range d.Keys {
			if ks.Credits != nil && *ks.Credits < 0 {
				t.Fatal("negative credits decoded")
			}
		}
		for pk := range d.Pending {
			if pk != "p."+strings.ToLower(pk[2:]) || len(pk) != 34 || strings.ContainsAny(pk[2:], ".*> ") {
				t.Fatalf("pending record under %q decoded", pk)
			}
		}
	})
}
