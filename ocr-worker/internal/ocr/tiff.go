package ocr

import (
	"errors"
	"fmt"
)

// Leptonica, and so Tesseract, reads the first page of a TIFF only. A
// multi-page TIFF (a document scanner's usual output) is read page by page
// instead: tiffPageSizes walks its directories for every page's size, so
// no page is decoded before all are known to be within the limits, and
// leptTIFFPage decodes one page at a time.

// errNotTIFF means the directory chain could not be walked.
var errNotTIFF = errors.New("not a readable TIFF directory chain")

// tiffPageSizes returns the width and height of every page of a TIFF, in
// order, reading at most MaxPages+1 directories (more is ErrTooManyPages).
func tiffPageSizes(data []byte) ([][2]int, error) {
	order, ok := tiffByteOrder(data)
	if !ok {
		return nil, errNotTIFF
	}
	var sizes [][2]int
	seen := map[uint32]bool{}
	for off := order.Uint32(data[4:]); off != 0; {
		if seen[off] || int64(off)+2 > int64(len(data)) {
			return nil, errNotTIFF // a loop, or a directory past the end
		}
		seen[off] = true
		if len(sizes) == MaxPages {
			return nil, fmt.Errorf("more than %d pages: %w", MaxPages, ErrTooManyPages)
		}
		n := int(order.Uint16(data[off:]))
		end := int64(off) + 2 + int64(n)*12
		if end+4 > int64(len(data)) {
			return nil, errNotTIFF
		}
		var w, h int
		for i := range n {
			e := data[int64(off)+2+int64(i)*12:]
			var v int
			switch order.Uint16(e[2:]) {
			case 3: // SHORT
				v = int(order.Uint16(e[8:]))
			case 4: // LONG
				v = int(order.Uint32(e[8:]))
			default:
				continue
			}
			switch order.Uint16(e) {
			case 256:
				w = v
			case 257:
				h = v
			}
		}
		sizes = append(sizes, [2]int{w, h})
		off = order.Uint32(data[end:])
	}
	return sizes, nil
}

// readTIFF reads a multi-page TIFF whose page sizes are known, page by
// page.
func (e *Engine) readTIFF(data []byte, sizes [][2]int, o Options) (Document, error) {
	for i, s := range sizes {
		if s[0] < 1 || s[1] < 1 {
			return Document{}, fmt.Errorf("page %d: %w: %dx%d pixels", i+1, ErrUnreadableImage, s[0], s[1])
		}
		if uint64(s[0])*uint64(s[1]) > MaxPixels {
			return Document{}, fmt.Errorf("page %d of %dx%d pixels: %w", i+1, s[0], s[1], ErrImageTooLarge)
		}
	}
	pages, err := selected(len(sizes), o.Pages)
	if err != nil {
		return Document{}, err
	}
	c := collector{o: o, multi: true}
	for i, n := range pages {
		png, ok := leptTIFFPage(data, n-1)
		if !ok {
			return Document{}, fmt.Errorf("page %d: %w", n, ErrUnreadableImage)
		}
		r, err := e.recognize(png, n, o)
		if err != nil {
			return Document{}, fmt.Errorf("page %d: %w", n, err)
		}
		c.add(Page{Number: n, Text: r.Text}, r)
		o.progress(i+1, len(pages))
	}
	return c.done(), nil
}
