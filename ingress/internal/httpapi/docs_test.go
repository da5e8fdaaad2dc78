package httpapi

import (
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/gofiber/fiber/v2"
	"github.com/stretchr/testify/require"
)

// TestDocsPage checks that GET /docs renders the document as a
// self-contained HTML page: every route, every error reason and every
// component schema appear, the text is escaped, and nothing is fetched
// from elsewhere or run.
func TestDocsPage(t *testing.T) {
	app := newApp(&stubKeys{}, &stubJobs{})
	resp, err := app.Test(httptest.NewRequest(http.MethodGet, "/docs", nil), -1)
	require.NoError(t, err)
	raw, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.Equal(t, 200, resp.StatusCode)
	require.Equal(t, fiber.MIMETextHTMLCharsetUTF8, resp.Header.Get("Content-Type"))
	page := string(raw)

	doc := buildOpenAPI(testConfig(&stubKeys{}, &stubJobs{}))
	for _, rt := range doc.routes {
		require.Contains(t, page, `<span class="path">`+rt.Path+`</span>`, "%s %s", rt.Method, rt.Path)
		require.Contains(t, page, `id="op-`+rt.Op.OperationID+`"`)
	}
	for _, r := range reasonDocs {
		require.Contains(t, page, `id="reason-`+string(r.reason)+`"`)
	}
	for name := range doc.Components.Schemas {
		require.Contains(t, page, `id="schema-`+name+`"`)
	}
	for name := range doc.Components.Headers {
		require.Contains(t, page, `id="header-`+name+`"`)
	}
	require.Contains(t, page, "Authorization: Bearer &lt;key&gt;", "text must be escaped")
	require.NotContains(t, page, "Bearer <key>")
	require.NotContains(t, page, "<script")
	require.NotRegexp(t, `(src|href)="(https?:)?//`, page, "the page must not load anything from elsewhere")
}
