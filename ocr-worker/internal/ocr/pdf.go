package ocr

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"unicode"
)

// PDFs are read with Debian's poppler-utils, page by page: a page whose text
// layer has text gives that text (exact, and no recognition), any other page
// is rendered at PDFDPI (lower for a page so large that would pass
// MaxPixels) and recognised.
const (
	// MaxPages bounds the pages of one document; more is ErrTooManyPages.
	MaxPages = 100
	// PDFDPI is the resolution scanned pages are rendered at: Tesseract's
	// sweet spot for body text.
	PDFDPI = 300
	// minLayerRunes is how much text a page's text layer needs to be used
	// rather than recognised (scanners often leave a stray character).
	minLayerRunes = 3
)

// ErrTooManyPages: a document has more than MaxPages pages.
var ErrTooManyPages = errors.New("too many pages")

// Page is one page of a multi-page document as read.
type Page struct {
	Number int
	Text   string
	// FromTextLayer reports that the text came from the PDF's text layer,
	// not from recognition.
	FromTextLayer bool
}

// Document is what Read returns: the text, and for a multi-page format the
// pages it is joined from (with a form feed between pages, as pdftotext
// does), plus the outputs Options asked for, over every recognised page.
type Document struct {
	Text  string
	Pages []Page
	// Words and Lines are in reading order, page after page.
	Words, Lines []Box
	// HOCR is a whole hOCR document; TSV has Tesseract's header row.
	HOCR, TSV string
}

// Read recognises img with the default options for langs.
func (e *Engine) Read(img []byte, langs []string) (Document, error) {
	return e.ReadWith(img, Options{Languages: langs})
}

// ReadWith recognises img: as one image, or page by page for a PDF or a
// multi-page TIFF.
func (e *Engine) ReadWith(img []byte, o Options) (Document, error) {
	switch Sniff(img) {
	case FormatPDF:
		return e.readPDF(img, o)
	case FormatTIFF:
		sizes, err := tiffPageSizes(img)
		if errors.Is(err, ErrTooManyPages) {
			return Document{}, err
		}
		if err == nil && len(sizes) > 1 {
			return e.readTIFF(img, sizes, o)
		}
		// One page, or a chain only Leptonica makes sense of: an image.
	}
	if _, err := selected(1, o.Pages); err != nil {
		return Document{}, err
	}
	r, err := e.recognize(img, 1, o)
	if err != nil {
		return Document{}, err
	}
	c := collector{o: o}
	c.add(Page{Number: 1, Text: r.Text}, r)
	return c.done(), nil
}

func (e *Engine) readPDF(data []byte, o Options) (Document, error) {
	dir, err := os.MkdirTemp("", "ocr-pdf-")
	if err != nil {
		return Document{}, fmt.Errorf("temp dir: %w", err)
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "in.pdf")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		return Document{}, fmt.Errorf("write pdf: %w", err)
	}
	sizes, err := pdfPageSizes(path)
	if err != nil {
		return Document{}, err
	}
	pages, err := selected(len(sizes), o.Pages)
	if err != nil {
		return Document{}, err
	}
	c := collector{o: o, multi: true}
	for i, n := range pages {
		p, r, err := e.readPDFPage(path, n, sizes[n-1], o)
		if err != nil {
			return Document{}, fmt.Errorf("page %d: %w", n, err)
		}
		c.add(p, r)
		o.progress(i+1, len(pages))
	}
	return c.done(), nil
}

// selected returns the page numbers to read of a document of n pages: all
// of them, or those of want, which must all be there (ErrNoSuchPage).
func selected(n int, want []int) ([]int, error) {
	if len(want) == 0 {
		out := make([]int, n)
		for i := range out {
			out[i] = i + 1
		}
		return out, nil
	}
	for _, p := range want {
		if p < 1 || p > n {
			return nil, &PageError{Page: p, Pages: n}
		}
	}
	return want, nil
}

func (e *Engine) readPDFPage(path string, n int, size pageSize, o Options) (Page, Reading, error) {
	page := strconv.Itoa(n)
	layer, err := runTool("pdftotext", "poppler-utils", "-f", page, "-l", page, "-enc", "UTF-8", path, "-")
	if err != nil {
		return Page{}, Reading{}, err
	}
	text := strings.TrimRight(string(layer), "\f\n ")
	if countLetters(text) >= minLayerRunes {
		return Page{Number: n, Text: text, FromTextLayer: true}, Reading{Text: text}, nil
	}
	png, err := runTool("pdftoppm", "poppler-utils", "-f", page, "-l", page, "-r", strconv.Itoa(size.dpi()), "-gray", "-png", path)
	if err != nil {
		return Page{}, Reading{}, err
	}
	r, err := e.recognize(png, n, o)
	if err != nil {
		return Page{}, Reading{}, err
	}
	return Page{Number: n, Text: r.Text}, r, nil
}

// pageSize is a page's size in points (1/72 inch).
type pageSize struct{ w, h float64 }

// dpi is the resolution to render the page at: PDFDPI, or less if the
// page would pass MaxPixels.
func (s pageSize) dpi() int {
	inches := s.w / 72 * s.h / 72
	if inches <= 0 {
		return PDFDPI
	}
	return max(1, min(PDFDPI, int(math.Sqrt(MaxPixels/inches))))
}

// pdfPageSizes asks pdfinfo for the page count and every page's size.
func pdfPageSizes(path string) ([]pageSize, error) {
	out, err := runTool("pdfinfo", "poppler-utils", path)
	if err != nil {
		return nil, err
	}
	pages := 0
	for line := range strings.Lines(string(out)) {
		if v, ok := strings.CutPrefix(line, "Pages:"); ok {
			pages, _ = strconv.Atoi(strings.TrimSpace(v))
		}
	}
	switch {
	case pages < 1:
		return nil, fmt.Errorf("%w: pdfinfo found no pages", ErrUnreadableImage)
	case pages > MaxPages:
		return nil, fmt.Errorf("%d pages: %w", pages, ErrTooManyPages)
	}
	out, err = runTool("pdfinfo", "poppler-utils", "-f", "1", "-l", strconv.Itoa(pages), path)
	if err != nil {
		return nil, err
	}
	sizes := make([]pageSize, pages)
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		// "Page    1 size:  612 x 792 pts (letter)"
		f := strings.Fields(sc.Text())
		if len(f) < 6 || f[0] != "Page" || f[2] != "size:" || f[4] != "x" {
			continue
		}
		n, err1 := strconv.Atoi(f[1])
		w, err2 := strconv.ParseFloat(f[3], 64)
		h, err3 := strconv.ParseFloat(f[5], 64)
		if err1 == nil && err2 == nil && err3 == nil && n >= 1 && n <= pages {
			sizes[n-1] = pageSize{w, h}
		}
	}
	return sizes, nil
}

func countLetters(s string) int {
	n := 0
	for _, r := range s {
		if unicode.IsLetter(r) || unicode.IsDigit(r) {
			n++
		}
	}
	return n
}
