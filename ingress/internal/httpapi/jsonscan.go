package httpapi

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"unicode/utf16"
	"unicode/utf8"
)

// The JSON tokens readJSONImage reads (jsonbody.go): whitespace, member
// names, values copied as they came, and strings unescaped as they arrive.

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
