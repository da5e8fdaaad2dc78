// Package testimage draws text into images for tests, so that tests of the
// OCR path need no image files: black Go Regular text on white, at a size
// Tesseract reads without error.
package testimage

import (
	"bytes"
	"fmt"
	"image"
	"image/draw"
	"image/gif"
	"image/jpeg"
	"image/png"
	"testing"

	"golang.org/x/image/bmp"
	"golang.org/x/image/font"
	"golang.org/x/image/font/gofont/goregular"
	"golang.org/x/image/font/opentype"
	"golang.org/x/image/math/fixed"
	"golang.org/x/image/tiff"
)

// Size is the font size in pixels, and Margin the white border in pixels.
const (
	Size   = 40
	Margin = 40
)

// Render draws lines of text, one below the other.
func Render(tb testing.TB, lines ...string) *image.Gray {
	tb.Helper()
	img, err := render(lines)
	if err != nil {
		tb.Fatal(err)
	}
	return img
}

func render(lines []string) (*image.Gray, error) {
	f, err := opentype.Parse(goregular.TTF)
	if err != nil {
		return nil, fmt.Errorf("parse font: %w", err)
	}
	face, err := opentype.NewFace(f, &opentype.FaceOptions{Size: Size, DPI: 72, Hinting: font.HintingFull})
	if err != nil {
		return nil, fmt.Errorf("font face: %w", err)
	}
	defer face.Close()

	m := face.Metrics()
	lineHeight := m.Height.Ceil()
	width := 1
	for _, l := range lines {
		width = max(width, font.MeasureString(face, l).Ceil())
	}
	img := image.NewGray(image.Rect(0, 0, width+2*Margin, len(lines)*lineHeight+2*Margin))
	draw.Draw(img, img.Bounds(), image.White, image.Point{}, draw.Src)
	d := font.Drawer{Dst: img, Src: image.Black, Face: face}
	for i, l := range lines {
		d.Dot = fixed.P(Margin, Margin+i*lineHeight+m.Ascent.Ceil())
		d.DrawString(l)
	}
	return img, nil
}

// PageLines are the phototest page's text, wrapped to fit 640 pixels.
var PageLines = []string{
	"This is a lot of 12 point",
	"text to test the ocr code",
	"and see if it works on all",
	"types of file format.",
	"The quick brown dog jumped",
	"over the lazy fox. The",
	"quick brown dog jumped",
	"over the lazy fox.",
}

// Page returns PageLines drawn on a white 640x480 page, as PNG: the page of
// the throughput benchmark and of cmd/ocrload, which has no testing.TB.
func Page() ([]byte, error) {
	img, err := render(PageLines)
	if err != nil {
		return nil, err
	}
	b := img.Bounds()
	page := image.NewGray(image.Rect(0, 0, max(640, b.Dx()), max(480, b.Dy())))
	draw.Draw(page, page.Bounds(), image.White, image.Point{}, draw.Src)
	draw.Draw(page, b, img, b.Min, draw.Src)
	var buf bytes.Buffer
	if err := png.Encode(&buf, page); err != nil {
		return nil, fmt.Errorf("encode page: %w", err)
	}
	return buf.Bytes(), nil
}

// Format names an encoding Encode can write.
type Format string

// Encodings Encode writes.
const (
	PNG  Format = "png"
	JPEG Format = "jpeg"
	GIF  Format = "gif"
	BMP  Format = "bmp"
	TIFF Format = "tiff"
	PGM  Format = "pgm"
)

// Formats lists every Format.
var Formats = []Format{PNG, JPEG, GIF, BMP, TIFF, PGM}

// Encode writes img in format f.
func Encode(tb testing.TB, img *image.Gray, f Format) []byte {
	tb.Helper()
	var buf bytes.Buffer
	var err error
	switch f {
	case PNG:
		err = png.Encode(&buf, img)
	case JPEG:
		err = jpeg.Encode(&buf, img, &jpeg.Options{Quality: 90})
	case GIF:
		err = gif.Encode(&buf, img, nil)
	case BMP:
		err = bmp.Encode(&buf, img)
	case TIFF:
		err = tiff.Encode(&buf, img, &tiff.Options{Compression: tiff.Deflate})
	case PGM:
		b := img.Bounds()
		fmt.Fprintf(&buf, "P5\n%d %d\n255\n", b.Dx(), b.Dy())
		for y := b.Min.Y; y < b.Max.Y; y++ {
			buf.Write(img.Pix[img.PixOffset(b.Min.X, y):img.PixOffset(b.Max.X, y)])
		}
	default:
		tb.Fatalf("unknown format %q", f)
	}
	if err != nil {
		tb.Fatalf("encode %s: %v", f, err)
	}
	return buf.Bytes()
}

// TextPNG renders lines and encodes them as PNG.
func TextPNG(tb testing.TB, lines ...string) []byte {
	tb.Helper()
	return Encode(tb, Render(tb, lines...), PNG)
}
