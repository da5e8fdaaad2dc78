package httpapi

import (
	"bytes"
	"cmp"
	_ "embed"
	"fmt"
	"html/template"
	"maps"
	"slices"
	"strings"
	"sync"

	"github.com/gofiber/fiber/v2"
)

// GET /docs is the OpenAPI document as a plain web page, rendered once
// with html/template: no script, nothing fetched from elsewhere.

//go:embed docs.html.tmpl
var docsSource string

var docsTemplate = template.Must(template.New("docs").Parse(docsSource))

// docsHandler serves the page, rendered once, on the first request:
// rendering takes milliseconds, which New should not spend on every app
// the tests make.
func (a *api) docsHandler() fiber.Handler {
	page := sync.OnceValue(func() []byte {
		var buf bytes.Buffer
		if err := docsTemplate.Execute(&buf, newDocsPage(buildOpenAPI(a.cfg))); err != nil {
			panic(fmt.Sprintf("docs: render the page: %v", err)) // a broken invariant: the template and its data are ours
		}
		return buf.Bytes()
	})
	return func(c *fiber.Ctx) error {
		c.Set(fiber.HeaderContentType, fiber.MIMETextHTMLCharsetUTF8)
		return c.Send(page())
	}
}

// docsPage is what the template shows.
type docsPage struct {
	Title, Version, OpenAPI string
	Paragraphs              []string
	Groups                  []docsGroup
	Reasons                 []oaReason
	Headers                 []docsField
	Schemas                 []docsSchema
}

type docsGroup struct {
	Name, Description string
	Routes            []docsRoute
}

type docsRoute struct {
	Method, Path, Anchor, Summary, Description, Security string
	// Headers are those of every response; a response lists its others.
	Headers   []string
	Params    []docsField
	Bodies    []docsBody
	Responses []docsResponse
}

// docsField is a member, parameter or header: its type links to the
// schema it names, if any.
type docsField struct {
	Name, In, Type, Link, Description string
	Required                          bool
}

type docsBody struct {
	MediaType, Type, Link string
	Fields                []docsField
}

type docsResponse struct {
	Status, Description, MediaType, Type, Link string
	Headers                                    []string
	Reasons                                    []string
}

type docsSchema struct {
	Name, Description, Type string
	Enum                    []string
	Fields                  []docsField
}

// newDocsPage lays the document out for the page.
func newDocsPage(doc *openAPIDoc) docsPage {
	c := doc.Components
	p := docsPage{Title: doc.Info.Title, Version: doc.Info.Version, OpenAPI: doc.OpenAPI,
		Paragraphs: strings.Split(doc.Info.Description, "\n\n"), Reasons: c.Schemas["ErrorReason"].Reasons}
	for _, tag := range doc.Tags {
		g := docsGroup{Name: tag.Name, Description: tag.Description}
		for _, rt := range doc.routes {
			if rt.Op.Tags[0] == tag.Name {
				g.Routes = append(g.Routes, newDocsRoute(doc, rt))
			}
		}
		p.Groups = append(p.Groups, g)
	}
	for _, name := range slices.Sorted(maps.Keys(c.Headers)) {
		h := c.Headers[name]
		typ, _ := typeName(h.Schema)
		p.Headers = append(p.Headers, docsField{Name: name, Type: typ, Description: h.Description})
	}
	for _, name := range slices.Sorted(maps.Keys(c.Schemas)) {
		s := c.Schemas[name]
		typ, _ := typeName(s)
		ds := docsSchema{Name: name, Description: s.Description, Type: typ, Fields: fieldsOf(doc, s)}
		for _, v := range s.Enum {
			ds.Enum = append(ds.Enum, fmt.Sprint(v))
		}
		p.Schemas = append(p.Schemas, ds)
	}
	return p
}

func newDocsRoute(doc *openAPIDoc, rt oaRoute) docsRoute {
	op := rt.Op
	r := docsRoute{Method: rt.Method, Path: rt.Path, Anchor: "op-" + op.OperationID, Summary: op.Summary, Description: op.Description}
	for _, sec := range op.Security {
		for name := range sec {
			r.Security = name + ": " + doc.Components.SecuritySchemes[name].Description
		}
	}
	for _, prm := range op.Parameters {
		if prm.Ref != "" {
			prm = doc.Components.Parameters[strings.TrimPrefix(prm.Ref, "#/components/parameters/")]
		}
		typ, link := typeName(prm.Schema)
		r.Params = append(r.Params, docsField{Name: prm.Name, In: prm.In, Type: typ, Link: link,
			Required: prm.Required, Description: withConstraints(prm.Description, prm.Schema)})
	}
	if rb := op.RequestBody; rb != nil {
		if rb.Ref != "" {
			rb = doc.Components.RequestBodies[strings.TrimPrefix(rb.Ref, "#/components/requestBodies/")]
		}
		for _, mt := range slices.Sorted(maps.Keys(rb.Content)) {
			s := rb.Content[mt].Schema
			typ, link := typeName(s)
			r.Bodies = append(r.Bodies, docsBody{MediaType: mt, Type: typ, Link: link, Fields: fieldsOf(doc, s)})
		}
	}
	for _, status := range slices.Sorted(maps.Keys(op.Responses)) {
		resp := op.Responses[status]
		dr := docsResponse{Status: status, Description: resp.Description, Headers: slices.Sorted(maps.Keys(resp.Headers))}
		for _, reason := range resp.Reasons {
			dr.Reasons = append(dr.Reasons, string(reason))
		}
		for mt, m := range resp.Content {
			dr.MediaType = mt
			dr.Type, dr.Link = typeName(m.Schema)
		}
		r.Responses = append(r.Responses, dr)
	}
	if len(r.Responses) > 1 {
		r.Headers = r.Responses[0].Headers
		for _, dr := range r.Responses[1:] {
			r.Headers = slices.DeleteFunc(slices.Clone(r.Headers), func(h string) bool { return !slices.Contains(dr.Headers, h) })
		}
		for i := range r.Responses {
			r.Responses[i].Headers = slices.DeleteFunc(r.Responses[i].Headers, func(h string) bool { return slices.Contains(r.Headers, h) })
		}
	}
	return r
}

// fieldsOf lists the members of an object schema, or of an array's items,
// following a reference; nil for anything else.
func fieldsOf(doc *openAPIDoc, s *jsonSchema) []docsField {
	for s != nil && (s.Ref != "" || s.Type == "array") {
		if s.Ref != "" {
			s = doc.Components.Schemas[strings.TrimPrefix(s.Ref, "#/components/schemas/")]
		} else {
			s = s.Items
		}
	}
	if s == nil {
		return nil
	}
	var out []docsField
	for _, name := range slices.Sorted(maps.Keys(s.Properties)) {
		m := s.Properties[name]
		typ, link := typeName(m)
		out = append(out, docsField{Name: name, Type: typ, Link: link, Required: slices.Contains(s.Required, name),
			Description: withConstraints(m.Description, m)})
	}
	return out
}

// typeName names a schema's type for a reader, and the anchor of the
// component it refers to, if any.
func typeName(s *jsonSchema) (name, link string) {
	switch {
	case s == nil:
		return "any", ""
	case s.Ref != "":
		name = strings.TrimPrefix(s.Ref, "#/components/schemas/")
		return name, "#schema-" + name
	case len(s.AnyOf) > 0:
		names := make([]string, len(s.AnyOf))
		for i, alt := range s.AnyOf {
			var l string
			names[i], l = typeName(alt)
			link = cmp.Or(link, l)
		}
		return strings.Join(names, " | "), link
	case s.Type == "array":
		name, link = typeName(s.Items)
		return name + "[]", link
	case s.Type == "object" && s.AdditionalProperties != nil && s.AdditionalProperties != false:
		name, link = typeName(s.AdditionalProperties.(*jsonSchema))
		return "map of " + name, link
	case s.Type == nil:
		return "any", ""
	}
	if ts, ok := s.Type.([]string); ok {
		return strings.Join(ts, " | "), ""
	}
	name = s.Type.(string)
	if s.Format != "" {
		name += " (" + s.Format + ")"
	}
	if s.ContentMediaType != "" {
		name = "file"
	}
	return name, ""
}

// withConstraints appends what a schema allows to a description.
func withConstraints(description string, s *jsonSchema) string {
	if s == nil {
		return description
	}
	parts := []string{description}
	if len(s.Enum) > 0 {
		vals := make([]string, len(s.Enum))
		for i, v := range s.Enum {
			vals[i] = fmt.Sprint(v)
		}
		parts = append(parts, "One of: "+strings.Join(vals, ", ")+".")
	}
	for _, c := range []struct {
		label string
		v     any
	}{{"Length at least", s.MinLength}, {"Length at most", s.MaxLength}, {"At least", s.Minimum}, {"At most", s.Maximum},
		{"Items at least", s.MinItems}, {"Items at most", s.MaxItems}, {"Members at most", s.MaxProperties}} {
		switch v := c.v.(type) {
		case *int:
			if v != nil {
				parts = append(parts, fmt.Sprintf("%s %d.", c.label, *v))
			}
		case *int64:
			if v != nil {
				parts = append(parts, fmt.Sprintf("%s %d.", c.label, *v))
			}
		}
	}
	if s.Pattern != "" {
		parts = append(parts, "Pattern: "+s.Pattern)
	}
	return strings.TrimSpace(strings.Join(parts, " "))
}
