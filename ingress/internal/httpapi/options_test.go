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
			r := do(t, app, optionsRequest(t, route, png, map[string]any{"languages": "spa+eng", "pageSegMode": 7, "whitelist": "0123456789",
				"pages": "1-3, 7", "detectOrientation": false}))
			require.Equal(t, 200, r.status, r.raw)
			require.Equal(t, []string{"spa", "eng"}, jobs.job.Languages)
			require.Equal(t, 7, jobs.job.PageSegMode)
			require.Equal(t, "0123456789", jobs.job.Whitelist)
			require.Equal(t, "1-3, 7", jobs.job.Pages)
			require.NotNil(t, jobs.job.DetectOrientation)
			require.False(t, *jobs.job.DetectOrientation)
			r = do(t, app, optionsRequest(t, route, png, map[string]any{"detectOrientation": true}))
			require.Equal(t, 200, r.status, r.raw)
			require.True(t, *jobs.job.DetectOrientation)

			jobs.job.Languages = nil
			r = do(t, app, optionsRequest(t, route, png, nil))
			require.Equal(t, 200, r.status, r.raw)
			require.Nil(t, jobs.job.Languages, "no languages: the workers' default")
			require.Zero(t, jobs.job.PageSegMode)
			require.Empty(t, jobs.job.Pages)
			require.Nil(t, jobs.job.DetectOrientation, "no detectOrientation: automatic")

			charged := keys.verifies.Load()
			for _, bad := range []map[string]any{
				{"languages": "eng+"},
				{"languages": "en g"},
				{"languages": "eng+eng"},
				{"languages": "a+b+c+d+e+f+g+h+i"},
				{"pageSegMode": 2},
				{"pageSegMode": 14},
				{"whitelist": "0\x01"},
				{"whitelist": strings.Repeat("x", 257)},
				{"languages": "eng;spa", "pageSegMode": 0},
				{"pages": "0-3"},
				{"pages": "3-1"},
				{"pages": "101"},
				{"detectOrientation": "maybe"},
			} {
				r := do(t, app, optionsRequest(t, route, png, bad))
				require.Equal(t, 400, r.status, "%v: %s", bad, r.raw)
				require.Contains(t, r.raw, "INVALID_REQUEST", "%v", bad)
			}
			require.Equal(t, charged, keys.verifies.Load(), "a refused request was charged")
		})
	}
}

// TestOutputOption checks the output field on the three OCR routes: a
// comma-separated list of outputs reaches the job without "text" (nil when
// only the text is asked for); anything else, named twice or unknown, is a
// 400 naming the valid values, before the key is charged.
func TestOutputOption(t *testing.T) {
	cases := []struct {
		name        string
		output      string
		wantOutputs []string // for a 200
		wantProblem bool
	}{
		{"absent", "", nil, false},
		{"blank", "  ", nil, false},
		{"text only", "text", nil, false},
		{"one", "words", []string{"words"}, false},
		{"several", "text,words,hocr", []string{"words", "hocr"}, false},
		{"spaces around", " tsv , text ,lines ", []string{"tsv", "lines"}, false},
		{"all", "text,words,lines,hocr,tsv", []string{"words", "lines", "hocr", "tsv"}, false},
		{"unknown", "pdf", nil, true},
		{"upper case", "Words", nil, true},
		{"duplicate", "words,hocr,words", nil, true},
		{"text twice", "text,text", nil, true},
		{"empty item", "words,", nil, true},
		{"only commas", ",", nil, true},
		{"other separator", "words+lines", nil, true},
	}
	for _, route := range ocrRoutes {
		for _, tc := range cases {
			t.Run(route+"/"+tc.name, func(t *testing.T) {
				keys, jobs := &stubKeys{}, &stubJobs{result: contracts.OCRResult{Status: contracts.JobSucceeded, Text: "x"}}
				fields := map[string]any{}
				if tc.output != "" {
					fields["output"] = tc.output
				}
				r := do(t, newApp(keys, jobs), optionsRequest(t, route, pngBytes, fields))
				if !tc.wantProblem {
					require.Equal(t, 200, r.status, r.raw)
					require.Equal(t, tc.wantOutputs, jobs.job.Outputs)
					return
				}
				require.Equal(t, 400, r.status, r.raw)
				require.Equal(t, "INVALID_REQUEST", reason(r), r.raw)
				require.Contains(t, errorMessage(t, r), "output must be a comma-separated list of text, words, lines, hocr, tsv")
				require.Zero(t, keys.verifies.Load(), "a refused request was charged")
				require.Empty(t, jobs.job.JobID, "a refused request reached the job queue")
			})
		}
	}
}

// TestOutputProblemsListedTogether checks that a bad output is reported
// with the other bad options in one message.
func TestOutputProblemsListedTogether(t *testing.T) {
	r := do(t, newApp(&stubKeys{}, &stubJobs{}), optionsRequest(t, "/upload", pngBytes, map[string]any{"pageSegMode": 2, "output": "pdf"}))
	require.Equal(t, 400, r.status, r.raw)
	require.Equal(t, "pageSegMode must be 1 or 3 to 13 (Tesseract's page segmentation modes); "+outputProblem, errorMessage(t, r))
}

// TestOutputsInResponse checks that the outputs a result carries come back
// in each route's body beside the text, and that the request's outputs
// reached the job.
func TestOutputsInResponse(t *testing.T) {
	words := []contracts.TextBox{
		{Page: 1, Text: "Hola", Confidence: 96.5, X: 10, Y: 20, Width: 40, Height: 12},
		{Page: 1, Text: "world", Confidence: 91, X: 55, Y: 20, Width: 48, Height: 12},
	}
	const hocr = `<div class="ocr_page" id="page_1"></div>`
	const wantExtras = `"words":[` +
		`{"page":1,"text":"Hola","confidence":96.5,"x":10,"y":20,"width":40,"height":12},` +
		`{"page":1,"text":"world","confidence":91,"x":55,"y":20,"width":48,"height":12}],` +
		`"hocr":"<div class=\"ocr_page\" id=\"page_1\"></div>"`
	for _, route := range ocrRoutes {
		t.Run(route, func(t *testing.T) {
			jobs := &stubJobs{result: contracts.OCRResult{Status: contracts.JobSucceeded, Text: "Hola world", Words: words, HOCR: hocr}}
			req := optionsRequest(t, route, pngBytes, map[string]any{"output": "words,hocr", "documentType": "receipt"})
			req.Header.Set("X-Request-Id", "client-req-1")
			r := do(t, newApp(&stubKeys{}, jobs), req)
			require.Equal(t, 200, r.status, r.raw)
			require.Equal(t, []string{contracts.OutputWords, contracts.OutputHOCR}, jobs.job.Outputs)
			if route == "/api/v1/ocr" {
				require.JSONEq(t, `{"requestId":"client-req-1","jobId":"`+jobs.job.JobID+`","documentType":"receipt","text":"Hola world",`+wantExtras+`}`, r.raw)
			} else {
				require.JSONEq(t, `{"text":"Hola world","error":null,`+wantExtras+`}`, r.raw)
			}
		})
	}
}

// errorMessage extracts the public message from either dialect.
func errorMessage(t *testing.T, r response) string {
	t.Helper()
	switch e := r.body["error"].(type) {
	case string:
		return e
	case map[string]any:
		return e["message"].(string)
	}
	t.Fatalf("no error message in %s", r.raw)
	return ""
}

// FuzzParseOutputs checks that an accepted output list only ever holds
// known outputs other than the text, each once.
func FuzzParseOutputs(f *testing.F) {
	f.Add("text,words,hocr")
	f.Add(" tsv , lines")
	f.Add("words,words")
	f.Fuzz(func(t *testing.T, s string) {
		out, ok := parseOutputs(s)
		if !ok {
			require.Nil(t, out)
			return
		}
		for i, o := range out {
			require.Contains(t, contracts.Outputs, o)
			require.NotEqual(t, contracts.OutputText, o)
			require.NotContains(t, out[:i], o)
		}
	})
}
