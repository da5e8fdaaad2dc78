package httpapi

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"slices"
	"sync"

	"github.com/ocrstack/ocrstack/contracts"
	"github.com/ocrstack/ocrstack/ingress/internal/imagesniff"
)

// A multipart OCR request is read part by part as it arrives, never whole:
// the image's file part is kept in memory only up to
// contracts.InlineImageMax (it then rides inside the job message), and a
// larger one is streamed to the Object Store chunk by chunk while it is
// counted, so memory per request is about one such buffer whatever the
// upload's size. The parts are told apart as mime/multipart's ReadForm
// (fasthttp's form parser) does: a part with a filename is a file, one
// without is a text value; the first of each name counts.

// maxFormValue bounds one text field of a multipart OCR request, in bytes;
// the options are far shorter (a whitelist is at most 256 bytes).
const maxFormValue = 64 << 10

// Errors of readMultipart, besides the body's and the store's own.
var (
	// errImageTooLarge stops an image part past the limit.
	errImageTooLarge = errors.New("image part over the limit")
	// errBodyTooLarge stops a body past the limit (limitReader).
	errBodyTooLarge = errors.New("request body over the limit")
)

// fieldTooLongError is a text field longer than maxFormValue.
type fieldTooLongError struct{ name string }

func (e *fieldTooLongError) Error() string {
	return fmt.Sprintf("form field %q is longer than %d bytes", e.name, maxFormValue)
}

// imageStore is where an image too large for the job message is streamed
// (jobs.Submitter.StoreImage). When r fails, Store leaves nothing behind
// and returns r's error.
type imageStore interface {
	StoreImage(ctx context.Context, name string, r io.Reader) error
}

// formSpec says what readMultipart keeps of a form.
type formSpec struct {
	// field names the image's file part.
	field string
	// names are the text fields kept, the first value of each.
	names []string
	// maxImage is the largest image accepted, in bytes; a larger one is
	// counted to maxImage+1 and dropped.
	maxImage int64
	// inline is the largest image kept in memory, in bytes, at most
	// contracts.InlineImageMax (which it is but in tests).
	inline int
	// object is the name a large image is stored under.
	object string
	store  imageStore
	// authorize, when set, is asked once before a large image is stored;
	// an error refuses the image unstored (the part is read to its end)
	// and is returned.
	authorize func(context.Context) error
}

// multipartForm is what readMultipart kept of a form.
type multipartForm struct {
	// values holds the first value of each of formSpec.names sent.
	values map[string]string
	// hasFile says a file part named formSpec.field came; file is the
	// first such part.
	hasFile bool
	file    image
}

// headPool holds the buffers an image part is first read into: one
// byte more than contracts.InlineImageMax, to tell a small image from a
// large one.
var headPool = sync.Pool{New: func() any { b := make([]byte, contracts.InlineImageMax+1); return &b }}

// readMultipart reads a multipart/form-data body to its end. It returns
// what it kept even with an error, so that the caller can delete a stored
// image (form.file.ref). Errors are the body's (a malformed form, a read
// error, errBodyTooLarge), a *fieldTooLongError, or the store's.
func readMultipart(ctx context.Context, body io.Reader, boundary string, spec formSpec) (multipartForm, error) {
	form := multipartForm{values: map[string]string{}}
	mr := multipart.NewReader(body, boundary)
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			return form, nil
		}
		if err != nil {
			return form, err
		}
		name := p.FormName()
		switch _, seen := form.values[name]; {
		case name == "":
		case p.FileName() == "":
			if seen || !slices.Contains(spec.names, name) {
				break
			}
			v, err := io.ReadAll(io.LimitReader(p, maxFormValue+1))
			if err != nil {
				return form, err
			}
			if len(v) > maxFormValue {
				return form, &fieldTooLongError{name: name}
			}
			form.values[name] = string(v)
		case name == spec.field && !form.hasFile:
			form.hasFile = true
			if form.file, err = readImage(ctx, p, spec); err != nil {
				return form, err
			}
		}
		// NextPart skips what is left of a part unread.
	}
}

// readImage reads an image part: in memory when it is at most
// contracts.InlineImageMax bytes, else, when its first bytes are those of
// an image we read and it is within spec.maxImage, streamed to the store.
// Otherwise it is only counted (to spec.maxImage+1 at most), so that the
// request is refused after its other fields are read.
func readImage(ctx context.Context, part io.Reader, spec formSpec) (image, error) {
	buf := headPool.Get().(*[]byte)
	defer headPool.Put(buf)
	head := (*buf)[:spec.inline+1]
	n, err := readFull(part, head)
	switch {
	case err == io.EOF:
		return bytesImage(bytes.Clone(head[:n])), nil
	case err != nil:
		return image{}, err
	}
	img := image{format: imagesniff.Format(head)}
	rest := &limitReader{r: part, n: int64(n), max: spec.maxImage, err: errImageTooLarge}
	var refused error
	if img.format != "" && rest.n <= spec.maxImage && spec.authorize != nil {
		refused = spec.authorize(ctx)
	}
	if img.format == "" || rest.n > spec.maxImage || refused != nil {
		_, err := io.Copy(io.Discard, rest)
		img.size = rest.n
		if errors.Is(err, errImageTooLarge) {
			err = nil
		}
		if err == nil {
			err = refused
		}
		return img, err
	}
	err = spec.store.StoreImage(ctx, spec.object, &fullReader{r: io.MultiReader(bytes.NewReader(head), rest)})
	img.size = rest.n
	switch {
	case errors.Is(err, errImageTooLarge):
		return img, nil
	case err != nil:
		return img, err
	}
	img.ref = spec.object
	return img, nil
}

// fullReader fills each buffer it is given unless the source ends or
// fails: the Object Store makes one chunk of each Read, and a multipart
// part hands out a few KiB at a time.
type fullReader struct{ r io.Reader }

func (f *fullReader) Read(p []byte) (int, error) { return readFull(f.r, p) }

// readFull reads into p until it is full, r ends (io.EOF, with what came
// before it) or r fails. Unlike io.ReadFull it keeps a truncated body's
// io.ErrUnexpectedEOF apart from the end of a short part.
func readFull(r io.Reader, p []byte) (int, error) {
	n := 0
	for n < len(p) {
		m, err := r.Read(p[n:])
		n += m
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

// limitReader counts what it reads, past n bytes read before it, and
// fails with err (errBodyTooLarge when nil) once the total is over max.
type limitReader struct {
	r   io.Reader
	n   int64
	max int64
	err error
}

func (l *limitReader) Read(p []byte) (int, error) {
	over := l.err
	if over == nil {
		over = errBodyTooLarge
	}
	if l.n > l.max {
		return 0, over
	}
	n, err := l.r.Read(p)
	l.n += int64(n)
	if l.n > l.max {
		return n, over
	}
	return n, err
}
