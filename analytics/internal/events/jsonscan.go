package events

import (
	"unicode"
	"unicode/utf16"
	"unicode/utf8"
)

// The reader's lexical part: literals, numbers, strings, and values it
// checks and drops, each checked as encoding/json's scanner checks it.

// literal reads want, one of true, false and null.
func (d *reader) literal(want string) error {
	if len(d.data)-d.pos < len(want) || string(d.data[d.pos:d.pos+len(want)]) != want {
		return d.fail("invalid literal")
	}
	d.pos += len(want)
	return nil
}

// skip checks and drops any value.
func (d *reader) skip() error {
	switch c := d.peek(); {
	case c == '"':
		_, err := d.str()
		return err
	case c == '{':
		return d.skipContainer('}')
	case c == '[':
		return d.skipContainer(']')
	case c == 't':
		return d.literal("true")
	case c == 'f':
		return d.literal("false")
	case c == 'n':
		return d.literal("null")
	case c == '-' || '0' <= c && c <= '9':
		return d.number()
	}
	return d.fail("want a value")
}

// skipContainer checks and drops the object or array at d.pos, which
// closes with end.
func (d *reader) skipContainer(end byte) error {
	if err := d.open(); err != nil {
		return err
	}
	d.space()
	if d.peek() == end {
		d.pos++
		d.depth--
		return nil
	}
	for {
		d.space()
		if end == '}' {
			if d.peek() != '"' {
				return d.fail("want a member name")
			}
			if _, err := d.str(); err != nil {
				return err
			}
			d.space()
			if d.peek() != ':' {
				return d.fail("want ':' after a member name")
			}
			d.pos++
			d.space()
		}
		if err := d.skip(); err != nil {
			return err
		}
		d.space()
		switch d.peek() {
		case ',':
			d.pos++
		case end:
			d.pos++
			d.depth--
			return nil
		default:
			return d.fail("want ',' or the container's end")
		}
	}
}

// number checks a number: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
func (d *reader) number() error {
	if d.peek() == '-' {
		d.pos++
	}
	switch c := d.peek(); {
	case c == '0':
		d.pos++
	case '1' <= c && c <= '9':
		d.digits()
	default:
		return d.fail("want a digit")
	}
	if d.peek() == '.' {
		d.pos++
		if d.digits() == 0 {
			return d.fail("want a digit after '.'")
		}
	}
	if c := d.peek(); c == 'e' || c == 'E' {
		d.pos++
		if c := d.peek(); c == '+' || c == '-' {
			d.pos++
		}
		if d.digits() == 0 {
			return d.fail("want a digit in the exponent")
		}
	}
	return nil
}

// digits skips decimal digits and returns how many.
func (d *reader) digits() int {
	start := d.pos
	for d.pos < len(d.data) && '0' <= d.data[d.pos] && d.data[d.pos] <= '9' {
		d.pos++
	}
	return d.pos - start
}

// str reads the string at d.pos and returns its value: a slice of data
// when it has no escape and is valid UTF-8, else of d.buf, valid until the
// next call.
func (d *reader) str() ([]byte, error) {
	start := d.pos + 1
	for i := start; i < len(d.data); i++ {
		c := d.data[i]
		if c == '"' {
			d.pos = i + 1
			return d.data[start:i], nil
		}
		if c == '\\' || c < ' ' || c >= utf8.RuneSelf {
			return d.strSlow(start, i)
		}
	}
	d.pos = len(d.data)
	return nil, d.fail("unterminated string")
}

// strSlow finishes a string from i, start being just after its quote,
// unescaping it as encoding/json's unquote does: a \u escape of a
// surrogate half joins the next \u escape when the two make a pair and is
// otherwise U+FFFD (the next escape then stands alone), and each byte of
// invalid UTF-8 becomes U+FFFD.
func (d *reader) strSlow(start, i int) ([]byte, error) {
	b := append(d.buf[:0], d.data[start:i]...)
	for {
		if i >= len(d.data) {
			d.pos = i
			return nil, d.fail("unterminated string")
		}
		c := d.data[i]
		switch {
		case c == '"':
			d.pos = i + 1
			d.buf = b
			return b, nil
		case c < ' ':
			d.pos = i
			return nil, d.fail("control character in string")
		case c == '\\':
			if i+1 >= len(d.data) {
				d.pos = i + 1
				return nil, d.fail("unterminated string")
			}
			switch e := d.data[i+1]; e {
			case '"', '\\', '/':
				b = append(b, e)
			case 'b':
				b = append(b, '\b')
			case 'f':
				b = append(b, '\f')
			case 'n':
				b = append(b, '\n')
			case 'r':
				b = append(b, '\r')
			case 't':
				b = append(b, '\t')
			case 'u':
				r := hex4(d.data[i+2:])
				if r < 0 {
					d.pos = i
					return nil, d.fail("invalid \\u escape")
				}
				i += 6
				if utf16.IsSurrogate(r) {
					if len(d.data)-i >= 2 && d.data[i] == '\\' && d.data[i+1] == 'u' {
						if pair := utf16.DecodeRune(r, hex4(d.data[i+2:])); pair != unicode.ReplacementChar {
							b = utf8.AppendRune(b, pair)
							i += 6
							continue
						}
					}
					r = unicode.ReplacementChar
				}
				b = utf8.AppendRune(b, r)
				continue
			default:
				d.pos = i
				return nil, d.fail("invalid escape in string")
			}
			i += 2
		case c < utf8.RuneSelf:
			b = append(b, c)
			i++
		default:
			r, n := utf8.DecodeRune(d.data[i:])
			if r == utf8.RuneError && n == 1 {
				b = utf8.AppendRune(b, utf8.RuneError)
			} else {
				b = append(b, d.data[i:i+n]...)
			}
			i += n
		}
	}
}

// hex4 returns the value of the four hex digits b starts with, or -1.
func hex4(b []byte) rune {
	if len(b) < 4 {
		return -1
	}
	var r rune
	for _, c := range b[:4] {
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c = c - 'a' + 10
		case 'A' <= c && c <= 'F':
			c = c - 'A' + 10
		default:
			return -1
		}
		r = r*16 + rune(c)
	}
	return r
}
