package ocr

import (
	"bytes"
	"errors"
	"fmt"
	"image"
	"image/gif"
	"image/jpeg"
	"image/png"
	"io"

	"golang.org/x/image/bmp"
	"golang.org/x/image/tiff"
	"golang.org/x/image/webp"
)

// MaxPixels bounds width × height as declared by an image's header: 50
// megapixels, an A4 page at 600 dpi with room to spare. Leptonica decodes to
// 1-4 bytes per pixel, so a small file declaring a huge canvas (a
// decompression bomb) is refused before anything is decoded.
const MaxPixels = 50_000_000

// Header is what an image's header says about it.
type Header struct {
	Format Format
	// Width and Height are in pixels, both at least 1.
	Width, Height int
}

// Inspect checks data before Tesseract sees it: the format must be one
// Leptonica decodes (ErrUnsupportedMedia), the header must be well formed
// (ErrUnreadableImage), and the image at most MaxPixels (ErrImageTooLarge).
// Only the header is read. For the formats Go knows (PNG, JPEG, GIF, BMP,
// TIFF, WebP) Go's DecodeConfig reads it; for PNM and JPEG 2000, and for
// valid files using a feature Go lacks (such as a YCbCr TIFF), Leptonica's
// own header reader does.
func Inspect(data []byte) (Header, error) {
	f := Sniff(data)
	if f == FormatUnknown || f == FormatPDF { // a PDF is a document: Engine.Read
		return Header{}, ErrUnsupportedMedia
	}
	w, h, err := dimensions(f, data)
	if err != nil {
		return Header{}, fmt.Errorf("%s header: %w: %w", f, ErrUnreadableImage, err)
	}
	if w < 1 || h < 1 {
		return Header{}, fmt.Errorf("%s header: %w: %dx%d pixels", f, ErrUnreadableImage, w, h)
	}
	if uint64(w)*uint64(h) > MaxPixels {
		return Header{}, fmt.Errorf("%s of %dx%d pixels: %w", f, w, h, ErrImageTooLarge)
	}
	return Header{Format: f, Width: w, Height: h}, nil
}

var errNoHeader = errors.New("leptonica cannot read the header")

// goConfigDecoders read the header of the formats Go can decode.
var goConfigDecoders = map[Format]func(io.Reader) (image.Config, error){
	FormatPNG:  png.DecodeConfig,
	FormatJPEG: jpeg.DecodeConfig,
	FormatGIF:  gif.DecodeConfig,
	FormatBMP:  bmp.DecodeConfig,
	FormatTIFF: tiff.DecodeConfig,
	FormatWebP: webp.DecodeConfig,
}

func dimensions(f Format, data []byte) (width, height int, err error) {
	if f == FormatHEIF {
		return heifDimensions(data)
	}
	if decodeConfig, ok := goConfigDecoders[f]; ok {
		cfg, err := decodeConfig(bytes.NewReader(data))
		if !goLacksFeature(err) {
			return cfg.Width, cfg.Height, err
		}
	}
	w, h, ok := leptHeader(data)
	if !ok {
		return 0, 0, errNoHeader
	}
	return w, h, nil
}

// goLacksFeature reports whether a Go decoder refused a well-formed file
// because it does not implement one of the format's features.
func goLacksFeature(err error) bool {
	if err == nil {
		return false
	}
	var pngErr png.UnsupportedError
	var jpegErr jpeg.UnsupportedError
	var tiffErr tiff.UnsupportedError
	return errors.As(err, &pngErr) || errors.As(err, &jpegErr) || errors.As(err, &tiffErr) ||
		errors.Is(err, bmp.ErrUnsupported)
}
