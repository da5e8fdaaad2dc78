package httpapi

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strings"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/gofiber/fiber/v2"
	"github.com/ocrstack/ocrstack/contracts"
	"github.com/ocrstack/ocrstack/ingress/internal/apierr"
)

// A JSON OCR request ({"imageBase64": "..."} on /uploadBase64, {"image":
// "..."} on /v1/ocr and /v1/jobs) is read as it arrives, never whole: the
// image member's string is unescaped and base64-decoded on the fly and the
// decoded image goes where a multipart file part goes (readImage: kept in
// memory up to contracts.InlineImageMax, else streamed to the Object
// Store), so a 20 MB image costs about one such buffer, not the body, its
// string and its decoding (100 MB) held at once. The other members are
// kept as they came, at most maxFormValue bytes of them, and decoded by
// encoding/json afterwards as before.
//
// What it accepts and refuses is what json.Unmarshal of the whole body
// followed by decodeBase64Image did, checked in this order: a malformed
// body (400), a missing image (400), an empty one (400), one too large
// (413, judged from the encoded length first, as before), then invalid
// base64 (400). Two differences: the image member given twice is refused
// (json.Unmarshal kept the last), and a data: URL's header before
// ";base64," may be at most maxDataURLHeader bytes.

// maxDataURLHeader bounds a data: URL's part before ";base64,".
const maxDataURLHeader = 1 << 10

// Errors of readJSONImage besides the body's, the store's and
// authorize's own.
var (
	// errJSONSyntax is a body that is not one JSON object, or has data
	// after it.
	errJSONSyntax = errors.New("malformed JSON body")
	// errImageNotString is the image member holding something other than
	// a string or null.
	errImageNotString = errors.New("the image member is not a string")
	// errImageTwice is the image member given twice.
	errImageTwice = errors.New("the image member is given twice")
	// errMembersTooLong is the members other than the image over
	// maxFormValue bytes.
	errMembersTooLong = errors.New("the members besides the image are too long")
	// errBase64 stops an image that is not base64 (the body is still
	// read to its end).
	errBase64 = errors.New("the image is not valid base64")
)

// jsonSpec says what readJSONImage keeps of a body.
type jsonSpec struct {
	// field names the image member, matched without regard to case as
	// encoding/json matches names.
	field string
	// maxImage, inline, object, store and authorize are readImage's (see
	// formSpec).
	maxImage  int64
	inline    int
	object    string
	store     imageStore
	authorize func(context.Context) error
}

// jsonForm is what readJSONImage kept of a body.
type jsonForm struct {
	// rest is the body's other members, as one JSON object.
	rest []byte
	// hasImage says the image member came with a string; encoded is the
	// string's length without whitespace (after a data: URL's header).
	hasImage bool
	encoded  int64
	// img is the decoded image; its size is maxImage+1 when it was over.
	img image
}

// readJSONImage reads a JSON object from body to its end. It returns what
// it kept even with an error, so that the caller can delete a stored image
// (form.img.ref). err is a body read error or a store error as it is, or
// errJSONSyntax, errImageNotString, errImageTwice or errMembersTooLong.
// imageErr, set only without err, is errBase64 or authorize's refusal:
// the caller checks the rest of the body first (see jsonImage).
func readJSONImage(ctx context.Context, body io.Reader, spec jsonSpec) (form jsonForm, imageErr, err error) {
	s := &jsonScanner{r: bufio.NewReaderSize(body, 32<<10)}
	var rest bytes.Buffer
	rest.WriteByte('{')
	seen := false
	err = func() error {
		if c, err := s.next(); err != nil {
			return err
		} else if c != '{' {
			return errJSONSyntax
		}
		c, err := s.next()
		if err != nil {
			return err
		}
		if c == '}' {
			return nil
		}
		for {
			if c != '"' {
				return errJSONSyntax
			}
			name, raw, err := s.key()
			if err != nil {
				return err
			}
			if c, err := s.next(); err != nil {
				return err
			} else if c != ':' {
				return errJSONSyntax
			}
			if strings.EqualFold(name, spec.field) {
				if seen {
					return errImageTwice
				}
				seen = true
				if form.hasImage, form.encoded, form.img, imageErr, err = s.image(ctx, spec); err != nil {
					return err
				}
			} else {
				if rest.Len() > 1 {
					rest.WriteByte(',')
				}
				rest.Write(raw)
				rest.WriteByte(':')
				if err := s.value(&rest); err != nil {
					return err
				}
				if rest.Len() > maxFormValue {
					return errMembersTooLong
				}
			}
			if c, err = s.next(); err != nil {
				return err
			}
			if c == '}' {
				return nil
			}
			if c != ',' {
				return errJSONSyntax
			}
			if c, err = s.next(); err != nil {
				return err
			}
		}
	}()
	if err == nil {
		// Nothing but white space may follow.
		if _, err = s.next(); err == io.EOF {
			err = nil
		} else if err == nil {
			err = errJSONSyntax
		}
	}
	if err == io.EOF || err == io.ErrUnexpectedEOF {
		err = errJSONSyntax
	}
	rest.WriteByte('}')
	form.rest = rest.Bytes()
	if err != nil {
		return form, nil, err
	}
	return form, imageErr, nil
}

// readJSON reads a JSON OCR request's body (see readJSONImage) whose
// image is the member field, the key's as readForm's. err is public: the
// body's (bodyError), or 400 INVALID_REQUEST saying the body must be shape
// (or what is wrong with it). The caller deletes a stored image that no
// job took (discardImage(&form.img)), then decodes form.rest and passes
// imageErr to jsonImage.
func (a *api) readJSON(c *fiber.Ctx, key, field, shape string) (form jsonForm, imageErr, err error) {
	body := c.Context().RequestBodyStream()
	if body == nil {
		body = bytes.NewReader(c.Request().Body())
	}
	body = &limitReader{r: body, max: int64(a.bodyLimit())}
	ctx, cancel := context.WithTimeout(context.Background(), storeTimeout)
	defer cancel()
	form, imageErr, err = readJSONImage(ctx, body, jsonSpec{field: field, maxImage: int64(a.cfg.MaxImageBytes),
		inline: contracts.InlineImageMax, object: newID("job"), store: a.cfg.Jobs, authorize: a.knownKey(key)})
	if err != nil && !errors.Is(err, errBodyTooLarge) {
		// fasthttp read a body whole before it was parsed: one past the
		// limit was a 413 however malformed.
		if _, rerr := io.Copy(io.Discard, body); errors.Is(rerr, errBodyTooLarge) {
			err = rerr
		}
	}
	switch {
	case err == nil:
		return form, imageErr, nil
	case errors.Is(err, errMembersTooLong):
		err = apierr.New(fiber.StatusBadRequest, apierr.InvalidRequest,
			fmt.Sprintf("The members besides %q must be at most %d KiB", field, maxFormValue>>10))
	case errors.Is(err, errImageTwice):
		err = apierr.New(fiber.StatusBadRequest, apierr.InvalidRequest, fmt.Sprintf("The member %q is given twice", field))
	case errors.Is(err, errJSONSyntax), errors.Is(err, errImageNotString):
		err = apierr.New(fiber.StatusBadRequest, apierr.InvalidRequest, "The body must be "+shape)
	default:
		a.discardImage(&form.img)
		err = a.bodyError(c, err)
	}
	return form, nil, err
}

// jsonImage is the image of a JSON OCR request whose other members were
// decoded: 400 MISSING_IMAGE without one, then EMPTY_IMAGE, 413
// IMAGE_TOO_LARGE, INVALID_BASE64 (or authorize's refusal, imageErr) in
// the order decodeBase64Image checked them.
func jsonImage(form *jsonForm, imageErr error, field string, maxBytes int) (*image, error) {
	switch {
	case !form.hasImage:
		return nil, apierr.New(fiber.StatusBadRequest, apierr.MissingImage, fmt.Sprintf("The member %q is missing", field))
	case form.encoded == 0:
		return nil, apierr.New(fiber.StatusBadRequest, apierr.EmptyImage, "The image is empty")
	case int64(base64.StdEncoding.DecodedLen(int(min(form.encoded, math.MaxInt32)))) > int64(maxBytes)+3,
		form.img.size > int64(maxBytes):
		return nil, apierr.New(fiber.StatusRequestEntityTooLarge, apierr.ImageTooLarge, "The image is larger than the limit of "+mib(maxBytes))
	case errors.Is(imageErr, errBase64):
		return nil, apierr.New(fiber.StatusBadRequest, apierr.InvalidBase64, field+" is not valid base64")
	case imageErr != nil:
		return nil, imageErr
	case form.img.size == 0: // only padding
		return nil, apierr.New(fiber.StatusBadRequest, apierr.EmptyImage, "The image is empty")
	}
	return &form.img, nil
}

// jsonScanner reads JSON tokens from r.
type jsonScanner struct {
	r *bufio.Reader
}

// next returns the next byte that is not white space.
func (s *jsonScanner) next() (byte, error) {
	for {
		c, err := s.r.ReadByte()
		if err != nil {
			return 0, err
		}
		switch c {
		case ' ', '\t', '\n', '\r':
			continue
		}
		return c, nil
	}
}

// key reads a member name whose opening quote was read: its value and
// its raw form, quotes included.
func (s *jsonScanner) key() (string, []byte, error) {
	raw := []byte{'"'}
	var name []byte
	str := &jsonString{r: s.r}
	buf := make([]byte, 256)
	for {
		n, err := str.Read(buf)
		name = append(name, buf[:n]...)
		if len(name) > maxFormValue {
			return "", nil, errMembersTooLong
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return "", nil, err
		}
	}
	// Encoded again: a valid name the way encoding/json reads it back.
	q, err := json.Marshal(string(name))
	if err != nil {
		return "", nil, errJSONSyntax
	}
	raw = append(raw[:0], q...)
	return string(name), raw, nil
}

// value copies one JSON value to w byte for byte, checking its structure
// only as far as finding its end takes; encoding/json checks it after.
func (s *jsonScanner) value(w *bytes.Buffer) error {
	c, err := s.next()
	if err != nil {
		return err
	}
	if c == '"' {
		return s.copyString(w)
	}
	w.WriteByte(c)
	if c != '{' && c != '[' {
		// A number or a literal: up to the next delimiter, left unread.
		for {
			b, err := s.r.Peek(1)
			if err != nil {
				return err
			}
			switch b[0] {
			case ',', '}', ']', ' ', '\t', '\n', '\r':
				return nil
			}
			w.WriteByte(b[0])
			_, _ = s.r.ReadByte()
			if w.Len() > maxFormValue {
				return errMembersTooLong
			}
		}
	}
	for depth := 1; depth > 0; {
		c, err := s.r.ReadByte()
		if err != nil {
			return err
		}
		switch c {
		case '"':
			if err := s.copyString(w); err != nil {
				return err
			}
			continue
		case '{', '[':
			depth++
		case '}', ']':
			depth--
		}
		w.WriteByte(c)
		if w.Len() > maxFormValue {
			return errMembersTooLong
		}
	}
	return nil
}

// copyString copies a string whose opening quote was read to w, quotes
// and escapes as they came.
func (s *jsonScanner) copyString(w *bytes.Buffer) error {
	w.WriteByte('"')
	for {
		c, err := s.r.ReadByte()
		if err != nil {
			return err
		}
		w.WriteByte(c)
		switch {
		case c == '"':
			return nil
		case c == '\\':
			e, err := s.r.ReadByte()
			if err != nil {
				return err
			}
			w.WriteByte(e)
		case c < 0x20:
			return errJSONSyntax
		}
		if w.Len() > maxFormValue {
			return errMembersTooLong
		}
	}
}

// image reads the image member's value: null (no image), or a string,
// decoded into an image by readImage. imageErr is errBase64 or
// authorize's refusal; err is the body's, the store's, or a malformed
// value's.
func (s *jsonScanner) image(ctx context.Context, spec jsonSpec) (has bool, encoded int64, img image, imageErr, err error) {
	c, err := s.next()
	if err != nil {
		return false, 0, image{}, nil, err
	}
	if c != '"' {
		var v bytes.Buffer
		_ = s.r.UnreadByte()
		if err := s.value(&v); err != nil {
			return false, 0, image{}, nil, err
		}
		if v.String() == "null" {
			return false, 0, image{}, nil, nil
		}
		return false, 0, image{}, nil, errImageNotString
	}
	src := &base64Source{s: &jsonString{r: s.r}}
	dec := base64.NewDecoder(base64.StdEncoding.WithPadding(base64.NoPadding), src)
	var refused error
	authorize := spec.authorize
	if authorize != nil {
		authorize = func(ctx context.Context) error {
			refused = spec.authorize(ctx)
			return refused
		}
	}
	img, err = readImage(ctx, dec, formSpec{maxImage: spec.maxImage, inline: spec.inline, object: spec.object,
		store: spec.store, authorize: authorize})
	var corrupt base64.CorruptInputError
	switch {
	case err == nil:
	case src.err != nil:
		err = src.err // the body's, or a malformed string
	case refused != nil && errors.Is(err, refused):
		imageErr, err = refused, nil
	case errors.Is(err, errBase64), errors.As(err, &corrupt):
		imageErr, err = errBase64, nil
	}
	if err == nil {
		// The rest of the string: counted, and checked to its end.
		err = src.drain()
	}
	if err == nil && src.invalid {
		imageErr = errBase64
	}
	return true, src.count, img, imageErr, err
}

// jsonString reads the value of a JSON string whose opening quote was
// read, unescaped, up to its closing quote (then io.EOF). A malformed
// string is errJSONSyntax, an early end io.ErrUnexpectedEOF.
type jsonString struct {
	r    *bufio.Reader
	done bool
	// err is the error returned, returned again by every later Read.
	err error
	// pending holds unescaped bytes not yet handed out.
	pending []byte
	buf     [utf8.UTFMax * 2]byte
}

func (j *jsonString) Read(p []byte) (int, error) {
	if j.err != nil {
		return 0, j.err
	}
	n, err := j.read(p)
	if err != nil {
		j.err = err
	}
	return n, err
}

func (j *jsonString) read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		if len(j.pending) > 0 {
			m := copy(p[n:], j.pending)
			j.pending = j.pending[m:]
			n += m
			continue
		}
		if j.done {
			break
		}
		// The bytes buffered up to the next quote, backslash or control
		// character go as they are.
		if avail := j.r.Buffered(); avail > 0 {
			buf, _ := j.r.Peek(avail)
			k := 0
			for k < len(buf) && k < len(p)-n && buf[k] != '"' && buf[k] != '\\' && buf[k] >= 0x20 {
				k++
			}
			if k > 0 {
				n += copy(p[n:], buf[:k])
				_, _ = j.r.Discard(k)
				continue
			}
		}
		c, err := j.r.ReadByte()
		if err == io.EOF {
			return n, io.ErrUnexpectedEOF
		}
		if err != nil {
			return n, err
		}
		switch {
		case c == '"':
			j.done = true
		case c == '\\':
			b, err := j.escape()
			if err != nil {
				return n, err
			}
			j.pending = b
		case c < 0x20:
			return n, errJSONSyntax
		default:
			p[n] = c
			n++
		}
	}
	if n == 0 && j.done {
		return 0, io.EOF
	}
	return n, nil
}

// escape reads an escape sequence after its backslash and returns what it
// stands for, UTF-8 encoded.
func (j *jsonString) escape() ([]byte, error) {
	e, err := j.r.ReadByte()
	if err != nil {
		return nil, eofUnexpected(err)
	}
	switch e {
	case '"', '\\', '/':
		j.buf[0] = e
	case 'b':
		j.buf[0] = '\b'
	case 'f':
		j.buf[0] = '\f'
	case 'n':
		j.buf[0] = '\n'
	case 'r':
		j.buf[0] = '\r'
	case 't':
		j.buf[0] = '\t'
	case 'u':
		r, err := j.hex4()
		if err != nil {
			return nil, err
		}
		if utf16.IsSurrogate(r) {
			// A pair makes one rune; a lone half is U+FFFD, as encoding/json has it.
			if next, err := j.r.Peek(2); err == nil && next[0] == '\\' && next[1] == 'u' {
				_, _ = j.r.Discard(2)
				r2, err := j.hex4()
				if err != nil {
					return nil, err
				}
				if dec := utf16.DecodeRune(r, r2); dec != utf8.RuneError {
					n := utf8.EncodeRune(j.buf[:], dec)
					return j.buf[:n], nil
				}
				n := utf8.EncodeRune(j.buf[:], utf8.RuneError)
				n += utf8.EncodeRune(j.buf[n:], r2)
				return j.buf[:n], nil
			}
			r = utf8.RuneError
		}
		n := utf8.EncodeRune(j.buf[:], r)
		return j.buf[:n], nil
	default:
		return nil, errJSONSyntax
	}
	return j.buf[:1], nil
}

// hex4 reads the four hex digits of a \u escape.
func (j *jsonString) hex4() (rune, error) {
	var r rune
	for range 4 {
		c, err := j.r.ReadByte()
		if err != nil {
			return 0, eofUnexpected(err)
		}
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c -= 'a' - 10
		case 'A' <= c && c <= 'F':
			c -= 'A' - 10
		default:
			return 0, errJSONSyntax
		}
		r = r<<4 | rune(c)
	}
	return r, nil
}

func eofUnexpected(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

// base64Source turns an image member's string into what a standard,
// unpadded base64 decoder reads, as decodeBase64Image did to the whole
// string: a data: URL's header dropped, white space dropped, the URL-safe
// alphabet read as the standard one (but not both in one image), padding
// only at the end. A string that breaks those rules is errBase64 (invalid
// is set) once its first offending byte is read; the rest is still read,
// by drain, and counted.
type base64Source struct {
	s *jsonString
	// err is the string's own error (the body's, or malformed JSON).
	err error
	// count is the encoded length: bytes other than white space, after a
	// data: URL's header, padding included.
	count int64
	// end is the string's last error: io.EOF at its end.
	end             error
	started         bool
	invalid, padded bool
	std, urlSafe    bool
	pending         []byte
	scratch         [4 << 10]byte
}

func (b *base64Source) Read(p []byte) (int, error) {
	if b.invalid {
		return 0, errBase64
	}
	if !b.started {
		b.started = true
		if err := b.header(); err != nil {
			return 0, err
		}
	}
	n := 0
	for n < len(p) {
		if len(b.pending) == 0 {
			if b.end != nil {
				if n > 0 {
					return n, nil
				}
				return 0, b.end
			}
			var m int
			m, b.end = b.s.Read(b.scratch[:])
			b.pending = b.scratch[:m]
			if b.end != nil && b.end != io.EOF {
				b.err = b.end
			}
			continue
		}
		for len(b.pending) > 0 && n < len(p) {
			c := b.pending[0]
			b.pending = b.pending[1:]
			if !b.take(c) {
				continue
			}
			if b.invalid {
				return n, errBase64
			}
			p[n] = c
			switch c {
			case '-':
				p[n] = '+'
			case '_':
				p[n] = '/'
			}
			n++
		}
	}
	return n, nil
}

// take counts c and says whether it goes to the decoder; it sets invalid
// on a byte base64 does not allow where it is.
func (b *base64Source) take(c byte) bool {
	switch c {
	case ' ', '\t', '\n', '\r':
		return false
	}
	b.count++
	if b.invalid {
		return false
	}
	switch {
	case c == '=':
		b.padded = true
		return false
	case b.padded:
	case 'A' <= c && c <= 'Z', 'a' <= c && c <= 'z', '0' <= c && c <= '9':
		return true
	case c == '+' || c == '/':
		b.std = true
		if !b.urlSafe {
			return true
		}
	case c == '-' || c == '_':
		b.urlSafe = true
		if !b.std {
			return true
		}
	}
	b.invalid = true
	return true
}

// header drops a data: URL's header, up to and with ";base64,", reading at
// most maxDataURLHeader bytes for it; what it read otherwise is left to
// be decoded.
func (b *base64Source) header() error {
	var head []byte
	var one [1]byte
	for len(head) < maxDataURLHeader+len(";base64,") {
		if h := string(head); !strings.HasPrefix(h, "data:") && !strings.HasPrefix("data:", h) {
			break // not a data: URL
		}
		if bytes.HasSuffix(head, []byte(";base64,")) {
			return nil // dropped
		}
		m, err := b.s.Read(one[:])
		if m == 1 {
			head = append(head, one[0])
			continue
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			b.err = err
			return err
		}
	}
	if bytes.HasPrefix(head, []byte("data:")) && bytes.HasSuffix(head, []byte(";base64,")) {
		return nil
	}
	b.pending = head // decoded as it is
	return nil
}

// drain reads the rest of the string, counting it, and returns the
// string's own error, if any.
func (b *base64Source) drain() error {
	if b.err != nil {
		return b.err
	}
	if !b.started {
		b.started = true
		if err := b.header(); err != nil {
			return err
		}
	}
	for {
		for _, c := range b.pending {
			b.take(c)
		}
		b.pending = nil
		if b.end == io.EOF {
			return nil
		}
		if b.end != nil {
			b.err = b.end
			return b.end
		}
		var m int
		m, b.end = b.s.Read(b.scratch[:])
		b.pending = b.scratch[:m]
	}
}
