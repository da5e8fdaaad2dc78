package httpapi

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/ocrstack/ocrstack/contracts"
	"github.com/stretchr/testify/require"
)

// optionsRequest builds a request for route carrying the image and the
// given option fields (form fields, or JSON members on /uploadBase64).
func optionsRequest(t *testing.T, route string, image []byte, fields map[string]any) *http.Request {
	t.Helper()
	var body bytes.Buffer
	ctype := "application/json"
	if route == "/uploadBase64" {
		m := map[string]any{"imageBase64": base64.StdEncoding.EncodeToString(image)}
		for k, v := range fields {
			m[k] = v
		}
		require.NoError(t, json.NewEncoder(&body).Encode(m))
	} else {
		field := map[string]string{"/upload": "sampleFile", "/api/v1/ocr": "image"}[route]
		mw := multipart.NewWriter(&body)
		fw, err := mw.CreateFormFile(field, "scan.png")
		require.NoError(t, err)
		_, _ = fw.Write(image)
		for k, v := range fields {
			require.NoError(t, mw.WriteField(k, fmt.Sprint(v)))
		}
		require.NoError(t, mw.Close())
		ctype = mw.FormDataContentType()
	}
	req := httptest.NewRequest(http.MethodPost, route, &body)
	req.Header.Set("Content-Type", ctype)
	req.Header.Set("Authorization", "Bearer good")
	return req
}

// TestRecognitionOptions checks languages, pageSegMode and whitelist on the
// three OCR routes: passed to the job when valid, refused with a 400 that
// names every bad field, before the key is charged, when not.
func TestRecognitionOptions(t *testing.T) {
	png := []byte("\x89PNG\r\n\x1a\nfake but sniffed as PNG")
	for _, route := range []string{"/upload", "/uploadBase64", "/api/v1/ocr"} {
		t.Run(route, func(t *testing.T) {
			keys, jobs := &stubKeys{}, &stubJobs{result: contracts.OCRResult{Status: contracts.JobSucceeded, Text: "x"}}
			app := newApp(keys, jobs)
			r := do(t, app, optionsRequest(t, route, png, map[string]any{"languages": "spa+eng", "pageSegMode": 7, "whitelist": "0123456789"}))
			require.Equal(t, 200, r.status, r.raw)
			require.Equal(t, []string{"spa", "eng"}, jobs.job.Languages)
			require.Equal(t, 7, jobs.job.PageSegMode)
			require.Equal(t, "0123456789", jobs.job.Whitelist)

			jobs.job.Languages = nil
			r = do(t, app, optionsRequest(t, route, png, nil))
			require.Equal(t, 200, r.status, r.raw)
			require.Nil(t, jobs.job.Languages, "no languages: the workers' default")
			require.Zero(t, jobs.job.PageSegMode)

			charged := keys.verifies.Load()
			for _, bad := range []map[string]any{
				{"languages": "eng+"},
				{"languages": "en g"},
				{"languages": "a+b+c+d+e+f+g+h+i"},
				{"pageSegMode": 2},
				{"pageSegMode": 14},
				{"whitelist": "0\x01"},
				{"whitelist": strings.Repeat("x", 257)},
				{"languages": "eng;spa", "pageSegMode": 0},
			} {
				r := do(t, app, optionsRequest(t, route, png, bad))
				require.Equal(t, 400, r.status, "%v: %s", bad, r.raw)
				require.Contains(t, r.raw, "INVALID_REQUEST", "%v", bad)
			}
			require.Equal(t, charged, keys.verifies.Load(), "a refused request was charged")
		})
	}
}
