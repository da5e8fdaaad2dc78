package httpapi

import (
	"bytes"
	"encoding/json"
	"flag"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/gofiber/fiber/v2"
	"github.com/stretchr/testify/require"
)

var updateOpenAPI = flag.Bool("update-openapi", false, "rewrite testdata/openapi.json from the document served")

const openAPIGolden = "testdata/openapi.json"

// TestOpenAPIDocument checks that GET /openapi.json is a well-formed
// OpenAPI 3.1 document: its required members, every $ref resolving, every
// schema using only keywords the validator knows, every operation named,
// summarised and answering, and every path parameter declared. It also
// compares the document with testdata/openapi.json, so that a change to
// the API shows in review (-update-openapi rewrites it).
func TestOpenAPIDocument(t *testing.T) {
	resp, err := newApp(&stubKeys{}, &stubJobs{}).Test(httptest.NewRequest(http.MethodGet, "/openapi.json", nil), -1)
	require.NoError(t, err)
	raw, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.Equal(t, 200, resp.StatusCode)
	require.Equal(t, fiber.MIMEApplicationJSONCharsetUTF8, resp.Header.Get("Content-Type"))
	var doc map[string]any
	require.NoError(t, json.Unmarshal(raw, &doc))
	spec := specValidator{doc: doc}
	require.Empty(t, buildOpenAPI(testConfig(&stubKeys{}, &stubJobs{})).problems, "what the document could not describe")

	require.Equal(t, "3.1.0", doc["openapi"])
	info := doc["info"].(map[string]any)
	require.NotEmpty(t, info["title"])
	require.NotEmpty(t, info["version"])
	require.NotEmpty(t, doc["paths"])
	components := doc["components"].(map[string]any)
	for _, c := range []string{"schemas", "requestBodies", "parameters", "headers", "securitySchemes"} {
		require.NotEmpty(t, components[c], "components.%s", c)
	}

	walkJSON(doc, "#", func(at string, node map[string]any) {
		if ref, ok := node["$ref"].(string); ok {
			target, err := spec.resolve(ref)
			require.NoError(t, err, at)
			require.NotEqual(t, ref, target["$ref"], "%s refers to itself", at)
		}
	})
	for name, s := range components["schemas"].(map[string]any) {
		walkSchema(s.(map[string]any), "#/components/schemas/"+name, func(at string, s map[string]any) {
			for k := range s {
				require.Contains(t, schemaKeywords, k, "%s: a keyword the validator does not check", at)
			}
		})
	}

	ids := map[string]bool{}
	for path, item := range doc["paths"].(map[string]any) {
		for method, o := range item.(map[string]any) {
			op := o.(map[string]any)
			id, _ := op["operationId"].(string)
			require.NotEmpty(t, id, "%s %s", method, path)
			require.False(t, ids[id], "operationId %s is used twice", id)
			ids[id] = true
			require.NotEmpty(t, op["summary"], id)
			require.NotEmpty(t, op["tags"], id)
			require.NotEmpty(t, op["responses"], id)
			for status, r := range op["responses"].(map[string]any) {
				require.NotEmpty(t, r.(map[string]any)["description"], "%s %s", id, status)
			}
			var inPath []string
			for _, p := range op["parameters"].([]any) {
				prm := p.(map[string]any)
				if ref, ok := prm["$ref"].(string); ok {
					prm, err = spec.resolve(ref)
					require.NoError(t, err)
				}
				if prm["in"] == "path" {
					require.Equal(t, true, prm["required"], "%s: a path parameter is required", id)
					inPath = append(inPath, prm["name"].(string))
				}
			}
			var want []string
			for _, m := range regexp.MustCompile(`\{(\w+)\}`).FindAllStringSubmatch(path, -1) {
				want = append(want, m[1])
			}
			require.ElementsMatch(t, want, inPath, "%s: path parameters", id)
		}
	}

	var indented bytes.Buffer
	require.NoError(t, json.Indent(&indented, raw, "", "  "))
	indented.WriteByte('\n')
	if *updateOpenAPI {
		require.NoError(t, os.WriteFile(openAPIGolden, indented.Bytes(), 0o644))
	}
	golden, err := os.ReadFile(openAPIGolden)
	require.NoError(t, err, "run go test -run TestOpenAPIDocument -update-openapi to create it")
	require.Equal(t, string(golden), indented.String(), "the document changed: review, then rewrite it with -update-openapi")
}

// walkJSON calls fn on every object in x.
func walkJSON(x any, at string, fn func(at string, node map[string]any)) {
	switch x := x.(type) {
	case map[string]any:
		fn(at, x)
		for k, v := range x {
			walkJSON(v, at+"/"+k, fn)
		}
	case []any:
		for i, v := range x {
			walkJSON(v, at+"/"+strconv.Itoa(i), fn)
		}
	}
}

// walkSchema calls fn on s and every schema within it.
func walkSchema(s map[string]any, at string, fn func(at string, s map[string]any)) {
	fn(at, s)
	for name, p := range mapOf(s["properties"]) {
		walkSchema(p.(map[string]any), at+"/properties/"+name, fn)
	}
	for _, k := range []string{"items", "additionalProperties"} {
		if sub, ok := s[k].(map[string]any); ok {
			walkSchema(sub, at+"/"+k, fn)
		}
	}
	for i, alt := range sliceOf(s["anyOf"]) {
		walkSchema(alt.(map[string]any), at+"/anyOf/"+strconv.Itoa(i), fn)
	}
}

func mapOf(x any) map[string]any { m, _ := x.(map[string]any); return m }
func sliceOf(x any) []any        { s, _ := x.([]any); return s }

// TestOpenAPIRoutes checks that the document describes exactly the routes
// the app registers: each method and path (fiber's :id is OpenAPI's {id}),
// less the HEAD fiber adds beside every GET.
func TestOpenAPIRoutes(t *testing.T) {
	app := newApp(&stubKeys{}, &stubJobs{})
	param := regexp.MustCompile(`:(\w+)`)
	var registered, heads []string
	for _, r := range app.GetRoutes(true) {
		require.NotContains(t, r.Path, "*", "a wildcard route cannot be documented as a path")
		require.NotContains(t, r.Path, "?", "an optional parameter cannot be documented as a path")
		route := r.Method + " " + param.ReplaceAllString(r.Path, "{$1}")
		if r.Method == fiber.MethodHead {
			heads = append(heads, route)
			continue
		}
		registered = append(registered, route)
	}
	for _, h := range heads {
		require.Contains(t, registered, "GET"+strings.TrimPrefix(h, "HEAD"), "a HEAD route without its GET")
	}
	var documented []string
	for path, item := range fetchSpec(t, app).doc["paths"].(map[string]any) {
		for method := range item.(map[string]any) {
			documented = append(documented, strings.ToUpper(method)+" "+path)
		}
	}
	slices.Sort(registered)
	require.ElementsMatch(t, slices.Compact(registered), documented)
	require.ElementsMatch(t, slices.Collect(maps.Keys(v2Routes)), slices.Collect(maps.Keys(v2Docs)), "v2Docs must document exactly v2Routes")
}

// apierrReasons parses the apierr package: its Reason constants by name,
// with their values.
func apierrReasons(t *testing.T) map[string]string {
	t.Helper()
	f, err := parser.ParseFile(token.NewFileSet(), filepath.Join("..", "apierr", "apierr.go"), nil, 0)
	require.NoError(t, err)
	out := map[string]string{}
	for _, d := range f.Decls {
		gd, ok := d.(*ast.GenDecl)
		if !ok || gd.Tok != token.CONST {
			continue
		}
		for _, spec := range gd.Specs {
			vs := spec.(*ast.ValueSpec)
			if id, ok := vs.Type.(*ast.Ident); !ok || id.Name != "Reason" {
				continue
			}
			for i, name := range vs.Names {
				v, err := strconv.Unquote(vs.Values[i].(*ast.BasicLit).Value)
				require.NoError(t, err)
				out[name.Name] = v
			}
		}
	}
	require.NotEmpty(t, out)
	return out
}

// TestOpenAPIReasons checks that the document's ErrorReason lists exactly
// the reasons apierr defines, each with a description and the statuses it
// comes with.
func TestOpenAPIReasons(t *testing.T) {
	s, err := fetchSpec(t, newApp(&stubKeys{}, &stubJobs{})).resolve("#/components/schemas/ErrorReason")
	require.NoError(t, err)
	require.ElementsMatch(t, slices.Collect(maps.Values(apierrReasons(t))), s["enum"])
	var catalogued []any
	for _, x := range s["x-reasons"].([]any) {
		r := x.(map[string]any)
		require.NotEmpty(t, r["description"], r["reason"])
		require.NotEmpty(t, r["statuses"], "%s: no route answers with it", r["reason"])
		catalogued = append(catalogued, r["reason"])
	}
	require.ElementsMatch(t, s["enum"], catalogued)
}
