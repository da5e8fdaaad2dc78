package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"math"
	"slices"
	"strconv"
	"unicode/utf8"

	"github.com/gofiber/fiber/v2"
	"github.com/ocrstack/ocrstack/ingress/internal/apierr"
)

// maxV2Body bounds a /v2 request body; Unkey's requests are small JSON.
const maxV2Body = 1 << 20

// kind is the JSON type a schema node accepts.
type kind uint8

const (
	kindString kind = iota + 1
	kindInt
	kindBool
	kindObject
	kindArray
)

var kindNames = map[kind]string{kindString: "string", kindInt: "integer", kindBool: "boolean", kindObject: "object", kindArray: "array"}

// schema is the part of a JSON Schema (Unkey's OpenAPI request bodies) the
// /v2 routes need: type, nullability, required and known members, closed
// objects (additionalProperties: false), and length, range, size and enum
// limits. Patterns are left to keyservice, which owns the formats.
type schema struct {
	kind     kind
	nullable bool
	// Objects. props nil means free-form (meta): every member is kept.
	// Otherwise unknown members are refused when closed, dropped when not.
	props    map[string]*schema
	required []string
	closed   bool
	maxProps int
	// Arrays.
	items              *schema
	minItems, maxItems int
	// Strings, in characters; maxLen 0 means no limit.
	minLen, maxLen int
	// Integers.
	min, max int64
	enum     []string
}

func str(minLen, maxLen int) *schema {
	return &schema{kind: kindString, minLen: minLen, maxLen: maxLen}
}
func integer(lo, hi int64) *schema { return &schema{kind: kindInt, min: lo, max: hi} }
func boolean() *schema             { return &schema{kind: kindBool} }
func enum(vals ...string) *schema  { return &schema{kind: kindString, enum: vals} }
func meta() *schema                { return &schema{kind: kindObject, maxProps: 100} }
func array(items *schema, lo, hi int) *schema {
	return &schema{kind: kindArray, items: items, minItems: lo, maxItems: hi}
}

// closedObject is an object with additionalProperties: false.
func closedObject(required []string, props map[string]*schema) *schema {
	return &schema{kind: kindObject, props: props, required: required, closed: true}
}

// openObject is an object whose unknown members are ignored.
func openObject(required []string, props map[string]*schema) *schema {
	return &schema{kind: kindObject, props: props, required: required}
}

// orNull returns a copy of s that also accepts null.
func orNull(s *schema) *schema {
	c := *s
	c.nullable = true
	return &c
}

// decodeBody checks body against s and decodes it into dst. Every problem is
// reported at once as a 400 whose Fields name the members, in Unkey's
// location form ("body.credits.refill.amount"). Members unknown to an open
// object are dropped before dst sees them, so encoding/json's
// case-insensitive matching cannot let "KEYID" stand in for "keyId".
func decodeBody(body []byte, s *schema, dst any) error {
	if len(body) > maxV2Body {
		return apierr.New(fiber.StatusRequestEntityTooLarge, apierr.InvalidRequest, "The request body is larger than the limit of 1 MiB")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return invalid(apierr.FieldError{Location: "body", Message: "the request body is not valid JSON", Fix: "Send a JSON " + kindNames[s.kind]})
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return invalid(apierr.FieldError{Location: "body", Message: "the request body has data after the JSON value", Fix: "Send exactly one JSON " + kindNames[s.kind]})
	}
	var errs []apierr.FieldError
	clean := s.check(v, "body", &errs)
	if len(errs) > 0 {
		return invalid(errs...)
	}
	b, err := json.Marshal(clean)
	if err != nil {
		return fmt.Errorf("re-encode request: %w", err)
	}
	if err := json.Unmarshal(b, dst); err != nil {
		// The schema admits only what dst can hold; this is a broken invariant.
		return fmt.Errorf("decode checked request: %w", err)
	}
	return nil
}

// invalid is the 400 for a request that does not match its schema.
func invalid(fields ...apierr.FieldError) *apierr.Error {
	msg := "One or more fields failed validation"
	if len(fields) == 1 {
		msg = fields[0].Location + ": " + fields[0].Message
	}
	e := apierr.New(fiber.StatusBadRequest, apierr.InvalidRequest, msg)
	e.Fields = fields
	return e
}

// check validates v at loc, appends every problem to errs, and returns v
// without the members unknown to open objects.
func (s *schema) check(v any, loc string, errs *[]apierr.FieldError) any {
	fail := func(msg, fix string) { *errs = append(*errs, apierr.FieldError{Location: loc, Message: msg, Fix: fix}) }
	name := lastName(loc)
	if v == nil {
		if !s.nullable {
			fail("expected "+kindNames[s.kind]+", got null", typeFix(name, s.kind))
		}
		return nil
	}
	switch s.kind {
	case kindString:
		t, ok := v.(string)
		if !ok {
			fail("expected string, got "+jsonType(v), typeFix(name, kindString))
			return v
		}
		n := utf8.RuneCountInString(t)
		switch {
		case len(s.enum) > 0 && !slices.Contains(s.enum, t):
			fail(fmt.Sprintf("value must be one of %q", s.enum), "The '"+name+"' field must be one of the allowed values")
		case n < s.minLen:
			fail(fmt.Sprintf("minLength: got %d, want %d", n, s.minLen), "The '"+name+"' field value is too short")
		case s.maxLen > 0 && n > s.maxLen:
			fail(fmt.Sprintf("maxLength: got %d, want %d", n, s.maxLen), "The '"+name+"' field value is too long")
		}
	case kindInt:
		num, ok := v.(json.Number)
		i, err := strconv.ParseInt(string(num), 10, 64)
		switch {
		case !ok:
			fail("expected integer, got "+jsonType(v), typeFix(name, kindInt))
		case err != nil:
			fail("expected an integer of at most 64 bits, got "+string(num), "The '"+name+"' field must be a whole number")
		case i < s.min:
			fail(fmt.Sprintf("minimum: got %d, want %d", i, s.min), "The '"+name+"' field value is too small")
		case i > s.max:
			fail(fmt.Sprintf("maximum: got %d, want %d", i, s.max), "The '"+name+"' field value is too large")
		}
	case kindBool:
		if _, ok := v.(bool); !ok {
			fail("expected boolean, got "+jsonType(v), typeFix(name, kindBool))
		}
	case kindArray:
		a, ok := v.([]any)
		switch {
		case !ok:
			fail("expected array, got "+jsonType(v), typeFix(name, kindArray))
			return v
		case len(a) < s.minItems:
			fail(fmt.Sprintf("minItems: got %d, want %d", len(a), s.minItems), "The '"+name+"' array has too few items")
		case s.maxItems > 0 && len(a) > s.maxItems:
			fail(fmt.Sprintf("maxItems: got %d, want %d", len(a), s.maxItems), "The '"+name+"' array has too many items")
		}
		for i, item := range a {
			a[i] = s.items.check(item, loc+"["+strconv.Itoa(i)+"]", errs)
		}
	case kindObject:
		return s.checkObject(v, loc, fail, errs)
	}
	return v
}

func (s *schema) checkObject(v any, loc string, fail func(msg, fix string), errs *[]apierr.FieldError) any {
	o, ok := v.(map[string]any)
	if !ok {
		fail("expected object, got "+jsonType(v), typeFix(lastName(loc), kindObject))
		return v
	}
	if s.props == nil {
		if s.maxProps > 0 && len(o) > s.maxProps {
			fail(fmt.Sprintf("maxProperties: got %d, want %d", len(o), s.maxProps), "Use at most "+strconv.Itoa(s.maxProps)+" members")
		}
		return o
	}
	for _, r := range s.required {
		if _, ok := o[r]; !ok {
			*errs = append(*errs, apierr.FieldError{Location: loc + "." + r, Message: "missing property '" + r + "'", Fix: "Add the '" + r + "' field to your request body"})
		}
	}
	for _, k := range slices.Sorted(maps.Keys(o)) {
		sub, known := s.props[k]
		switch {
		case known:
			o[k] = sub.check(o[k], loc+"."+k, errs)
		case s.closed:
			*errs = append(*errs, apierr.FieldError{Location: loc + "." + k, Message: "additionalProperties '" + k + "' not allowed", Fix: "Remove the '" + k + "' field - it is not allowed"})
		default:
			delete(o, k)
		}
	}
	return o
}

func typeFix(name string, k kind) string {
	return "The '" + name + "' field must be of type " + kindNames[k]
}

// lastName is the member a location ends in: "body.credits.refill" -> "refill".
func lastName(loc string) string {
	for i := len(loc) - 1; i >= 0; i-- {
		if loc[i] == '.' {
			return loc[i+1:]
		}
	}
	return loc
}

func jsonType(v any) string {
	switch v.(type) {
	case string:
		return "string"
	case json.Number:
		return "number"
	case bool:
		return "boolean"
	case []any:
		return "array"
	case map[string]any:
		return "object"
	}
	return "null"
}

// noMax is an integer schema's upper bound when the spec sets none.
const noMax = math.MaxInt64
