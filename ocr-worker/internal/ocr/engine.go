package ocr

import (
	"bytes"
	"fmt"
	"image"
	"image/png"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/otiai10/gosseract/v2"
)

// Engine recognises text with one long-lived gosseract client. It is not
// safe for concurrent use; give each goroutine its own.
//
// Each recognition leaks the result text in C memory (gosseract never
// frees the string Tesseract returns): about the text's length plus 50
// bytes. Replacing the client does not reclaim it (measured: RSS grows
// faster when clients are recycled), so the engine keeps its client.
type Engine struct {
	client *gosseract.Client
	// langs are the languages the client is initialised for; nil after a
	// failed switch, so the next call switches again.
	langs []string
}

// New returns an Engine whose client is initialised for langs (which the
// caller has checked with CheckLanguages). It recognises a blank image once,
// so the models load here (60-80 ms, 15-25 MB) rather than during the first
// job, and a broken installation fails at start-up.
func New(langs []string) (*Engine, error) {
	quietLeptonica()
	e := &Engine{}
	if err := e.reset(langs); err != nil {
		return nil, err
	}
	return e, nil
}

// Recognize returns the text in img using langs, in order of preference. It
// switches the client's languages when they differ from the last call's
// (a model load, 60-80 ms). Errors wrap ErrUnsupportedMedia,
// ErrUnreadableImage or ErrImageTooLarge for bad input; any other error is
// an internal failure.
func (e *Engine) Recognize(img []byte, langs []string) (string, error) {
	return e.recognize(img, Options{Languages: langs})
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
	// Progress, when set, is called after each page of a multi-page
	// document with the pages done and the pages in all.
	Progress func(done, pages int)
}

func (o Options) progress(done, pages int) {
	if o.Progress != nil {
		o.Progress(done, pages)
	}
}

func (e *Engine) recognize(img []byte, o Options) (string, error) {
	h, err := Inspect(img)
	if err != nil {
		return "", err
	}
	switch h.Format {
	case FormatJPEG:
		if img, err = uprightJPEG(img); err != nil {
			return "", err
		}
	case FormatHEIF: // heif-convert applies the file's own rotation
		if img, err = heifToJPEG(img); err != nil {
			return "", err
		}
	}
	langs := o.Languages
	if e.client == nil {
		if err := e.reset(langs); err != nil {
			return "", err
		}
	}
	if !slices.Equal(langs, e.langs) {
		if err := e.switchLanguages(langs); err != nil {
			return "", err
		}
	}
	if o.PageSegMode != 0 || o.Whitelist != "" {
		if err := e.setOptions(strconv.Itoa(o.PageSegMode), o.Whitelist); err != nil {
			return "", err
		}
		defer func() {
			if err := e.setOptions(psmAuto, ""); err != nil {
				e.langs = nil // re-initialise before the next job rather than keep these
			}
		}()
	}
	// The client is initialised for langs, so Text only recognises.
	if err := e.client.SetImageFromBytes(img); err != nil {
		return "", fmt.Errorf("set image: %w", err)
	}
	// Every output call re-runs recognition: ask for the text once.
	text, err := e.client.Text()
	if (err != nil || strings.TrimSpace(text) == "") && !leptDecodes(img) {
		return "", fmt.Errorf("decode %d bytes: %w", len(img), ErrUnreadableImage)
	}
	if err != nil {
		return "", fmt.Errorf("recognize: %w", err)
	}
	if o.PageSegMode == 0 && o.Whitelist == "" && mayBeTurned(text, langs) {
		return e.readTurned(text)
	}
	return text, nil
}

// setOptions sets the page segmentation mode (psm, a number) and the
// character whitelist ("" for none) on the initialised client.
func (e *Engine) setOptions(psm, whitelist string) error {
	if psm == "0" {
		psm = psmAuto
	}
	if err := e.client.SetVariable("tessedit_pageseg_mode", psm); err != nil {
		return fmt.Errorf("set page segmentation mode %s: %w", psm, err)
	}
	if err := e.client.SetVariable("tessedit_char_whitelist", whitelist); err != nil {
		return fmt.Errorf("set whitelist: %w", err)
	}
	return nil
}

// Page segmentation modes, set through the variable: gosseract's setter is
// dropped when called before the client's first recognition, and the
// library's default (a single block) reads across the columns of a page.
const (
	psmAuto    = "3" // what the tesseract command uses
	psmAutoOSD = "1" // the same after orientation detection (osd model)
)

// readTurned reads the page again after Tesseract's orientation detection
// (which doubles the time of a page, so it runs only when the first reading
// looks like a turned page) and keeps the reading that looks more like
// text.
func (e *Engine) readTurned(upright string) (string, error) {
	if err := e.client.SetVariable("tessedit_pageseg_mode", psmAutoOSD); err != nil {
		return "", fmt.Errorf("enable orientation detection: %w", err)
	}
	turned, err := e.client.Text()
	if resetErr := e.client.SetVariable("tessedit_pageseg_mode", psmAuto); resetErr != nil {
		e.langs = nil // re-initialise before the next job rather than keep OSD on
	}
	if err != nil {
		return "", fmt.Errorf("recognize with orientation detection: %w", err)
	}
	a, _ := wordiness(upright)
	b, _ := wordiness(turned)
	if b > a+minWordinessGain {
		return turned, nil
	}
	return upright, nil
}

// Close frees the client. A later Recognize would create a new one.
func (e *Engine) Close() error {
	if e.client == nil {
		return nil
	}
	err := e.client.Close()
	e.client = nil
	return err
}

// initMu serialises every gosseract call that initialises a client
// (model load). gosseract's initialisation points the process's file
// descriptor 2 at /dev/null and back; two at once can leave it at
// /dev/null for good. The descriptor is process-wide, hence a package-level
// lock. Recognition itself runs in parallel.
var initMu sync.Mutex

// reset replaces the client with a fresh one, initialised for langs.
func (e *Engine) reset(langs []string) error {
	if err := e.Close(); err != nil {
		return fmt.Errorf("close client: %w", err)
	}
	c := gosseract.NewClient()
	// Applied when the client initialises, and kept across re-inits.
	if err := c.SetVariable("tessedit_pageseg_mode", psmAuto); err != nil {
		c.Close()
		return fmt.Errorf("set page segmentation: %w", err)
	}
	// Tesseract's diagnostics ("Estimating resolution as ...") would break
	// the JSON log stream on stderr.
	if err := c.DisableOutput(); err != nil {
		c.Close()
		return fmt.Errorf("disable tesseract output: %w", err)
	}
	if err := initialise(c, langs); err != nil {
		c.Close()
		return err
	}
	e.client, e.langs = c, slices.Clone(langs)
	return nil
}

// switchLanguages re-initialises the client for langs. On failure the
// engine is left needing a switch, so no later call initialises the client
// outside initMu.
func (e *Engine) switchLanguages(langs []string) error {
	e.langs = nil
	if err := initialise(e.client, langs); err != nil {
		return err
	}
	e.langs = slices.Clone(langs)
	return nil
}

// initialise loads langs into c, holding initMu, by recognising a blank
// image: gosseract initialises lazily, inside the first Text after a change.
func initialise(c *gosseract.Client, langs []string) error {
	initMu.Lock()
	defer initMu.Unlock()
	if err := c.SetLanguage(langs...); err != nil {
		return fmt.Errorf("set languages %v: %w", langs, err)
	}
	if err := c.SetImageFromBytes(blankPNG()); err != nil {
		return fmt.Errorf("set warm-up image: %w", err)
	}
	if _, err := c.Text(); err != nil {
		return fmt.Errorf("load models for %v: %w", langs, err)
	}
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
