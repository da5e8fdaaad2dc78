// Package tess is a small binding to Tesseract's C API, for what gosseract
// cannot do:
//
//   - one recognition, then any number of outputs from it (gosseract sets
//     the image again before every output call, which makes Tesseract
//     recognise the page again);
//   - every string Tesseract returns is freed (gosseract leaks each one);
//   - a deadline Tesseract itself honours, so a recognition past it stops
//     using the CPU instead of running on in the background;
//   - errors that say what failed (an image Leptonica cannot decode, a
//     language that does not load).
//
// An API is not safe for concurrent use; give each goroutine its own.
package tess

// #cgo LDFLAGS: -ltesseract -lleptonica
// #include <stdlib.h>
// #include <leptonica/allheaders.h>
// #include <tesseract/capi.h>
import "C"

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"time"
	"unsafe"
)

// Errors of an API's methods.
var (
	// ErrDecode: Leptonica could not decode the image.
	ErrDecode = errors.New("leptonica could not decode the image")
	// ErrDeadline: the recognition passed its deadline and was stopped.
	ErrDeadline = errors.New("recognition deadline passed")
	// ErrNoImage: Recognize was called before SetImage.
	ErrNoImage = errors.New("no image set")
	// ErrClosed: the API was closed.
	ErrClosed = errors.New("api closed")
)

// API is one Tesseract instance with its models loaded.
type API struct {
	h *C.TessBaseAPI
	// pix is the image set, which Tesseract reads without owning it.
	pix *C.PIX
	// recognized says the current image has been recognised, so outputs
	// are read from that recognition.
	recognized bool
}

// New loads the models of langs ("eng+spa": the first is preferred) from
// Tesseract's default tessdata directory (TESSDATA_PREFIX when set).
// Tesseract's diagnostics go to debug_file (/dev/null) instead of stderr,
// where they would break a JSON log stream, and so do Leptonica's.
func New(langs string) (*API, error) {
	// Leptonica's own error lines would break the log stream too; decode
	// failures are reported through ErrDecode. Process-wide and idempotent.
	C.setMsgSeverity(C.L_SEVERITY_NONE)
	h := C.TessBaseAPICreate()
	if h == nil {
		return nil, errors.New("tesseract: create api failed")
	}
	lang := C.CString(langs)
	defer C.free(unsafe.Pointer(lang))
	names, values := cStrings("debug_file"), cStrings("/dev/null")
	defer freeCStrings(names)
	defer freeCStrings(values)
	// Init4 sets the variables before the models load, so loading is quiet.
	if C.TessBaseAPIInit4(h, nil, lang, C.OEM_DEFAULT, nil, 0, &names[0], &values[0], C.size_t(len(names)), C.FALSE) != 0 {
		C.TessBaseAPIDelete(h)
		return nil, fmt.Errorf("tesseract: load models for %q failed", langs)
	}
	return &API{h: h}, nil
}

// SetVariable sets a Tesseract parameter, such as tessedit_pageseg_mode.
// It applies to the next recognition.
func (a *API) SetVariable(name, value string) error {
	if a.h == nil {
		return ErrClosed
	}
	n, v := C.CString(name), C.CString(value)
	defer C.free(unsafe.Pointer(n))
	defer C.free(unsafe.Pointer(v))
	if C.TessBaseAPISetVariable(a.h, n, v) == C.FALSE {
		return fmt.Errorf("tesseract: set %s=%q: unknown parameter or bad value", name, value)
	}
	a.recognized = false
	return nil
}

// SetImage decodes img (any format Leptonica reads) and makes it the image
// the next Recognize reads. It wraps ErrDecode when Leptonica cannot decode
// it.
func (a *API) SetImage(img []byte) error {
	return a.SetImageScaled(img, 1)
}

// SetImageScaled is SetImage with the image enlarged scale times (linear
// interpolation; pixel replication for 1-bit images): tiny text reads
// better larger. Boxes, hOCR and TSV are then in the enlarged image's
// pixels.
func (a *API) SetImageScaled(img []byte, scale int) error {
	if a.h == nil {
		return ErrClosed
	}
	if len(img) == 0 {
		return fmt.Errorf("%w: no bytes", ErrDecode)
	}
	pix := C.pixReadMem((*C.l_uint8)(unsafe.Pointer(&img[0])), C.size_t(len(img)))
	if pix == nil {
		return fmt.Errorf("%w (%d bytes)", ErrDecode, len(img))
	}
	if scale > 1 {
		scaled := C.pixScale(pix, C.l_float32(scale), C.l_float32(scale))
		C.pixDestroy(&pix)
		if scaled == nil {
			return fmt.Errorf("tesseract: enlarge the image %d times failed", scale)
		}
		pix = scaled
	}
	a.clearImage()
	a.pix = pix
	C.TessBaseAPISetImage2(a.h, (*C.struct_Pix)(unsafe.Pointer(pix)))
	// An image without a resolution is estimated by Tesseract from its
	// text size, as the tesseract command does.
	return nil
}

// Size returns the width and height of the image set.
func (a *API) Size() (width, height int) {
	if a.pix == nil {
		return 0, 0
	}
	return int(C.pixGetWidth(a.pix)), int(C.pixGetHeight(a.pix))
}

// Recognize recognises the image set, stopping at deadline (none when
// zero): past it, Tesseract stops at the next word and Recognize wraps
// ErrDeadline. Outputs then come from this recognition until the image or
// a variable changes.
func (a *API) Recognize(deadline time.Time) error {
	if a.h == nil {
		return ErrClosed
	}
	if a.pix == nil {
		return ErrNoImage
	}
	var mon *C.ETEXT_DESC
	if !deadline.IsZero() {
		left := time.Until(deadline)
		if left <= 0 {
			return ErrDeadline
		}
		mon = C.TessMonitorCreate()
		defer C.TessMonitorDelete(mon)
		C.TessMonitorSetDeadlineMSecs(mon, C.int(min(left.Milliseconds()+1, math.MaxInt32)))
	}
	rc := C.TessBaseAPIRecognize(a.h, mon)
	if !deadline.IsZero() && !time.Now().Before(deadline) {
		a.recognized = false
		return fmt.Errorf("%w (stopped by tesseract)", ErrDeadline)
	}
	if rc != 0 {
		return fmt.Errorf("tesseract: recognition failed (%d)", int(rc))
	}
	a.recognized = true
	return nil
}

// MeanConfidence is the mean of the recognised words' confidences, 0 to
// 100 (0 when there are none).
func (a *API) MeanConfidence() (int, error) {
	if err := a.ready(); err != nil {
		return 0, err
	}
	return int(C.TessBaseAPIMeanTextConf(a.h)), nil
}

// Text is the recognised text, as the tesseract command prints it.
func (a *API) Text() (string, error) {
	if err := a.ready(); err != nil {
		return "", err
	}
	return takeText(C.TessBaseAPIGetUTF8Text(a.h)), nil
}

// HOCR is the recognition as an hOCR page: a div of class ocr_page, for
// page number page (from 1), without the document around it.
func (a *API) HOCR(page int) (string, error) {
	if err := a.ready(); err != nil {
		return "", err
	}
	return takeText(C.TessBaseAPIGetHOCRText(a.h, C.int(page-1))), nil
}

// TSV is the recognition as Tesseract's TSV rows, without the header row,
// for page number page (from 1).
func (a *API) TSV(page int) (string, error) {
	if err := a.ready(); err != nil {
		return "", err
	}
	return takeText(C.TessBaseAPIGetTsvText(a.h, C.int(page-1))), nil
}

// TSVHeader is the header row of Tesseract's TSV output.
const TSVHeader = "level\tpage_num\tblock_num\tpar_num\tline_num\tword_num\tleft\ttop\twidth\theight\tconf\ttext\n"

// Level is how much of the page a Box covers.
type Level int

// Levels of Boxes.
const (
	Block Level = C.RIL_BLOCK
	Line  Level = C.RIL_TEXTLINE
	Word  Level = C.RIL_WORD
)

// Box is a recognised block, line or word.
type Box struct {
	Text string
	// Confidence is from 0 to 100.
	Confidence float64
	// Left, Top, Right and Bottom are pixels of the image, from the top
	// left corner; Right and Bottom are exclusive.
	Left, Top, Right, Bottom int
}

// Boxes returns every block, line or word of the recognition, in
// Tesseract's reading order, leaving out those with no text (a block's
// text is its lines, a paragraph break a blank line).
func (a *API) Boxes(level Level) ([]Box, error) {
	if err := a.ready(); err != nil {
		return nil, err
	}
	it := C.TessBaseAPIGetIterator(a.h)
	if it == nil {
		return nil, nil // nothing was found on the page
	}
	defer C.TessResultIteratorDelete(it)
	lvl := C.TessPageIteratorLevel(level)
	page := C.TessResultIteratorGetPageIterator(it)
	var out []Box
	for {
		text := strings.TrimSpace(takeText(C.TessResultIteratorGetUTF8Text(it, lvl)))
		var l, t, r, b C.int
		if text != "" && C.TessPageIteratorBoundingBox(page, lvl, &l, &t, &r, &b) != C.FALSE {
			out = append(out, Box{
				Text:       text,
				Confidence: float64(C.TessResultIteratorConfidence(it, lvl)),
				Left:       int(l), Top: int(t), Right: int(r), Bottom: int(b),
			})
		}
		if C.TessResultIteratorNext(it, lvl) == C.FALSE {
			return out, nil
		}
	}
}

// Clear frees the image and the recognition, keeping the models.
func (a *API) Clear() {
	if a.h == nil {
		return
	}
	C.TessBaseAPIClear(a.h)
	a.clearImage()
}

// Close frees everything. The API cannot be used afterwards.
func (a *API) Close() {
	if a.h == nil {
		return
	}
	C.TessBaseAPIEnd(a.h)
	C.TessBaseAPIDelete(a.h)
	a.h = nil
	a.clearImage()
}

func (a *API) ready() error {
	switch {
	case a.h == nil:
		return ErrClosed
	case !a.recognized:
		return errors.New("tesseract: no recognition to read; call Recognize first")
	}
	return nil
}

func (a *API) clearImage() {
	a.recognized = false
	if a.pix != nil {
		C.pixDestroy(&a.pix)
		a.pix = nil
	}
}

// takeText copies a string Tesseract returned and frees it.
func takeText(p *C.char) string {
	if p == nil {
		return ""
	}
	defer C.TessDeleteText(p)
	return C.GoString(p)
}

func cStrings(ss ...string) []*C.char {
	out := make([]*C.char, len(ss))
	for i, s := range ss {
		out[i] = C.CString(s)
	}
	return out
}

func freeCStrings(ps []*C.char) {
	for _, p := range ps {
		C.free(unsafe.Pointer(p))
	}
}
