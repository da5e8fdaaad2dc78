package ocr

import (
	"slices"
	"testing"

	"github.com/ocrstack/ocrstack/ocr-worker/internal/testimage"
	"github.com/stretchr/testify/require"
)

// TestSniff checks that each supported format is named from its magic
// bytes, and that look-alikes and other files are not.
func TestSniff(t *testing.T) {
	cases := []struct {
		name string
		data string
		want Format
	}{
		{"png", "\x89PNG\r\n\x1a\n....", FormatPNG},
		{"jpeg", "\xff\xd8\xff\xe0", FormatJPEG},
		{"gif87", "GIF87a", FormatGIF},
		{"gif89", "GIF89a...", FormatGIF},
		{"bmp", "BM" + string(make([]byte, 12)), FormatBMP},
		{"tiff little-endian", "II*\x00\x08\x00", FormatTIFF},
		{"tiff big-endian", "MM\x00*\x00\x00", FormatTIFF},
		{"webp", "RIFF\x10\x00\x00\x00WEBPVP8 ", FormatWebP},
		{"pgm", "P5\n640 480\n255\n", FormatPNM},
		{"pbm ascii", "P1 2 2 0 1 1 0", FormatPNM},
		{"jp2", "\x00\x00\x00\x0cjP  \r\n\x87\n\x00\x00", FormatJPEG2000},
		{"j2k codestream", "\xff\x4f\xff\x51\x00\x2f", FormatJPEG2000},
		{"empty", "", FormatUnknown},
		{"text", "hello, this is not an image", FormatUnknown},
		{"pdf", "%PDF-1.7\n", FormatPDF},
		{"heic", "\x00\x00\x00\x18ftypheic", FormatHEIF},
		{"avif", "\x00\x00\x00\x1cftypavif", FormatHEIF},
		{"mp4", "\x00\x00\x00\x18ftypisom", FormatUnknown},
		{"short bmp", "BM", FormatUnknown},
		{"bm in text", "BMW", FormatUnknown},
		{"riff not webp", "RIFF\x10\x00\x00\x00WAVEfmt ", FormatUnknown},
		{"short riff", "RIFF", FormatUnknown},
		{"pnm without space", "P5x", FormatUnknown},
		{"pam", "P7\nWIDTH 2\n", FormatUnknown},
		{"png prefix only", "\x89PNG", FormatUnknown},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			require.Equal(t, tc.want, Sniff([]byte(tc.data)))
		})
	}
}

// TestSniffEncoded checks Sniff against real encoder output.
func TestSniffEncoded(t *testing.T) {
	img := testimage.Render(t, "x")
	want := map[testimage.Format]Format{
		testimage.PNG: FormatPNG, testimage.JPEG: FormatJPEG, testimage.GIF: FormatGIF,
		testimage.BMP: FormatBMP, testimage.TIFF: FormatTIFF, testimage.PGM: FormatPNM,
	}
	for _, f := range testimage.Formats {
		t.Run(string(f), func(t *testing.T) {
			require.Equal(t, want[f], Sniff(testimage.Encode(t, img, f)))
		})
	}
}

// FuzzSniff checks that Sniff never panics, decides from the first 14
// bytes only (the longest header it needs), and that a named format stays
// named whatever follows those bytes.
func FuzzSniff(f *testing.F) {
	for _, seed := range []string{"\x89PNG\r\n\x1a\n", "\xff\xd8\xff", "GIF89a", "II*\x00", "MM\x00*",
		"RIFF\x00\x00\x00\x00WEBP", "P6\n", "BM\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00",
		"\x00\x00\x00\x0cjP  \r\n\x87\n", "\xff\x4f\xff\x51", "", "hello"} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		got := Sniff(data)
		head := data[:min(len(data), 14)]
		if again := Sniff(head); again != got {
			t.Fatalf("Sniff(%q) = %q but Sniff of its first 14 bytes = %q", data, got, again)
		}
		if got == FormatUnknown {
			return
		}
		longer := append(slices.Clone(data), "trailing bytes"...)
		if again := Sniff(longer); again != got {
			t.Fatalf("Sniff(%q) = %q but with more bytes after it = %q", data, got, again)
		}
	})
}
