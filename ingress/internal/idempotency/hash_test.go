package idempotency

import (
	"bytes"
	"crypto/rand"
	"testing"
)

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

// TestRequestHashReader holds RequestHashReader, which hashes an image as
// it is read back from the object store, equal to RequestHash of the bytes,
// and refuses a reader holding fewer bytes than its size.
func TestRequestHashReader(t *testing.T) {
	fields := map[string][]string{"route": {"/upload"}, "languages": {"eng", "spa"}, "output": nil, "pages": {""}}
	for _, n := range []int{0, 1, 127, 128, 16_383, 16_384, 700_000} {
		img := make([]byte, n)
		_, _ = rand.Read(img)
		got, err := RequestHashReader(bytes.NewReader(img), int64(n), fields)
		if err != nil {
			t.Fatal(err)
		}
		if want := RequestHash(img, fields); got != want {
			t.Fatalf("%d bytes: %s, want %s", n, got, want)
		}
	}
	if _, err := RequestHashReader(bytes.NewReader([]byte("short")), 6, fields); err == nil {
		t.Fatal("an object shorter than its size hashed")
	}
}
