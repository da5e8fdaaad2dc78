package events

import (
	"fmt"
	"unicode"
	"unicode/utf8"
)

// This file, jsonvalue.go and jsonscan.go are a JSON reader for one event
// object, written to accept and refuse exactly what json.Unmarshal does
// for the contracts event structs and to decode the same values; see the
// package doc for why it exists and how the differential fuzz tests keep
// it equal. Where encoding/json has a rule that is easy to get wrong, the
// comment names it.

// maxDepth is encoding/json's nesting limit (maxNestingDepth in its
// scanner): a document nested deeper is a syntax error.
const maxDepth = 10000

// slot is where a member's value goes: at most one field is set, none for
// a member the event type does not have (its value is read and dropped).
type slot struct {
	str  *string
	num  *int64
	list *[]string
}

// fields are the members of one event type.
type fields interface {
	// names lists the member names (the struct's json tags), in the order
	// encoding/json writes them.
	names() []string
	// slot returns the slot of names()[i].
	slot(i int) slot
}

// reader reads JSON documents into events. Its buffers are reused from
// one document to the next (the lines of a batch message).
//
// The strings of a document go into one allocation: their bytes are
// gathered in arena and each destination is recorded in pending; commit
// then makes one string of the arena and points every destination at its
// part. A destination written twice (a duplicate member) is recorded twice,
// and commit applies the records in order, so the later one wins as in
// encoding/json.
type reader struct {
	data  []byte
	pos   int
	depth int
	// buf holds a string that needed unescaping; reused from one string
	// to the next.
	buf     []byte
	arena   []byte
	pending []pendingString
	// elems gathers the elements of a fresh list (see listValue).
	elems []span
}

// span is arena[start:end].
type span struct{ start, end int }

// pendingString is a string to set at commit: *dst = arena[start:end].
type pendingString struct {
	dst *string
	span
}

// decodeObject reads data, one JSON document, into f as json.Unmarshal
// reads it into a struct: members are matched by exact name, else
// case-insensitively (as encoding/json folds them); unknown members are
// checked and dropped; a later duplicate wins; null leaves a string or
// number as it was and empties a list; a top-level null sets nothing. Any
// syntax error, nesting deeper than maxDepth, or value of the wrong type
// (a number for a string, a float or an integer beyond int64 for an
// integer, and so on) is an error wrapping ErrMalformed, where
// json.Unmarshal's error would be. On error, f's strings may be unset.
func (d *reader) decodeObject(data []byte, f fields) error {
	d.data, d.pos, d.depth = data, 0, 0
	if cap(d.arena) < len(data) { // a document's strings are shorter than it
		d.arena = make([]byte, 0, len(data))
	}
	if d.pending == nil {
		d.pending = make([]pendingString, 0, 16)
	}
	err := d.document(f)
	if err == nil {
		d.commit()
	}
	clear(d.pending) // hold no pointers into the batch
	d.pending = d.pending[:0]
	d.arena = d.arena[:0]
	d.data = nil
	return err
}

func (d *reader) document(f fields) error {
	d.space()
	if d.pos == len(d.data) {
		return d.fail("unexpected end of input")
	}
	switch d.data[d.pos] {
	case '{':
		if err := d.object(f); err != nil {
			return err
		}
	case 'n':
		if err := d.literal("null"); err != nil {
			return err
		}
	default:
		return d.fail("want an object")
	}
	d.space()
	if d.pos != len(d.data) {
		return d.fail("data after the top-level value")
	}
	return nil
}

// commit sets the pending strings, from one allocation.
func (d *reader) commit() {
	if len(d.pending) == 0 {
		return
	}
	all := string(d.arena)
	for _, p := range d.pending {
		if p.start == p.end {
			*p.dst = "" // no pointer into all
		} else {
			*p.dst = all[p.start:p.end]
		}
	}
	clear(d.pending)
	d.pending = d.pending[:0]
	d.arena = d.arena[:0]
}

// keep copies b, a string's value, into the arena.
func (d *reader) keep(b []byte) span {
	start := len(d.arena)
	d.arena = append(d.arena, b...)
	return span{start, len(d.arena)}
}

func (d *reader) fail(reason string) error {
	return fmt.Errorf("%w: offset %d: %s", ErrMalformed, d.pos, reason)
}

// space skips JSON whitespace, the four bytes encoding/json allows.
func (d *reader) space() {
	for d.pos < len(d.data) {
		switch d.data[d.pos] {
		case ' ', '\t', '\n', '\r':
			d.pos++
		default:
			return
		}
	}
}

// peek returns the next byte, 0 at the end (never valid there).
func (d *reader) peek() byte {
	if d.pos < len(d.data) {
		return d.data[d.pos]
	}
	return 0
}

// open enters an object or array at d.pos.
func (d *reader) open() error {
	d.depth++
	if d.depth > maxDepth {
		return d.fail("exceeded max depth")
	}
	d.pos++
	return nil
}

// object reads the object at d.pos into f.
func (d *reader) object(f fields) error {
	if err := d.open(); err != nil {
		return err
	}
	d.space()
	if d.peek() == '}' {
		d.pos++
		d.depth--
		return nil
	}
	next := 0 // the member expected next, when they come in names order
	for {
		d.space()
		if d.peek() != '"' {
			return d.fail("want a member name")
		}
		key, err := d.str()
		if err != nil {
			return err
		}
		s := f.slot(lookup(f.names(), key, &next))
		d.space()
		if d.peek() != ':' {
			return d.fail("want ':' after a member name")
		}
		d.pos++
		d.space()
		switch {
		case s.str != nil:
			err = d.stringValue(s.str)
		case s.num != nil:
			err = d.intValue(s.num)
		case s.list != nil:
			err = d.listValue(s.list)
		default:
			err = d.skip()
		}
		if err != nil {
			return err
		}
		d.space()
		switch d.peek() {
		case ',':
			d.pos++
		case '}':
			d.pos++
			d.depth--
			return nil
		default:
			return d.fail("want ',' or '}' after a member")
		}
	}
}

// lookup returns the index in names of key as encoding/json finds a
// struct field, or -1: the exact name first, else a name equal under its
// case folding. It tries names[*next] first, and on a match sets *next to
// the index after it, so members in the usual order cost one comparison.
func lookup(names []string, key []byte, next *int) int {
	i := *next
	if i >= len(names) || string(key) != names[i] {
		i = -1
		for j, name := range names {
			if string(key) == name {
				i = j
				break
			}
		}
	}
	if i < 0 {
		for j, name := range names {
			if foldEqual(key, name) {
				i = j
				break
			}
		}
	}
	if i >= 0 {
		*next = i + 1
	}
	return i
}

// foldEqual reports whether key and name, an ASCII name, are equal under
// encoding/json's folding (foldName in its fold.go): ASCII letters by
// case, other runes to the smallest rune of their Unicode fold orbit, so
// that "\u212a" (Kelvin sign) folds with "k" and "\u017f" (long s) with "s".
func foldEqual(key []byte, name string) bool {
	i := 0
	for k := 0; k < len(key); {
		var r rune
		if c := key[k]; c < utf8.RuneSelf {
			r = rune(upperASCII(c))
			k++
		} else {
			rr, n := utf8.DecodeRune(key[k:])
			r = foldRune(rr)
			k += n
		}
		if i == len(name) || r != rune(upperASCII(name[i])) {
			return false
		}
		i++
	}
	return i == len(name)
}

func upperASCII(c byte) byte {
	if 'a' <= c && c <= 'z' {
		return c - ('a' - 'A')
	}
	return c
}

// foldRune returns the smallest rune of r's fold orbit.
func foldRune(r rune) rune {
	for {
		r2 := unicode.SimpleFold(r)
		if r2 <= r {
			return r2
		}
		r = r2
	}
}
