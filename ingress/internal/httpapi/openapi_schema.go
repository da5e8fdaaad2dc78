package httpapi

import (
	"encoding"
	"encoding/json"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strings"
)

// schemaGen derives JSON Schemas from Go types the way encoding/json
// encodes them: exported fields by their json names, embedded structs
// flattened, a field without omitempty required, a pointer without
// omitempty nullable, and every struct an exact shape
// (additionalProperties: false). A slice without omitempty is documented
// as an array, not null: the handlers never send a nil one.
type schemaGen struct {
	// comps are the component schemas emitted so far, by name.
	comps map[string]*jsonSchema
	// names are the types emitted as components, referred to by $ref.
	names map[reflect.Type]string
	// enums are the values of string types whose values Go cannot list.
	enums map[reflect.Type][]any
	// problems are what the document could not describe: broken
	// invariants, which the tests require to be none.
	problems []string
}

var (
	rawMessageType    = reflect.TypeFor[json.RawMessage]()
	jsonMarshalerType = reflect.TypeFor[json.Marshaler]()
	textMarshalerType = reflect.TypeFor[encoding.TextMarshaler]()
)

// component names t, so that its schema is emitted once under name.
func (g *schemaGen) component(t reflect.Type, name string) {
	g.names[t] = name
}

// enum names the string type t as a component whose values are vals.
func (g *schemaGen) enum(t reflect.Type, name, description string, vals ...string) {
	g.names[t] = name
	g.enums[t] = anys(vals)
	g.comps[name] = &jsonSchema{Type: "string", Enum: g.enums[t], Description: description}
}

// of returns the schema of t: a $ref when t is a component.
func (g *schemaGen) of(t reflect.Type) *jsonSchema {
	if t.Kind() == reflect.Pointer {
		return g.of(t.Elem())
	}
	name, ok := g.names[t]
	if !ok {
		return g.inline(t)
	}
	if _, done := g.comps[name]; !done {
		g.comps[name] = &jsonSchema{} // a placeholder, should t refer to itself
		*g.comps[name] = *g.inline(t)
	}
	return ref(name)
}

// ofType is of for the type parameter.
func ofType[T any](g *schemaGen) *jsonSchema { return g.of(reflect.TypeFor[T]()) }

func (g *schemaGen) inline(t reflect.Type) *jsonSchema {
	switch {
	case t == rawMessageType:
		return &jsonSchema{Type: "object", Description: "Any JSON object."}
	case t.Implements(jsonMarshalerType) || reflect.PointerTo(t).Implements(jsonMarshalerType):
		return &jsonSchema{} // its own encoding: any JSON value
	case t.Implements(textMarshalerType) || reflect.PointerTo(t).Implements(textMarshalerType):
		return &jsonSchema{Type: "string"}
	}
	switch t.Kind() {
	case reflect.String:
		return &jsonSchema{Type: "string"}
	case reflect.Bool:
		return &jsonSchema{Type: "boolean"}
	case reflect.Int64:
		return &jsonSchema{Type: "integer", Format: "int64"}
	case reflect.Int, reflect.Int32, reflect.Uint32:
		return &jsonSchema{Type: "integer"}
	case reflect.Float64, reflect.Float32:
		return &jsonSchema{Type: "number"}
	case reflect.Slice:
		return &jsonSchema{Type: "array", Items: g.of(t.Elem())}
	case reflect.Map:
		return &jsonSchema{Type: "object", AdditionalProperties: g.of(t.Elem())}
	case reflect.Interface:
		return &jsonSchema{}
	case reflect.Struct:
		s := &jsonSchema{Type: "object", Properties: map[string]*jsonSchema{}, AdditionalProperties: false}
		g.fields(t, s)
		return s
	}
	g.problems = append(g.problems, fmt.Sprintf("no schema for the type %s", t))
	return &jsonSchema{}
}

// fields adds t's JSON members to s.
func (g *schemaGen) fields(t reflect.Type, s *jsonSchema) {
	for i := range t.NumField() {
		f := t.Field(i)
		tag := f.Tag.Get("json")
		name, opts, _ := strings.Cut(tag, ",")
		switch {
		case tag == "-":
			continue
		case f.Anonymous && name == "" && f.Type.Kind() == reflect.Struct:
			g.fields(f.Type, s)
			continue
		case !f.IsExported():
			continue
		case name == "":
			name = f.Name
		}
		omitempty := slices.Contains(strings.Split(opts, ","), "omitempty")
		p := g.of(f.Type)
		if f.Type.Kind() == reflect.Pointer && !omitempty {
			p = nullable(p)
		}
		s.Properties[name] = p
		if !omitempty {
			s.Required = append(s.Required, name)
		}
	}
}

// nullable returns s that also admits null.
func nullable(s *jsonSchema) *jsonSchema {
	if s.Ref != "" || s.Type == nil {
		return &jsonSchema{AnyOf: []*jsonSchema{s, {Type: "null"}}}
	}
	c := *s
	c.Type = []string{s.Type.(string), "null"}
	if c.Enum != nil {
		c.Enum = append(slices.Clone(c.Enum), nil)
	}
	return &c
}

// fromV2Schema renders a /v2 request schema, the one decodeBody checks
// requests with, as JSON Schema. An object that is not closed ignores
// unknown members, so additionalProperties is left open.
func fromV2Schema(s *schema) *jsonSchema {
	out := &jsonSchema{Type: kindNames[s.kind]}
	switch s.kind {
	case kindString:
		out.Enum = anys(s.enum)
		if s.minLen > 0 {
			out.MinLength = new(s.minLen)
		}
		if s.maxLen > 0 {
			out.MaxLength = new(s.maxLen)
		}
	case kindInt:
		out.Format, out.Minimum = "int64", new(s.min)
		if s.max != noMax {
			out.Maximum = new(s.max)
		}
	case kindObject:
		if s.props == nil {
			out.Description = "Any JSON object."
			if s.maxProps > 0 {
				out.MaxProperties = new(s.maxProps)
			}
			break
		}
		out.Properties = map[string]*jsonSchema{}
		for name, p := range s.props {
			out.Properties[name] = fromV2Schema(p)
		}
		out.Required = slices.Sorted(slices.Values(s.required))
		if s.closed {
			out.AdditionalProperties = false
		}
	case kindArray:
		out.Items = fromV2Schema(s.items)
		if s.minItems > 0 {
			out.MinItems = new(s.minItems)
		}
		if s.maxItems > 0 {
			out.MaxItems = new(s.maxItems)
		}
	}
	if s.nullable {
		out = nullable(out)
	}
	return out
}

// ref is a reference to the component schema name.
func ref(name string) *jsonSchema { return &jsonSchema{Ref: "#/components/schemas/" + name} }

// object is an exact object of the given members, all required but those
// marked optional.
func object(props map[string]*jsonSchema, optional ...string) *jsonSchema {
	s := &jsonSchema{Type: "object", Properties: props, AdditionalProperties: false}
	for _, name := range slices.Sorted(maps.Keys(props)) {
		if !slices.Contains(optional, name) {
			s.Required = append(s.Required, name)
		}
	}
	return s
}

// described returns s with a description.
func described(s *jsonSchema, description string) *jsonSchema {
	c := *s
	c.Description = description
	return &c
}

func anys[T any](vals []T) []any {
	if len(vals) == 0 {
		return nil
	}
	out := make([]any, len(vals))
	for i, v := range vals {
		out[i] = v
	}
	return out
}
