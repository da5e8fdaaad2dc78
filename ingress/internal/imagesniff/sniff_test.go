package imagesniff

import "testing"

func TestFormat(t *testing.T) {
	cases := []struct {
		name string
		in   string
		want string
	}{
		{"png", "\x89PNG\r\n\x1a\nrest", "png"},
		{"jpeg", "\xff\xd8\xff\xe0", "jpeg"},
		{"gif", "GIF89a...", "gif"},
		{"tiff little endian", "II*\x00", "tiff"},
		{"tiff big endian", "MM\x00*", "tiff"},
		{"webp", "RIFF\x00\x00\x00\x00WEBPVP8 ", "webp"},
		{"bmp", "BM" + string(make([]byte, 30)), "bmp"},
		{"pgm", "P5\n640 480\n255\n", "pnm"},
		{"text", "hello world", ""},
		{"empty", "", ""},
		{"short bmp-like", "BM", ""},
		{"pdf", "%PDF-1.7", "pdf"},
		{"heic", "\x00\x00\x00\x18ftypheic", "heif"},
		{"avif", "\x00\x00\x00\x1cftypavif", "heif"},
		{"mp4 is not an image", "\x00\x00\x00\x18ftypisom", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := Format([]byte(tc.in)); got != tc.want {
				t.Errorf("Format = %q, want %q", got, tc.want)
			}
		})
	}
}

// FuzzFormat checks that Format never panics and tells an image from its
// first HeadLen bytes alone, which is what a streamed upload is sniffed
// from.
func FuzzFormat(f *testing.F) {
	f.Add([]byte("\x89PNG\r\n\x1a\n"))
	f.Add([]byte("RIFF1234WEBP"))
	f.Add([]byte("BM" + string(make([]byte, 40))))
	f.Add([]byte("\x00\x00\x00\x18ftypheic and more bytes past the head"))
	f.Fuzz(func(t *testing.T, b []byte) {
		if head, whole := Format(b[:min(len(b), HeadLen)]), Format(b); head != whole {
			t.Fatalf("Format of the first %d bytes %q, of all %d %q", HeadLen, head, len(b), whole)
		}
	})
}
