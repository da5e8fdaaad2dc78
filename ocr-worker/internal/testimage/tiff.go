package testimage

import (
	"bytes"
	"encoding/binary"
	"image"
	"testing"
)

// MultiPageTIFF writes pages as one uncompressed 8-bit grey TIFF with an
// image file directory per page, as a document scanner does (Go's encoder
// writes one page only).
func MultiPageTIFF(tb testing.TB, pages ...*image.Gray) []byte {
	tb.Helper()
	var out bytes.Buffer
	le := func(v any) { _ = binary.Write(&out, binary.LittleEndian, v) }
	out.WriteString("II")
	le(uint16(42))
	le(uint32(8)) // the first directory follows the header
	const entries = 9
	for i, p := range pages {
		w, h := p.Rect.Dx(), p.Rect.Dy()
		ifd := out.Len()
		pixels := ifd + 2 + entries*12 + 4
		next := 0
		if i < len(pages)-1 {
			next = pixels + w*h
		}
		le(uint16(entries))
		for _, e := range [entries][3]uint32{ // tag, type (3 SHORT, 4 LONG), value
			{256, 4, uint32(w)}, {257, 4, uint32(h)}, {258, 3, 8}, {259, 3, 1}, {262, 3, 1},
			{273, 4, uint32(pixels)}, {277, 3, 1}, {278, 4, uint32(h)}, {279, 4, uint32(w * h)},
		} {
			le(uint16(e[0]))
			le(uint16(e[1]))
			le(uint32(1))
			if e[1] == 3 {
				le(uint16(e[2]))
				le(uint16(0))
			} else {
				le(e[2])
			}
		}
		le(uint32(next))
		for y := range h {
			out.Write(p.Pix[y*p.Stride : y*p.Stride+w])
		}
	}
	return out.Bytes()
}
