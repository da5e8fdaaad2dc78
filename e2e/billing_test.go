package e2e

import (
	"bytes"
	"io"
	"mime/multipart"
	"net/http"
	"testing"
	"time"

	"github.com/ocrstack/ocrstack/e2e/internal/textimage"
	"github.com/stretchr/testify/require"
)

// TestFairBilling drives the real keyservice, worker and ingress: a job
// that fails is refunded (the key pays only for OCR that succeeded), and a
// request retried with the same Idempotency-Key runs and pays once.
func TestFairBilling(t *testing.T) {
	s := startStack(t)
	st, created := v2(t, s, rootKey, "keys.createKey", `{"apiId":"api_ocr","prefix":"ocr","credits":{"remaining":10}}`)
	require.Equal(t, 200, st, created)
	key, keyID := created["key"].(string), created["keyId"].(string)
	credits := func() float64 {
		st, d := v2(t, s, rootKey, "keys.getKey", `{"keyId":"`+keyID+`"}`)
		require.Equal(t, 200, st, d)
		return d["credits"].(map[string]any)["remaining"].(float64)
	}
	img, err := textimage.PNG(lines, 40)
	require.NoError(t, err)
	upload := func(data []byte, idemKey string) (int, string, http.Header) {
		var buf bytes.Buffer
		mw := multipart.NewWriter(&buf)
		fw, err := mw.CreateFormFile("sampleFile", "scan.png")
		require.NoError(t, err)
		_, _ = fw.Write(data)
		require.NoError(t, mw.Close())
		req, err := http.NewRequest(http.MethodPost, s.url+"/upload", &buf)
		require.NoError(t, err)
		req.Header.Set("Content-Type", mw.FormDataContentType())
		req.Header.Set("Authorization", "Bearer "+key)
		if idemKey != "" {
			req.Header.Set("Idempotency-Key", idemKey)
		}
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		return resp.StatusCode, string(b), resp.Header
	}

	st, body, _ := upload(img[:100], "") // a truncated PNG: the worker cannot decode it
	require.Equal(t, 422, st, body)
	require.Eventually(t, func() bool { return credits() == 10 }, 20*time.Second, 100*time.Millisecond,
		"the failed job was not refunded")

	st, body, h := upload(img, "order-1")
	require.Equal(t, 200, st, body)
	first := h.Get("X-Job-Id")
	st, again, h := upload(img, "order-1")
	require.Equal(t, 200, st, again)
	require.Equal(t, first, h.Get("X-Job-Id"))
	require.Equal(t, body, again)
	st, body, _ = upload(img[:len(img)-1], "order-1")
	require.Equal(t, 409, st, body)
	time.Sleep(time.Second) // a stray refund would land in this time
	require.Equal(t, 9.0, credits(), "one OCR paid for, once")
}
