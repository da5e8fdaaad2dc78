package events

import "math"

// The values the reader stores: strings, integers and lists of strings,
// each as encoding/json stores it into a field of that type.

// stringValue reads a string, or null (which keeps *dst), into dst at
// commit.
func (d *reader) stringValue(dst *string) error {
	switch d.peek() {
	case '"':
		b, err := d.str()
		if err != nil {
			return err
		}
		d.pending = append(d.pending, pendingString{dst, d.keep(b)})
		return nil
	case 'n':
		return d.literal("null")
	}
	return d.fail("want a string")
}

// intValue reads an integer in int64's range, or null (which keeps *dst),
// into dst. A number with a fraction or an exponent is refused even when
// integral ("1.0", "1e3"), as strconv.ParseInt refuses it for
// encoding/json.
func (d *reader) intValue(dst *int64) error {
	c := d.peek()
	if c == 'n' {
		return d.literal("null")
	}
	if c != '-' && (c < '0' || c > '9') {
		return d.fail("want an integer")
	}
	neg := c == '-'
	if neg {
		d.pos++
	}
	limit := uint64(math.MaxInt64)
	if neg {
		limit++
	}
	var n uint64
	over := false
	switch c := d.peek(); {
	case c == '0':
		d.pos++
	case '1' <= c && c <= '9':
		for d.pos < len(d.data) {
			c := d.data[d.pos]
			if c < '0' || c > '9' {
				break
			}
			digit := uint64(c - '0')
			if n > (limit-digit)/10 {
				over = true
			} else {
				n = n*10 + digit
			}
			d.pos++
		}
	default:
		return d.fail("want a digit")
	}
	switch d.peek() {
	case '.', 'e', 'E':
		return d.fail("want an integer, not a fraction or exponent")
	}
	if over {
		return d.fail("integer out of int64 range")
	}
	if neg {
		*dst = int64(-n) // -(MaxInt64+1) wraps to MinInt64 as wanted
	} else {
		*dst = int64(n)
	}
	return nil
}

// listValue reads an array of strings into dst as encoding/json reads one
// into a slice: it reuses dst's backing array (so after a duplicate
// member, a null element keeps what an earlier list left at its index,
// even past the current length but within capacity), grows it when full,
// an empty array makes an empty non-nil slice, and null makes nil.
//
// What an element reads depends only on what was last written at its
// index since the backing array was last dropped, not on the capacity
// (growth happens when the array is full and copies all of it), so a list
// into a slice without capacity (the usual case: the first member of its
// name) is gathered first and allocated at its exact length, its strings
// pending like the others. A list into a reused slice, rarer, commits the
// pending strings first, so that growth copies them, and sets its own at
// once.
func (d *reader) listValue(dst *[]string) error {
	switch d.peek() {
	case 'n':
		if err := d.literal("null"); err != nil {
			return err
		}
		*dst = nil
		return nil
	case '[':
	default:
		return d.fail("want an array of strings")
	}
	if err := d.open(); err != nil {
		return err
	}
	d.space()
	if d.peek() == ']' {
		d.pos++
		d.depth--
		*dst = []string{}
		return nil
	}
	if cap(*dst) == 0 {
		return d.freshList(dst)
	}
	d.commit()
	s := *dst
	i := 0
	for {
		d.space()
		switch {
		case i >= cap(s): // then len(s) == cap(s) == i
			s = append(s, "")
		case i >= len(s):
			s = s[:i+1]
		}
		switch d.peek() {
		case '"':
			b, err := d.str()
			if err != nil {
				return err
			}
			s[i] = string(b)
		case 'n':
			if err := d.literal("null"); err != nil {
				return err
			}
		default:
			return d.fail("want a string")
		}
		i++
		end, err := d.listNext()
		if err != nil {
			return err
		}
		if end {
			*dst = s[:i]
			return nil
		}
	}
}

// freshList reads the elements of a non-empty array into a new slice at
// dst; a null element is "".
func (d *reader) freshList(dst *[]string) error {
	d.elems = d.elems[:0]
	for {
		d.space()
		switch d.peek() {
		case '"':
			b, err := d.str()
			if err != nil {
				return err
			}
			d.elems = append(d.elems, d.keep(b))
		case 'n':
			if err := d.literal("null"); err != nil {
				return err
			}
			d.elems = append(d.elems, span{})
		default:
			return d.fail("want a string")
		}
		end, err := d.listNext()
		if err != nil {
			return err
		}
		if end {
			break
		}
	}
	s := make([]string, len(d.elems))
	for i, e := range d.elems {
		if e.start != e.end {
			d.pending = append(d.pending, pendingString{&s[i], e})
		}
	}
	*dst = s
	return nil
}

// listNext reads what follows an element: ',' (end false) or ']' (end
// true).
func (d *reader) listNext() (end bool, err error) {
	d.space()
	switch d.peek() {
	case ',':
		d.pos++
		return false, nil
	case ']':
		d.pos++
		d.depth--
		return true, nil
	}
	return false, d.fail("want ',' or ']' after an element")
}
