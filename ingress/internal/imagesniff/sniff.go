// Package imagesniff tells an image's format from its first bytes, never from
// a file name or a Content-Type. The ingress uses it to refuse what is not an
// image before charging a key; the worker checks the image again in full.
package imagesniff

import "bytes"

// HeadLen is how many first bytes Format looks at, at most: Format of an
// image's first HeadLen bytes is Format of the whole image, so a streamed
// upload can be told before the rest of it is read.
const HeadLen = 32

// Format returns the format of b ("png", "jpeg", ..., "pdf"), or "" when b
// does not start like an image or document the platform reads. It reads
// at most b[:HeadLen].
func Format(b []byte) string {
	switch {
	case bytes.HasPrefix(b, []byte("\x89PNG\r\n\x1a\n")):
		return "png"
	case bytes.HasPrefix(b, []byte{0xff, 0xd8, 0xff}):
		return "jpeg"
	case bytes.HasPrefix(b, []byte("GIF87a")), bytes.HasPrefix(b, []byte("GIF89a")):
		return "gif"
	case bytes.HasPrefix(b, []byte("II*\x00")), bytes.HasPrefix(b, []byte("MM\x00*")):
		return "tiff"
	case len(b) >= 12 && bytes.Equal(b[:4], []byte("RIFF")) && bytes.Equal(b[8:12], []byte("WEBP")):
		return "webp"
	case bytes.HasPrefix(b, []byte("BM")) && len(b) >= 26:
		return "bmp"
	case bytes.HasPrefix(b, []byte("\x00\x00\x00\x0cjP  \r\n\x87\n")), bytes.HasPrefix(b, []byte{0xff, 0x4f, 0xff, 0x51}):
		return "jp2"
	case len(b) >= 3 && b[0] == 'P' && b[1] >= '1' && b[1] <= '6' && (b[2] == '\n' || b[2] == ' ' || b[2] == '\r' || b[2] == '\t'):
		return "pnm"
	case bytes.HasPrefix(b, []byte("%PDF-")):
		return "pdf" // a document, read page by page by the worker
	case len(b) >= 12 && string(b[4:8]) == "ftyp" && heifBrands[string(b[8:12])]:
		return "heif" // HEIC or AVIF: the worker converts it with libheif
	}
	return ""
}

// heifBrands are the ISO-BMFF brands of HEIF and AVIF images.
var heifBrands = map[string]bool{
	"heic": true, "heix": true, "hevc": true, "hevx": true, "heim": true, "heis": true,
	"mif1": true, "msf1": true, "avif": true, "avis": true,
}
