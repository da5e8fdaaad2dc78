package httpapi

import (
	"bytes"
	"io"
	"strings"
)

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
