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
		record  string
		wantErr bool
	}{
		{"valid", `{"keyId":"key_1","hash":"` + hash + `","enabled":true}`, false},
		{"unknown fields from a newer version", `{"keyId":"key_1","hash":"` + hash + `","future":1}`, false},
		{"not JSON", `{`, true},
		{"no key id", `{"hash":"` + hash + `"}`, true},
		{"short hash", `{"keyId":"key_1","hash":"ab"}`, true},
		{"zero limit", `{"keyId":"key_1","hash":"` + hash + `","ratelimits":[{"name":"r","limit":0,"duration":1000}]}`, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := DecodeRecord([]byte(tc.record))
			if (err != nil) != tc.wantErr {
				t.Errorf("DecodeRecord error = %v, wantErr %v", err, tc.wantErr)
			}
		})
	}
	if _, err := DecodeState([]byte(`{"credits":-1}`)); err == nil {
		t.Error("DecodeState accepted negative credits")
	}
}

// FuzzDecodeRecord checks that any stored bytes decode to an error or a
// record that keeps its invariants.
func FuzzDecodeRecord(f *testing.F) {
	f.Add([]byte(`{"keyId":"key_1","hash":"` + strings.Repeat("a", 64) + `"}`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := DecodeRecord(b)
		if err == nil && (r.KeyID == "" || len(r.Hash) != 64) {
			t.Fatalf("invariant broken: %+v", r)
		}
	})
}

// FuzzDecodeState checks that no stored state decodes to negative credits.
func FuzzDecodeState(f *testing.F) {
	f.Add([]byte(`{"credits":3,"windows":{"r":{"start":1,"count":2}}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		st, err := DecodeState(b)
		if err == nil && st.Credits != nil && *st.Credits < 0 {
			t.Fatal("negative credits decoded")
		}
	})
}
