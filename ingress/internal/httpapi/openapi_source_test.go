package httpapi

// These tests read the package's source, for what reflection cannot see:
// which errors the handlers raise and which request fields they read.

import (
	"go/ast"
	"go/parser"
	"go/token"
	"maps"
	"net/http"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestOpenAPIErrorStatuses checks, by reading the package's source, that
// every status and reason the handlers raise together, as
// apierr.New(fiber.StatusX, apierr.Y, ...) or &apierr.Error{Status:
// fiber.StatusX, Reason: apierr.Y}, is documented on some route (a status
// computed at run time is not checked).
func TestOpenAPIErrorStatuses(t *testing.T) {
	reasons := apierrReasons(t)
	statuses := map[string]int{}
	for code := 100; code < 600; code++ {
		if text := http.StatusText(code); text != "" {
			statuses["Status"+strings.NewReplacer(" ", "", "-", "", "'", "").Replace(text)] = code
		}
	}
	s, err := fetchSpec(t, newApp(&stubKeys{}, &stubJobs{})).resolve("#/components/schemas/ErrorReason")
	require.NoError(t, err)
	documented := map[string][]any{}
	for _, x := range s["x-reasons"].([]any) {
		r := x.(map[string]any)
		documented[r["reason"].(string)] = r["statuses"].([]any)
	}
	files, err := filepath.Glob("*.go")
	require.NoError(t, err)
	fset := token.NewFileSet()
	found := 0
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, 0)
		require.NoError(t, err)
		ast.Inspect(f, func(n ast.Node) bool {
			status, reason := raised(n)
			if status == "" {
				return true
			}
			code, ok := statuses[status]
			require.True(t, ok, "%s: unknown status constant %s", fset.Position(n.Pos()), status)
			value, ok := reasons[reason]
			require.True(t, ok, "%s: unknown reason %s", fset.Position(n.Pos()), reason)
			require.Contains(t, documented[value], float64(code), "%s: %d %s is raised but not documented on any route", fset.Position(n.Pos()), code, value)
			found++
			return true
		})
	}
	require.Greater(t, found, 30, "the source scan found too few errors: has the way they are raised changed?")
}

// raised returns the fiber status constant and the apierr reason constant
// an apierr.New call or apierr.Error literal names, or "" when n is
// neither or its status is not a constant.
func raised(n ast.Node) (status, reason string) {
	sel := func(e ast.Expr, pkg string) string {
		if s, ok := e.(*ast.SelectorExpr); ok {
			if id, ok := s.X.(*ast.Ident); ok && id.Name == pkg {
				return s.Sel.Name
			}
		}
		return ""
	}
	switch n := n.(type) {
	case *ast.CallExpr:
		if sel(n.Fun, "apierr") == "New" && len(n.Args) == 3 {
			return sel(n.Args[0], "fiber"), sel(n.Args[1], "apierr")
		}
	case *ast.CompositeLit:
		if sel(n.Type, "apierr") != "Error" {
			return "", ""
		}
		for _, e := range n.Elts {
			kv := e.(*ast.KeyValueExpr)
			switch kv.Key.(*ast.Ident).Name {
			case "Status":
				status = sel(kv.Value, "fiber")
			case "Reason":
				reason = sel(kv.Value, "apierr")
			}
		}
		if reason == "" {
			return "", ""
		}
		return status, reason
	}
	return "", ""
}

// TestOpenAPIRequestFields checks, by reading the package's source, that
// the document's request bodies name exactly what the handlers read: the
// multipart fields and files (c.FormValue, c.FormFile, a.formImage), and
// the members of the JSON bodies decoded into a handler's own struct.
func TestOpenAPIRequestFields(t *testing.T) {
	spec := fetchSpec(t, newApp(&stubKeys{}, &stubJobs{}))
	bodies := spec.doc["components"].(map[string]any)["requestBodies"].(map[string]any)
	var documented []string
	for _, rb := range bodies {
		if form, ok := mapOf(mapOf(rb)["content"])["multipart/form-data"]; ok {
			documented = append(documented, slices.Collect(maps.Keys(mapOf(mapOf(mapOf(form)["schema"])["properties"])))...)
		}
	}
	files, err := filepath.Glob("*.go")
	require.NoError(t, err)
	var read []string
	structs := map[string][]string{} // JSON members of the struct a handler declares, by handler
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(token.NewFileSet(), name, nil, 0)
		require.NoError(t, err)
		ast.Inspect(f, func(n ast.Node) bool {
			if call, ok := n.(*ast.CallExpr); ok {
				if sel, ok := call.Fun.(*ast.SelectorExpr); ok {
					// uploadForm.value reads a text field, readForm names
					// the file part.
					arg := map[string]int{"FormValue": 0, "FormFile": 0, "value": 0, "readForm": 2}
					if i, ok := arg[sel.Sel.Name]; ok && len(call.Args) > i {
						if lit, ok := call.Args[i].(*ast.BasicLit); ok {
							v, _ := strconv.Unquote(lit.Value)
							read = append(read, v)
						}
					}
				}
			}
			if fn, ok := n.(*ast.FuncDecl); ok && fn.Body != nil {
				ast.Inspect(fn.Body, func(n ast.Node) bool {
					st, ok := n.(*ast.StructType)
					if !ok || structs[fn.Name.Name] != nil {
						return true
					}
					for _, fld := range st.Fields.List {
						if fld.Tag != nil {
							tag, _ := strconv.Unquote(fld.Tag.Value)
							name, _, _ := strings.Cut(reflect.StructTag(tag).Get("json"), ",")
							structs[fn.Name.Name] = append(structs[fn.Name.Name], name)
						}
					}
					return false
				})
			}
			return true
		})
	}
	slices.Sort(read)
	slices.Sort(documented)
	require.Equal(t, slices.Compact(read), slices.Compact(documented), "multipart fields read vs documented")
	for handler, body := range map[string]string{"uploadBase64": "UploadBase64", "signup": "Signup"} {
		s := mapOf(mapOf(mapOf(mapOf(bodies[body])["content"])["application/json"])["schema"])
		require.NotEmpty(t, structs[handler], "%s declares no body struct", handler)
		require.ElementsMatch(t, structs[handler], slices.Collect(maps.Keys(mapOf(s["properties"]))), "%s's JSON body", handler)
	}
}
