package ocr

import (
	"encoding/binary"
	"hash/crc32"
	"testing"

	"github.com/ocrstack/ocrstack/ocr-worker/internal/testimage"
	"github.com/stretchr/testify/require"
)

// TestInspect checks that every image is judged from its header alone:
// supported, readable and at most MaxPixels, or refused with the error that
// names why.
func TestInspect(t *testing.T) {
	img := testimage.Render(t, "Inspect")
	w, h := img.Bounds().Dx(), img.Bounds().Dy()
	png := testimage.Encode(t, img, testimage.PNG)
	cases := []struct {
		name       string
		data       []byte
		wantFormat Format
		wantErr    error
	}{
		{"png", png, FormatPNG, nil},
		{"jpeg", testimage.Encode(t, img, testimage.JPEG), FormatJPEG, nil},
		{"gif", testimage.Encode(t, img, testimage.GIF), FormatGIF, nil},
		{"bmp", testimage.Encode(t, img, testimage.BMP), FormatBMP, nil},
		{"tiff", testimage.Encode(t, img, testimage.TIFF), FormatTIFF, nil},
		{"pgm via leptonica", testimage.Encode(t, img, testimage.PGM), FormatPNM, nil},
		{"text", []byte("these are not the pixels you are looking for"), "", ErrUnsupportedMedia},
		{"empty", nil, "", ErrUnsupportedMedia},
		{"pdf is a document, not an image (Engine.Read)", []byte("%PDF-1.7\n%\xe2\xe3\xcf\xd3\n"), "", ErrUnsupportedMedia},
		{"png cut inside its header", png[:20], "", ErrUnreadableImage},
		{"png with a bad header checksum", corruptPNGHeader(png), "", ErrUnreadableImage},
		{"jpeg magic only", []byte("\xff\xd8\xff\xe0\x00\x10JFIF"), "", ErrUnreadableImage},
		{"pgm with no size", []byte("P5\n# nothing\n"), "", ErrUnreadableImage},
		{"png of 10000x10000", pngWithSize(t, png, 10000, 10000), "", ErrImageTooLarge},
		{"png of 50 megapixels exactly", pngWithSize(t, png, 10000, 5000), FormatPNG, nil},
		{"pgm of 8000x8000", []byte("P5\n8000 8000\n255\n\x00\x00"), "", ErrImageTooLarge},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Inspect(tc.data)
			if tc.wantErr != nil {
				require.ErrorIs(t, err, tc.wantErr)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.wantFormat, got.Format)
			if tc.name == "png" {
				require.Equal(t, Header{Format: FormatPNG, Width: w, Height: h}, got)
			}
		})
	}
}

// pngWithSize rewrites the width and height in a PNG's IHDR chunk, with a
// valid checksum, leaving the pixel data as it was.
func pngWithSize(t *testing.T, png []byte, width, height uint32) []byte {
	t.Helper()
	out := append([]byte(nil), png...)
	// Signature (8), chunk length (4), "IHDR" (4), then width and height.
	require.Equal(t, "IHDR", string(out[12:16]))
	binary.BigEndian.PutUint32(out[16:], width)
	binary.BigEndian.PutUint32(out[20:], height)
	binary.BigEndian.PutUint32(out[29:], crc32.ChecksumIEEE(out[12:29]))
	return out
}

func corruptPNGHeader(png []byte) []byte {
	out := append([]byte(nil), png...)
	out[17] ^= 0xff
	return out
}
