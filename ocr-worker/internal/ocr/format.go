// Package ocr turns image bytes into text with Tesseract. It checks what it
// is given before Tesseract sees it (format by magic bytes, header
// dimensions) and drives Tesseract through internal/tess; with it and
// internal/tess, the only cgo in the worker.
//
// An Engine is not safe for concurrent use: Tesseract's API object holds the
// current image and results, so each goroutine owns one Engine.
package ocr

import "bytes"

// Format is an image container format recognised by its magic bytes.
type Format string

// The formats Leptonica (and so Tesseract) decodes on this platform.
const (
	FormatUnknown  Format = ""
	FormatPNG      Format = "png"
	FormatJPEG     Format = "jpeg"
	FormatGIF      Format = "gif"
	FormatBMP      Format = "bmp"
	FormatTIFF     Format = "tiff"
	FormatWebP     Format = "webp"
	FormatPNM      Format = "pnm"
	FormatJPEG2000 Format = "jpeg2000"
	// FormatPDF is read with poppler, not Leptonica: see Engine.Read.
	FormatPDF Format = "pdf"
	// FormatHEIF (HEIC, AVIF) is converted with libheif first: see heif.go.
	FormatHEIF Format = "heif"
)

var (
	magicPNG     = []byte("\x89PNG\r\n\x1a\n")
	magicJPEG    = []byte{0xff, 0xd8, 0xff}
	magicGIF87   = []byte("GIF87a")
	magicGIF89   = []byte("GIF89a")
	magicTIFFLE  = []byte("II*\x00")
	magicTIFFBE  = []byte("MM\x00*")
	magicJP2     = []byte("\x00\x00\x00\x0cjP  \r\n\x87\n")
	magicJ2K     = []byte{0xff, 0x4f, 0xff, 0x51}
	magicRIFF    = []byte("RIFF")
	magicWebP    = []byte("WEBP")
	magicBMP     = []byte("BM")
	magicPDF     = []byte("%PDF-")
	minSniffSize = 12
)

// Sniff names the format of data from its first bytes, or returns
// FormatUnknown. It looks at no more than the first 12 bytes and never
// fails: whether the rest is well formed is Inspect's job.
func Sniff(data []byte) Format {
	switch {
	case bytes.HasPrefix(data, magicPNG):
		return FormatPNG
	case bytes.HasPrefix(data, magicJPEG):
		return FormatJPEG
	case bytes.HasPrefix(data, magicGIF87), bytes.HasPrefix(data, magicGIF89):
		return FormatGIF
	case bytes.HasPrefix(data, magicTIFFLE), bytes.HasPrefix(data, magicTIFFBE):
		return FormatTIFF
	case bytes.HasPrefix(data, magicJP2), bytes.HasPrefix(data, magicJ2K):
		return FormatJPEG2000
	case len(data) >= minSniffSize && bytes.HasPrefix(data, magicRIFF) && bytes.Equal(data[8:12], magicWebP):
		return FormatWebP
	case bytes.HasPrefix(data, magicPDF):
		return FormatPDF
	case isHEIF(data):
		return FormatHEIF
	case isPNM(data):
		return FormatPNM
	case len(data) >= 14 && bytes.HasPrefix(data, magicBMP):
		// "BM" alone is common in text; a BMP file header is 14 bytes.
		return FormatBMP
	}
	return FormatUnknown
}

// isPNM matches the Netpbm magic numbers P1 to P6 followed by whitespace.
func isPNM(data []byte) bool {
	if len(data) < 3 || data[0] != 'P' || data[1] < '1' || data[1] > '6' {
		return false
	}
	switch data[2] {
	case ' ', '\t', '\n', '\r', '\v', '\f':
		return true
	}
	return false
}
