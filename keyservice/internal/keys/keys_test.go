package keys

import (
	"bytes"
	"math/big"
	"strings"
	"testing"
)

// TestEncodeBase58 checks the encoding against math/big's base conversion,
// including leading zero bytes, which big.Int would drop, and that decoding
// gives the bytes back.
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
			if got, err := DecodeBase58(tc.want); err != nil || !bytes.Equal(got, tc.in) {
				t.Errorf("DecodeBase58(%q) = %x, %v; want %x", tc.want, got, err, tc.in)
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
	for _, bad := range []string{"0", "O", "I", "l", "ab_", "ä"} {
		if _, err := DecodeBase58(bad); err == nil {
			t.Errorf("DecodeBase58(%q) accepted a character outside the alphabet", bad)
		}
	}
}

// TestNew checks the key format: prefix_body, a body that passes the
// checksum, byteLength counting the random bytes only, and that two keys
// differ.
func TestNew(t *testing.T) {
	cases := []struct {
		name       string
		prefix     string
		byteLength int
		wantErr    bool
		wantPrefix string
		wantRandom int
	}{
		{"default length", "ocr", 0, false, "ocr_", 16},
		{"no prefix", "", 32, false, "", 32},
		{"longest", "sk", 255, false, "sk_", 255},
		{"too short", "ocr", 15, true, "", 0},
		{"too long", "ocr", 256, true, "", 0},
		{"bad prefix", "o_r", 16, true, "", 0},
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
			if !strings.HasPrefix(k, tc.wantPrefix) || len(k) > MaxKeyLength {
				t.Errorf("key %q lacks prefix %q or is too long", k, tc.wantPrefix)
			}
			if err := CheckSyntax(k); err != nil {
				t.Errorf("generated key fails CheckSyntax: %v", err)
			}
			raw, err := DecodeBase58(strings.TrimPrefix(k, tc.wantPrefix))
			if err != nil || len(raw) != tc.wantRandom+ChecksumLength {
				t.Errorf("body holds %d bytes (%v), want %d random + %d checksum", len(raw), err, tc.wantRandom, ChecksumLength)
			}
			k2, _ := New(tc.prefix, tc.byteLength)
			if k == k2 {
				t.Error("two generated keys are equal")
			}
		})
	}
}

// TestCheckSyntaxRejectsTypos checks that every single-character
// substitution, deletion and truncation of a key, and moving it to another
// prefix, is rejected without storage. Keys are built from fixed bytes, so
// the test is deterministic.
func TestCheckSyntaxRejectsTypos(t *testing.T) {
	alphabet := base58Alphabet + "_0OIl"
	for i := range 8 {
		random := bytes.Repeat([]byte{byte(i*37 + 1), byte(i)}, 8+i)
		prefix := []string{"ocr", "", "sk", "A1"}[i%4]
		key := fromRandom(prefix, random)
		if err := CheckSyntax(key); err != nil {
			t.Fatalf("valid key %q rejected: %v", key, err)
		}
		for pos := 0; pos < len(key); pos++ {
			for j := 0; j < len(alphabet); j++ {
				if alphabet[j] == key[pos] {
					continue
				}
				typo := key[:pos] + string(alphabet[j]) + key[pos+1:]
				if CheckSyntax(typo) == nil {
					t.Fatalf("typo %q of %q accepted", typo, key)
				}
			}
			if CheckSyntax(key[:pos]+key[pos+1:]) == nil {
				t.Fatalf("deletion at %d of %q accepted", pos, key)
			}
			if CheckSyntax(key[:pos]) == nil {
				t.Fatalf("truncation to %d of %q accepted", pos, key)
			}
		}
		if CheckSyntax("other_"+strings.TrimPrefix(key, prefix+"_")) == nil {
			t.Fatalf("key %q accepted under another prefix", key)
		}
	}
}

// TestStartAndSyntax checks the visible start, the shapes CheckSyntax refuses
// outright, hash comparison and prefix validation.
func TestStartAndSyntax(t *testing.T) {
	cases := []struct{ key, want string }{
		{"ocr_AbCdEfGh", "ocr_AbCd"}, {"Ab", "Ab"}, {"AbCdEf", "AbCd"},
	}
	for _, tc := range cases {
		if got := Start(tc.key); got != tc.want {
			t.Errorf("Start(%q) = %q, want %q", tc.key, got, tc.want)
		}
	}
	for _, bad := range []string{"", "ocr key", "ocr_ä", strings.Repeat("a", MaxKeyLength+1), "ocr_a\x00", "_abc", "a_b_c", "ocr_unknown"} {
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

// FuzzCheckSyntax checks that CheckSyntax never panics on any input, and that
// whatever it accepts is a key New could have produced: a valid prefix and a
// body that re-encodes to itself.
func FuzzCheckSyntax(f *testing.F) {
	f.Add(fromRandom("ocr", bytes.Repeat([]byte{7}, 16)))
	f.Add("ocr_1111111111111111111111111111")
	f.Add("_")
	f.Fuzz(func(t *testing.T, key string) {
		if CheckSyntax(key) != nil {
			return
		}
		prefix, body, found := strings.Cut(key, "_")
		if !found {
			prefix, body = "", key
		}
		raw, err := DecodeBase58(body)
		if err != nil || EncodeBase58(raw) != body || fromRandom(prefix, raw[:len(raw)-ChecksumLength]) != key {
			t.Fatalf("accepted %q, which New cannot produce", key)
		}
	})
}

// FuzzTypo builds a key from fuzzed bytes, changes one character, and checks
// the change is rejected.
func FuzzTypo(f *testing.F) {
	f.Add(bytes.Repeat([]byte{1}, 16), uint16(3), byte('x'))
	f.Add(bytes.Repeat([]byte{0}, 20), uint16(0), byte('2'))
	f.Fuzz(func(t *testing.T, random []byte, pos uint16, c byte) {
		if len(random) < MinByteLength || len(random) > MaxByteLength {
			return
		}
		key := fromRandom("ocr", random)
		i := int(pos) % len(key)
		if key[i] == c {
			return
		}
		typo := key[:i] + string([]byte{c}) + key[i+1:]
		if CheckSyntax(typo) == nil {
			t.Fatalf("typo %q of %q accepted", typo, key)
		}
	})
}

// BenchmarkCheckSyntax measures the syntax and checksum check of a default
// key, done before every verification's storage lookup.
func BenchmarkCheckSyntax(b *testing.B) {
	key := fromRandom("ocr", bytes.Repeat([]byte{9}, DefaultByteLength))
	b.ReportAllocs()
	for b.Loop() {
		if CheckSyntax(key) != nil {
			b.Fatal("rejected")
		}
	}
}
