package ocr

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image"
	"image/png"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/ocrstack/ocrstack/ocr-worker/internal/tess"
)

// Engine recognises text with one long-lived Tesseract instance (our own
// binding, internal/tess: one recognition gives every output, and nothing
// it returns leaks). It is not safe for concurrent use; give each goroutine
// its own.
type Engine struct {
	api *tess.API
	// langs are the languages api has loaded; nil after a failed switch, so
	// the next call switches again.
	langs []string
}

// New returns an Engine whose models are loaded for langs (which the
// caller has checked with CheckLanguages). It recognises a blank image once,
// so the models load here (60-80 ms, 15-25 MB) rather than during the first
// job, and a broken installation fails at start-up.
func New(langs []string) (*Engine, error) {
	e := &Engine{}
	if err := e.load(langs); err != nil {
		return nil, err
	}
	return e, nil
}

// Recognize returns the text in img using langs, in order of preference. It
// switches the engine's languages when they differ from the last call's
// (a model load, 60-80 ms). Errors wrap ErrUnsupportedMedia,
// ErrUnreadableImage or ErrImageTooLarge for bad input; any other error is
// an internal failure.
func (e *Engine) Recognize(img []byte, langs []string) (string, error) {
	r, err := e.recognize(img, 1, Options{Languages: langs})
	return r.Text, err
}

// Options are a job's recognition settings.
type Options struct {
	// Languages, in order of preference, checked with CheckLanguages.
	Languages []string
	// PageSegMode is Tesseract's page segmentation mode; 0 is automatic,
	// with turned pages detected.
	PageSegMode int
	// Whitelist, when set, limits recognition to these characters.
	Whitelist string
	// Pages, when set, are the pages of a multi-page document to read
	// (ascending, from 1); a page the document lacks is ErrNoSuchPage.
	Pages []int
	// Orientation says when a page is read after Tesseract's orientation
	// detection (which doubles a page's time): OrientAuto, OrientAlways or
	// OrientNever. It applies with automatic page segmentation only.
	Orientation Orientation
	// Words, Lines, HOCR and TSV ask for those outputs besides the text;
	// all come from the same recognition.
	Words, Lines, HOCR, TSV bool
	// Deadline, when set, stops recognition: past it Tesseract stops at
	// the next word and the read fails with ErrDeadline.
	Deadline time.Time
	// Progress, when set, is called after each page of a multi-page
	// document with the pages done and the pages in all.
	Progress func(done, pages int)
}

// Orientation is when a page is read after orientation detection.
type Orientation int

// Orientations.
const (
	// OrientAuto reads a page again with orientation detection when its
	// first reading looks like a turned page's.
	OrientAuto Orientation = iota
	// OrientAlways reads every page with orientation detection.
	OrientAlways
	// OrientNever never detects orientation.
	OrientNever
)

// ErrNoSuchPage: Options.Pages names a page the document does not have.
// The error is a *PageError.
var ErrNoSuchPage = errors.New("no such page")

// PageError is page Page asked of a document of Pages pages.
type PageError struct{ Page, Pages int }

func (e *PageError) Error() string {
	return fmt.Sprintf("page %d of a document of %d page(s): %s", e.Page, e.Pages, ErrNoSuchPage)
}

func (e *PageError) Unwrap() error { return ErrNoSuchPage }

// ErrDeadline: a recognition passed Options.Deadline. It wraps
// context.DeadlineExceeded.
var ErrDeadline = fmt.Errorf("recognition stopped at its deadline: %w", context.DeadlineExceeded)

func (o Options) progress(done, pages int) {
	if o.Progress != nil {
		o.Progress(done, pages)
	}
}

// Reading is one recognised page: its text and the outputs asked for.
type Reading struct {
	Text         string
	Words, Lines []Box
	// HOCR is the page's ocr_page div; TSV its rows, without a header.
	HOCR, TSV string
	// conf is Tesseract's mean word confidence, 0 to 100.
	conf int
}

// Box is a recognised word or line on page Page (from 1).
type Box struct {
	Page int
	tess.Box
}

// recognize reads img as page number page (from 1) of its document.
func (e *Engine) recognize(img []byte, page int, o Options) (Reading, error) {
	h, err := Inspect(img)
	if err != nil {
		return Reading{}, err
	}
	switch h.Format {
	case FormatJPEG:
		if img, err = uprightJPEG(img); err != nil {
			return Reading{}, err
		}
	case FormatHEIF: // heif-convert applies the file's own rotation
		if img, err = heifToJPEG(img); err != nil {
			return Reading{}, err
		}
	}
	langs := o.Languages
	if e.api == nil || !slices.Equal(langs, e.langs) {
		if err := e.load(langs); err != nil {
			return Reading{}, err
		}
	}
	if err := e.api.SetImage(img); err != nil {
		if errors.Is(err, tess.ErrDecode) {
			return Reading{}, fmt.Errorf("decode %d bytes: %w", len(img), ErrUnreadableImage)
		}
		return Reading{}, fmt.Errorf("set image: %w", err)
	}
	defer e.api.Clear() // the page's pixels and results are not kept
	if o.PageSegMode != 0 || o.Whitelist != "" {
		if err := e.setOptions(strconv.Itoa(o.PageSegMode), o.Whitelist); err != nil {
			return Reading{}, err
		}
		defer func() {
			if err := e.setOptions(psmAuto, ""); err != nil {
				e.langs = nil // load again before the next job rather than keep these
			}
		}()
	}
	auto := o.PageSegMode == 0 && o.Whitelist == ""
	var r Reading
	if auto && o.Orientation == OrientAlways {
		r, err = e.readOSD(page, o)
	} else {
		r, err = e.read(page, o)
	}
	if err != nil {
		return Reading{}, err
	}
	if auto && o.Orientation == OrientAuto && mayBeTurned(r.Text, langs) {
		if r, err = e.readTurned(r, page, o); err != nil {
			return Reading{}, err
		}
	}
	if h.Width*h.Height <= tinyPixels && r.conf < tinyConfidence {
		return e.readEnlarged(img, r, page, o)
	}
	return r, nil
}

// A tiny image whose letters are a few pixels high loses them: Tesseract
// finds no text, or reads garbage, where the same image enlarged reads
// right. An image of at most tinyPixels whose reading is unsure (mean word
// confidence under tinyConfidence) is read again enlarged tinyScale times,
// and the surer reading kept, with its boxes in the original's pixels.
const (
	tinyPixels     = 300 * 300
	tinyConfidence = 80
	tinyScale      = 3
)

// readEnlarged reads img again enlarged tinyScale times and returns that
// reading if it is surer than first.
func (e *Engine) readEnlarged(img []byte, first Reading, page int, o Options) (Reading, error) {
	if err := e.api.SetImageScaled(img, tinyScale); err != nil {
		return Reading{}, fmt.Errorf("enlarge a tiny image: %w", err)
	}
	r, err := e.read(page, o)
	if err != nil {
		return Reading{}, err
	}
	if r.conf <= first.conf {
		return first, nil
	}
	shrink(&r, tinyScale)
	return r, nil
}

// read recognises the image set, once, and takes the outputs o asks for
// from that recognition.
func (e *Engine) read(page int, o Options) (Reading, error) {
	if err := e.api.Recognize(o.Deadline); err != nil {
		if errors.Is(err, tess.ErrDeadline) {
			return Reading{}, ErrDeadline
		}
		return Reading{}, fmt.Errorf("recognize: %w", err)
	}
	var r Reading
	var err error
	// The page's blocks in reading order (order.go); Tesseract's own text
	// when it found one block or none.
	blocks, err := e.api.Boxes(tess.Block)
	if err != nil {
		return Reading{}, err
	}
	text, ok := orderedText(blocks)
	if !ok {
		if text, err = e.api.Text(); err != nil {
			return Reading{}, err
		}
	}
	r.Text = text
	if r.conf, err = e.api.MeanConfidence(); err != nil {
		return Reading{}, err
	}
	boxes := func(l tess.Level) ([]Box, error) {
		bs, err := e.api.Boxes(l)
		out := make([]Box, len(bs))
		for i, b := range bs {
			out[i] = Box{Page: page, Box: b}
		}
		return out, err
	}
	if o.Words {
		if r.Words, err = boxes(tess.Word); err != nil {
			return Reading{}, err
		}
	}
	if o.Lines {
		if r.Lines, err = boxes(tess.Line); err != nil {
			return Reading{}, err
		}
	}
	if o.HOCR {
		if r.HOCR, err = e.api.HOCR(page); err != nil {
			return Reading{}, err
		}
	}
	if o.TSV {
		if r.TSV, err = e.api.TSV(page); err != nil {
			return Reading{}, err
		}
	}
	return r, nil
}

// setOptions sets the page segmentation mode (psm, a number) and the
// character whitelist ("" for none).
func (e *Engine) setOptions(psm, whitelist string) error {
	if psm == "0" {
		psm = psmAuto
	}
	if err := e.api.SetVariable("tessedit_pageseg_mode", psm); err != nil {
		return fmt.Errorf("set page segmentation mode %s: %w", psm, err)
	}
	if err := e.api.SetVariable("tessedit_char_whitelist", whitelist); err != nil {
		return fmt.Errorf("set whitelist: %w", err)
	}
	return nil
}

// Page segmentation modes. The library's default (a single block) reads
// across the columns of a page.
const (
	psmAuto    = "3" // what the tesseract command uses
	psmAutoOSD = "1" // the same after orientation detection (osd model)
)

// readTurned reads the page again after Tesseract's orientation detection
// (which doubles the time of a page, so it runs only when the first reading
// looks like a turned page) and keeps the reading that looks more like
// text.
func (e *Engine) readTurned(upright Reading, page int, o Options) (Reading, error) {
	turned, err := e.readOSD(page, o)
	if err != nil {
		return Reading{}, err
	}
	a, _ := wordiness(upright.Text)
	b, _ := wordiness(turned.Text)
	if b > a+minWordinessGain {
		return turned, nil
	}
	return upright, nil
}

// readOSD reads the image set after Tesseract's orientation detection.
func (e *Engine) readOSD(page int, o Options) (Reading, error) {
	if err := e.api.SetVariable("tessedit_pageseg_mode", psmAutoOSD); err != nil {
		return Reading{}, fmt.Errorf("enable orientation detection: %w", err)
	}
	r, err := e.read(page, o)
	if resetErr := e.api.SetVariable("tessedit_pageseg_mode", psmAuto); resetErr != nil {
		e.langs = nil // load again before the next job rather than keep OSD on
	}
	if err != nil {
		return Reading{}, fmt.Errorf("recognize with orientation detection: %w", err)
	}
	return r, nil
}

// Close frees the engine's Tesseract. A later Recognize would load a new
// one.
func (e *Engine) Close() error {
	if e.api != nil {
		e.api.Close()
		e.api = nil
	}
	return nil
}

// load replaces the engine's Tesseract with one for langs, warmed up on a
// blank image.
func (e *Engine) load(langs []string) error {
	e.Close()
	e.langs = nil
	api, err := tess.New(strings.Join(langs, "+"))
	if err != nil {
		return fmt.Errorf("load languages %v: %w", langs, err)
	}
	if err := api.SetVariable("tessedit_pageseg_mode", psmAuto); err != nil {
		api.Close()
		return err
	}
	if err := api.SetImage(blankPNG()); err != nil {
		api.Close()
		return fmt.Errorf("set warm-up image: %w", err)
	}
	if err := api.Recognize(time.Time{}); err != nil {
		api.Close()
		return fmt.Errorf("warm up %v: %w", langs, err)
	}
	api.Clear()
	e.api, e.langs = api, slices.Clone(langs)
	return nil
}

// blankPNG is a small white image for warming a client up.
func blankPNG() []byte {
	img := image.NewGray(image.Rect(0, 0, 16, 16))
	for i := range img.Pix {
		img.Pix[i] = 0xff
	}
	var buf bytes.Buffer
	_ = png.Encode(&buf, img) // writing to a bytes.Buffer cannot fail
	return buf.Bytes()
}
