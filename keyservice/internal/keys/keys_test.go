package keys

import (
	"math/big"
	"strings"
	"testing"
)

// TestEncodeBase58 checks the encoding against math/big's base conversion,
// including leading zero bytes, which big.Int would drop.
func TestEncodeBase58(t *testing.T) {
	cases := []struct {
		name string
		in   []byte
		want string
	}{
		{"empty", nil, ""},
		{"zero", []byte{0}, "1"},
		{"leading zeros", []byte{0, 0, 1}, "112"},
		{"hello", []byte("hello world"), "StV1DL6CwTryKyV"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := EncodeBase58(tc.in); got != tc.want {
				t.Errorf("EncodeBase58(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
	for i := range 200 {
		b := []byte{byte(i), byte(i * 7), 0xff, byte(i * 13)}
		n := new(big.Int).SetBytes(b)
		var want strings.Builder
		for _, d := range n.Text(58) {
			want.WriteByte(base58Alphabet[strings.IndexRune("0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUV", d)])
		}
		w := want.String()
		for _, c := range b {
			if c != 0 {
				break
			}
			w = "1" + w
		}
		if got := EncodeBase58(b); got != w {
			t.Fatalf("EncodeBase58(%x) = %q, want %q", b, got, w)
		}
	}
}

// TestNew checks the key format: prefix_body, body of base58 characters, and
// that two keys differ.
func TestNew(t *testing.T) {
	cases := []struct {
		name       string
		prefix     string
		byteLength int
		wantErr    bool
		wantPrefix string
	}{
		{"default length", "ocr", 0, false, "ocr_"},
		{"no prefix", "", 32, false, ""},
		{"too short", "ocr", 15, true, ""},
		{"too long", "ocr", 256, true, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			k, err := New(tc.prefix, tc.byteLength)
			if (err != nil) != tc.wantErr {
				t.Fatalf("New error = %v, wantErr %v", err, tc.wantErr)
			}
			if err != nil {
				return
			}
			if !strings.HasPrefix(k, tc.wantPrefix) {
				t.Errorf("key %q lacks prefix %q", k, tc.wantPrefix)
			}
			if err := CheckSyntax(k); err != nil {
				t.Errorf("generated key fails CheckSyntax: %v", err)
			}
			k2, _ := New(tc.prefix, tc.byteLength)
			if k == k2 {
				t.Error("two generated keys are equal")
			}
		})
	}
}

func TestStartAndSyntax(t *testing.T) {
	if got := Start("ocr_AbCdEfGh"); got != "ocr_AbCd" {
		t.Errorf("Start = %q", got)
	}
	if got := Start("Ab"); got != "Ab" {
		t.Errorf("Start of short key = %q", got)
	}
	for _, bad := range []string{"", "ocr key", "ocr_ä", strings.Repeat("a", MaxKeyLength+1), "ocr_a\x00"} {
		if CheckSyntax(bad) == nil {
			t.Errorf("CheckSyntax(%q) accepted a malformed key", bad)
		}
	}
	if !HashEqual(Hash("a"), Hash("a")) || HashEqual(Hash("a"), Hash("b")) {
		t.Error("HashEqual disagrees with equality")
	}
	if ValidPrefix("ocr_") || ValidPrefix(strings.Repeat("a", 17)) || !ValidPrefix("sk") {
		t.Error("ValidPrefix wrong")
	}
}
