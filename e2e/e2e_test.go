package e2e

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"mime/multipart"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/ocrstack/ocrstack/e2e/internal/textimage"
	"github.com/stretchr/testify/require"
)

var lines = []string{"Invoice 2026 for Ada Lovelace", "The quick brown fox jumps over the lazy dog"}

// TestPipeline signs up, runs OCR through every route with a drawn image,
// checks the errors for bad keys and bad bodies, and checks that the
// verification and usage events reached ClickHouse, without the key.
func TestPipeline(t *testing.T) {
	s := startStack(t)
	img, err := textimage.PNG(lines, 40)
	require.NoError(t, err)

	status, body := postJSON(t, s.url+"/signup", "", `{"email":"ada@example.com","name":"Ada"}`)
	require.Equal(t, 200, status, body)
	var signup struct {
		Keys []struct {
			Key   string `json:"key"`
			KeyID string `json:"keyId"`
		} `json:"keys"`
		Error any `json:"error"`
	}
	require.NoError(t, json.Unmarshal([]byte(body), &signup))
	require.Nil(t, signup.Error)
	require.Len(t, signup.Keys, 1)
	key := signup.Keys[0].Key
	require.True(t, strings.HasPrefix(key, "ocr_"), key)

	t.Run("every OCR route reads the text", func(t *testing.T) {
		want := normalize(strings.Join(lines, "\n"))
		status, body := postFile(t, s.url+"/upload", key, "sampleFile", img, nil)
		require.Equal(t, 200, status, body)
		var tut struct {
			Text  string `json:"text"`
			Error any    `json:"error"`
		}
		require.NoError(t, json.Unmarshal([]byte(body), &tut))
		require.Equal(t, want, normalize(tut.Text))
		require.Nil(t, tut.Error)

		status, body = postJSON(t, s.url+"/uploadBase64", key, `{"imageBase64":"`+base64.StdEncoding.EncodeToString(img)+`"}`)
		require.Equal(t, 200, status, body)
		require.NoError(t, json.Unmarshal([]byte(body), &tut))
		require.Equal(t, want, normalize(tut.Text))

		status, body = postFile(t, s.url+"/api/v1/ocr", key, "image", img, map[string]string{"documentType": "invoice"})
		require.Equal(t, 200, status, body)
		var ptt struct {
			Text         string `json:"text"`
			DocumentType string `json:"documentType"`
		}
		require.NoError(t, json.Unmarshal([]byte(body), &ptt))
		require.Equal(t, want, normalize(ptt.Text))
		require.Equal(t, "invoice", ptt.DocumentType)
	})

	t.Run("a wrong or missing key is 401 on every OCR route", func(t *testing.T) {
		for _, auth := range []string{"", "Bearer ocr_wrongkey123", "Basic " + key} {
			st, b := postFile(t, s.url+"/upload", auth, "sampleFile", img, nil)
			require.Equal(t, 401, st, b)
			st, b = postJSON(t, s.url+"/uploadBase64", auth, `{"imageBase64":"`+base64.StdEncoding.EncodeToString(img)+`"}`)
			require.Equal(t, 401, st, b)
			st, b = postFile(t, s.url+"/api/v1/ocr", auth, "image", img, nil)
			require.Equal(t, 401, st, b)
		}
	})

	t.Run("bad bodies get a 4xx and crash nothing", func(t *testing.T) {
		auth := key
		cases := []struct {
			name string
			do   func() (int, string)
			want int
		}{
			{"empty upload body", func() (int, string) { return postRaw(t, s.url+"/upload", auth, "multipart/form-data; boundary=x", nil) }, 400},
			{"empty base64 body", func() (int, string) { return postRaw(t, s.url+"/uploadBase64", auth, "application/json", nil) }, 400},
			{"non-image file", func() (int, string) {
				return postFile(t, s.url+"/api/v1/ocr", auth, "image", []byte("Dear OCR, this is a letter, not an image."), nil)
			}, 415},
			{"truncated PNG", func() (int, string) { return postFile(t, s.url+"/upload", auth, "sampleFile", img[:100], nil) }, 422},
		}
		for _, tc := range cases {
			st, b := tc.do()
			require.Equal(t, tc.want, st, "%s: %s", tc.name, b)
		}
		s.alive(t)
		status, body := postFile(t, s.url+"/upload", key, "sampleFile", img, nil)
		require.Equal(t, 200, status, "the pipeline stopped serving after bad input: %s", body)
	})

	t.Run("events reach ClickHouse without the key", func(t *testing.T) {
		ctx := context.Background()
		count := func(q string) uint64 {
			var n uint64
			if err := s.ch.QueryRow(ctx, q).Scan(&n); err != nil {
				return 0
			}
			return n
		}
		db := s.database
		require.Eventually(t, func() bool {
			return count("SELECT count() FROM "+db+".verifications FINAL WHERE outcome = 'VALID' AND owner_id = 'ada@example.com'") >= 5 &&
				count("SELECT count() FROM "+db+".verifications FINAL WHERE outcome = 'NOT_FOUND'") >= 3 &&
				count("SELECT count() FROM "+db+".usage FINAL WHERE outcome = 'succeeded' AND owner_id = 'ada@example.com'") >= 4 &&
				count("SELECT count() FROM "+db+".usage FINAL WHERE outcome = 'failed' AND error_code = 'UNREADABLE_IMAGE'") == 1
		}, 30*time.Second, 200*time.Millisecond, "events did not reach ClickHouse")
		require.Zero(t, count("SELECT count() FROM "+db+".verifications WHERE position(concat(event_id, request_id, key_id, owner_id, api_id, arrayStringConcat(tags, ',')), '"+key+"') > 0"),
			"a key reached ClickHouse")
	})
}

// TestPhototestAccuracy sends the corpus's phototest.tif through POST
// /upload and requires a character error rate of at most 0.02.
func TestPhototestAccuracy(t *testing.T) {
	const corpus = "../../shared/ocr-corpus/tesseract-ocr-test/"
	img, err := os.ReadFile(corpus + "phototest.tif")
	if os.IsNotExist(err) {
		t.Skip("the OCR corpus is not beside the repository (../shared/ocr-corpus)")
	}
	require.NoError(t, err)
	truth, err := os.ReadFile(corpus + "phototest.txt")
	require.NoError(t, err)

	s := startStack(t)
	_, body := postJSON(t, s.url+"/signup", "", `{"email":"grace@example.com"}`)
	var signup struct {
		Keys []struct{ Key string } `json:"keys"`
	}
	require.NoError(t, json.Unmarshal([]byte(body), &signup))
	status, body := postFile(t, s.url+"/upload", signup.Keys[0].Key, "sampleFile", img, nil)
	require.Equal(t, 200, status, body)
	var res struct{ Text string }
	require.NoError(t, json.Unmarshal([]byte(body), &res))
	cer := CER(string(truth), res.Text)
	t.Logf("phototest.tif through POST /upload: CER %.4f", cer)
	require.LessOrEqual(t, cer, 0.02)
}

func postJSON(t *testing.T, url, key, body string) (int, string) {
	return postRaw(t, url, key, "application/json", []byte(body))
}

func postFile(t *testing.T, url, key, field string, data []byte, fields map[string]string) (int, string) {
	t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	fw, err := mw.CreateFormFile(field, "scan.png")
	require.NoError(t, err)
	_, _ = fw.Write(data)
	for k, v := range fields {
		require.NoError(t, mw.WriteField(k, v))
	}
	require.NoError(t, mw.Close())
	return postRaw(t, url, key, mw.FormDataContentType(), buf.Bytes())
}

// postRaw posts body; key is sent as "Bearer key" unless it already names a
// scheme or is empty.
func postRaw(t *testing.T, url, key, ctype string, body []byte) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Content-Type", ctype)
	switch {
	case key == "":
	case strings.Contains(key, " "):
		req.Header.Set("Authorization", key)
	default:
		req.Header.Set("Authorization", "Bearer "+key)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, string(b)
}
