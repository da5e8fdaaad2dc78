package httpapi

import (
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/gofiber/fiber/v2"
	"github.com/stretchr/testify/require"
)

// specValidator checks values against the schemas of an OpenAPI document
// as served, for the JSON Schema keywords the document uses. A keyword it
// does not know is an error, so that no schema passes by being misread.
type specValidator struct {
	doc map[string]any
}

// schemaKeywords are the keywords check knows; the annotations among them
// (description, format, contentMediaType, examples, x-reasons) constrain
// nothing.
var schemaKeywords = []string{
	"$ref", "description", "type", "format", "contentMediaType", "pattern", "enum", "minLength", "maxLength",
	"minimum", "maximum", "properties", "required", "additionalProperties", "maxProperties", "items",
	"minItems", "maxItems", "anyOf", "examples", "x-reasons",
}

// fetchSpec returns the document app serves.
func fetchSpec(t *testing.T, app *fiber.App) specValidator {
	t.Helper()
	r := do(t, app, httptest.NewRequest(http.MethodGet, "/openapi.json", nil))
	require.Equal(t, 200, r.status, r.raw)
	return specValidator{doc: r.body}
}

// resolve follows a local reference: "#/components/schemas/TextBox".
func (v specValidator) resolve(ref string) (map[string]any, error) {
	var node any = v.doc
	for _, part := range strings.Split(strings.TrimPrefix(ref, "#/"), "/") {
		m, ok := node.(map[string]any)
		if !ok || m[part] == nil {
			return nil, fmt.Errorf("unresolved $ref %s", ref)
		}
		node = m[part]
	}
	m, ok := node.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("$ref %s is not an object", ref)
	}
	return m, nil
}

// check validates x against s and returns every problem, located by a
// JSON pointer from at.
func (v specValidator) check(s map[string]any, x any, at string) []string {
	var errs []string
	fail := func(format string, args ...any) { errs = append(errs, at+": "+fmt.Sprintf(format, args...)) }
	for k := range s {
		if !slices.Contains(schemaKeywords, k) {
			fail("the validator does not know the keyword %q", k)
		}
	}
	if ref, ok := s["$ref"].(string); ok {
		target, err := v.resolve(ref)
		if err != nil {
			return append(errs, at+": "+err.Error())
		}
		return append(errs, v.check(target, x, at)...)
	}
	if alts, ok := s["anyOf"].([]any); ok {
		if !slices.ContainsFunc(alts, func(alt any) bool { return len(v.check(alt.(map[string]any), x, at)) == 0 }) {
			fail("matches none of anyOf: %v", x)
		}
	}
	if t, ok := s["type"]; ok {
		types, _ := t.([]any)
		if name, ok := t.(string); ok {
			types = []any{name}
		}
		if !slices.ContainsFunc(types, func(name any) bool { return isJSONType(x, name.(string)) }) {
			fail("want type %v, got %s", t, compact(x))
			return errs
		}
	}
	if enum, ok := s["enum"].([]any); ok && !slices.ContainsFunc(enum, func(e any) bool { return reflect.DeepEqual(e, x) }) {
		fail("%s is not one of %v", compact(x), enum)
	}
	switch x := x.(type) {
	case map[string]any:
		errs = append(errs, v.checkObject(s, x, at)...)
	case []any:
		if n, ok := s["minItems"].(float64); ok && float64(len(x)) < n {
			fail("%d items, fewer than %v", len(x), n)
		}
		if n, ok := s["maxItems"].(float64); ok && float64(len(x)) > n {
			fail("%d items, more than %v", len(x), n)
		}
		if items, ok := s["items"].(map[string]any); ok {
			for i, item := range x {
				errs = append(errs, v.check(items, item, at+"/"+strconv.Itoa(i))...)
			}
		}
	case string:
		n := float64(utf8.RuneCountInString(x))
		if m, ok := s["minLength"].(float64); ok && n < m {
			fail("shorter than %v", m)
		}
		if m, ok := s["maxLength"].(float64); ok && n > m {
			fail("longer than %v", m)
		}
		if p, ok := s["pattern"].(string); ok && !regexp.MustCompile(p).MatchString(x) {
			fail("%q does not match %s", x, p)
		}
	case float64:
		if m, ok := s["minimum"].(float64); ok && x < m {
			fail("%v is under %v", x, m)
		}
		if m, ok := s["maximum"].(float64); ok && x > m {
			fail("%v is over %v", x, m)
		}
	}
	return errs
}

func (v specValidator) checkObject(s map[string]any, x map[string]any, at string) []string {
	var errs []string
	props, _ := s["properties"].(map[string]any)
	for _, name := range sliceOf(s["required"]) {
		if _, ok := x[name.(string)]; !ok {
			errs = append(errs, fmt.Sprintf("%s: missing required member %q", at, name))
		}
	}
	for name, value := range x {
		switch p, known := props[name]; {
		case known:
			errs = append(errs, v.check(p.(map[string]any), value, at+"/"+name)...)
		case s["additionalProperties"] == false:
			errs = append(errs, fmt.Sprintf("%s: member %q is not in the schema", at, name))
		default:
			if extra, ok := s["additionalProperties"].(map[string]any); ok {
				errs = append(errs, v.check(extra, value, at+"/"+name)...)
			}
		}
	}
	if n, ok := s["maxProperties"].(float64); ok && float64(len(x)) > n {
		errs = append(errs, fmt.Sprintf("%s: more than %v members", at, n))
	}
	return errs
}

func isJSONType(x any, name string) bool {
	switch name {
	case "null":
		return x == nil
	case "boolean":
		_, ok := x.(bool)
		return ok
	case "string":
		_, ok := x.(string)
		return ok
	case "number":
		_, ok := x.(float64)
		return ok
	case "integer":
		f, ok := x.(float64)
		return ok && f == math.Trunc(f)
	case "object":
		_, ok := x.(map[string]any)
		return ok
	case "array":
		_, ok := x.([]any)
		return ok
	}
	return false
}

func compact(x any) string {
	b, _ := json.Marshal(x)
	if len(b) > 80 {
		return string(b[:80]) + "..."
	}
	return string(b)
}

// checkResponse requires r to be a documented response of method path (in
// OpenAPI's form): its status, its body against the schema, its reason
// among those documented for the status, and each documented header it
// carries listed on the response, with a value of the header's type.
func (v specValidator) checkResponse(t *testing.T, method, path string, r response) {
	t.Helper()
	op, ok := v.doc["paths"].(map[string]any)[path].(map[string]any)[strings.ToLower(method)].(map[string]any)
	require.True(t, ok, "%s %s is not documented", method, path)
	resp, ok := op["responses"].(map[string]any)[strconv.Itoa(r.status)].(map[string]any)
	require.True(t, ok, "%s %s: status %d is not documented; body %s", method, path, r.status, r.raw)
	require.Equal(t, fiber.MIMEApplicationJSON, strings.Split(r.header.Get("Content-Type"), ";")[0])
	media, ok := resp["content"].(map[string]any)["application/json"].(map[string]any)
	require.True(t, ok, "%s %s %d: no JSON body documented", method, path, r.status)
	var body any
	require.NoError(t, json.Unmarshal([]byte(r.raw), &body))
	require.Empty(t, v.check(media["schema"].(map[string]any), body, "#"), "%s %s %d: %s", method, path, r.status, r.raw)
	if reasons, ok := resp["x-error-reasons"].([]any); ok && dialectOf(path) != unkeyDialect {
		require.Contains(t, reasons, reason(r), "%s %s %d: reason not documented", method, path, r.status)
	}
	documented, _ := resp["headers"].(map[string]any)
	require.Contains(t, documented, "X-Request-Id")
	require.NotEmpty(t, r.header.Get("X-Request-Id"))
	for name := range v.doc["components"].(map[string]any)["headers"].(map[string]any) {
		value := r.header.Get(name)
		if value == "" {
			continue
		}
		require.Contains(t, documented, name, "%s %s %d sends %s: %q, undocumented", method, path, r.status, name, value)
		h, err := v.resolve("#/components/headers/" + name)
		require.NoError(t, err)
		var x any = value
		if h["schema"].(map[string]any)["type"] == "integer" {
			n, err := strconv.ParseInt(value, 10, 64)
			require.NoError(t, err, "%s: %q is not an integer", name, value)
			x = float64(n)
		}
		require.Empty(t, v.check(h["schema"].(map[string]any), x, name))
	}
}
