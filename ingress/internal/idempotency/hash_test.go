package idempotency

import "testing"

// TestRequestHash checks that RequestHash is canonical: equal requests
// hash alike however their fields are given, and requests differing in
// any byte, value boundary or value order do not.
func TestRequestHash(t *testing.T) {
	img := []byte("\x89PNG...")
	base := RequestHash(img, map[string][]string{"languages": {"eng", "spa"}, "psm": {"3"}})
	cases := []struct {
		name     string
		image    []byte
		fields   map[string][]string
		wantSame bool
	}{
		{"same request", img, map[string][]string{"psm": {"3"}, "languages": {"eng", "spa"}}, true},
		{"empty field as absent", img, map[string][]string{"languages": {"eng", "spa"}, "psm": {"3"}, "outputs": nil}, true},
		{"another image", []byte("\x89PNG..!"), map[string][]string{"languages": {"eng", "spa"}, "psm": {"3"}}, false},
		{"language order", img, map[string][]string{"languages": {"spa", "eng"}, "psm": {"3"}}, false},
		{"value boundary", img, map[string][]string{"languages": {"engspa"}, "psm": {"3"}}, false},
		{"image and field boundary", append(img, 3), map[string][]string{"languages": {"eng", "spa"}, "psm": {""}}, false},
		{"another option", img, map[string][]string{"languages": {"eng", "spa"}, "psm": {"3"}, "whitelist": {""}}, false},
		{"a field renamed", img, map[string][]string{"languages": {"eng", "spa"}, "ps": {"m3"}}, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := RequestHash(tc.image, tc.fields)
			if len(got) != 64 {
				t.Fatalf("hash %q is not 64 hex digits", got)
			}
			if (got == base) != tc.wantSame {
				t.Errorf("same hash = %v, want %v", got == base, tc.wantSame)
			}
		})
	}
}

// BenchmarkRequestHash hashes a 1 MiB image with typical options.
func BenchmarkRequestHash(b *testing.B) {
	img := make([]byte, 1<<20)
	fields := map[string][]string{"languages": {"eng"}, "psm": {"3"}, "outputs": {"words", "hocr"}}
	b.SetBytes(int64(len(img)))
	b.ReportAllocs()
	for b.Loop() {
		RequestHash(img, fields)
	}
}
