package httpapi

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/gofiber/fiber/v2"
	"github.com/ocrstack/ocrstack/contracts"
	"github.com/stretchr/testify/require"
)

// serve runs app on a loopback listener for the test and returns its
// address.
func serve(t *testing.T, app *fiber.App) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	go func() { _ = app.Listener(ln) }()
	t.Cleanup(func() { _ = app.Shutdown() })
	return ln.Addr().String()
}

// rawPost writes one HTTP/1.1 POST on conn, with the body chunked when
// contentLength is negative, and reads the response.
func rawPost(t *testing.T, conn net.Conn, br *bufio.Reader, path, ctype, auth string, body []byte, chunked bool) (*http.Response, string) {
	t.Helper()
	var head bytes.Buffer
	fmt.Fprintf(&head, "POST %s HTTP/1.1\r\nHost: test\r\nContent-Type: %s\r\n", path, ctype)
	if auth != "" {
		fmt.Fprintf(&head, "Authorization: %s\r\n", auth)
	}
	if chunked {
		head.WriteString("Transfer-Encoding: chunked\r\n\r\n")
	} else {
		fmt.Fprintf(&head, "Content-Length: %d\r\n\r\n", len(body))
	}
	// The body is written while the response is read: the server may
	// answer before it has read it all.
	done := make(chan error, 1)
	go func() {
		_, err := conn.Write(head.Bytes())
		for rest := body; err == nil && len(rest) > 0; {
			n := min(len(rest), 64<<10)
			if chunked {
				_, err = fmt.Fprintf(conn, "%x\r\n%s\r\n", n, rest[:n])
			} else {
				_, err = conn.Write(rest[:n])
			}
			rest = rest[n:]
		}
		if err == nil && chunked {
			_, err = io.WriteString(conn, "0\r\n\r\n")
		}
		done <- err
	}()
	resp, err := http.ReadResponse(br, nil)
	require.NoError(t, err, "the client got no answer")
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	resp.Body.Close()
	if !resp.Close {
		require.NoError(t, <-done, "the body was not read")
	}
	return resp, string(b)
}

// TestRefusedUploadAnswered checks, over a real connection with
// keep-alive, that an upload refused before its body is read (a missing
// Authorization header, the admission gate shut) or part way (an image
// over the limit) is answered while the client is still sending, and that
// the connection then serves the next request: what the handler left
// unread was drained, not parsed as a request.
func TestRefusedUploadAnswered(t *testing.T) {
	g := &gate{}
	g.open.Store(true)
	cfg := testConfig(&stubKeys{}, &stubJobs{result: contracts.OCRResult{Status: contracts.JobSucceeded, Text: "Hello"}})
	cfg.Admission = g
	addr := serve(t, New(cfg))
	conn, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	defer conn.Close()
	br := bufio.NewReader(conn)

	upload := func(img []byte) ([]byte, string) {
		var body bytes.Buffer
		mw := multipart.NewWriter(&body)
		fw, err := mw.CreateFormFile("sampleFile", "scan.png")
		require.NoError(t, err)
		_, _ = fw.Write(img)
		require.NoError(t, mw.Close())
		return body.Bytes(), mw.FormDataContentType()
	}
	big, ctype := upload(largePNG(t, 900_000))
	tooBig, tooBigType := upload(largePNG(t, 1<<20+1))
	small, smallType := upload(pngBytes)

	for _, step := range []struct {
		name       string
		auth       string
		body       []byte
		ctype      string
		chunked    bool
		shut       bool
		wantStatus int
		wantReason string
	}{
		{"no Authorization header", "", big, ctype, false, false, 401, "INVALID_AUTH_HEADER"},
		{"gate shut", "Bearer good", big, ctype, false, true, 503, "OVERLOADED"},
		{"image over the limit", "Bearer good", tooBig, tooBigType, false, false, 413, "IMAGE_TOO_LARGE"},
		{"image over the limit, chunked", "Bearer good", tooBig, tooBigType, true, false, 413, "IMAGE_TOO_LARGE"},
		{"no such boundary", "Bearer good", big, tooBigType, false, false, 400, "INVALID_REQUEST"},
		{"then a good one", "Bearer good", small, smallType, false, false, 200, ""},
	} {
		g.open.Store(!step.shut)
		resp, raw := rawPost(t, conn, br, "/upload", step.ctype, step.auth, step.body, step.chunked)
		require.Equal(t, step.wantStatus, resp.StatusCode, "%s: %s", step.name, raw)
		require.False(t, resp.Close, "%s: the connection was closed", step.name)
		var got struct{ Reason string }
		require.NoError(t, json.Unmarshal([]byte(raw), &got), step.name)
		require.Equal(t, step.wantReason, got.Reason, step.name)
	}
}

// TestBodyLimit checks that a body over the limit is refused 413 in the
// shape of its route, whether its length is announced (refused unread,
// the connection closed) or not (chunked: refused once the limit is
// passed), on an OCR route and on another.
func TestBodyLimit(t *testing.T) {
	cfg := testConfig(&stubKeys{}, &stubJobs{})
	app := New(cfg)
	addr := serve(t, app)
	over := bytes.Repeat([]byte("x"), (&api{cfg: cfg}).bodyLimit()+1)
	for _, tc := range []struct {
		name, path, ctype string
		chunked           bool
		wantShape         string
	}{
		{"OCR route, announced", "/upload", "multipart/form-data; boundary=b", false, `"text":null`},
		{"OCR route, chunked", "/api/v1/ocr", "multipart/form-data; boundary=b", true, `"code":413`},
		{"JSON OCR route, chunked", "/uploadBase64", "application/json", true, `"text":null`},
		{"other route, announced", "/signup", "application/json", false, `"keys":null`},
		{"other route, chunked", "/signup", "application/json", true, `"keys":null`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			conn, err := net.Dial("tcp", addr)
			require.NoError(t, err)
			defer conn.Close()
			resp, raw := rawPost(t, conn, bufio.NewReader(conn), tc.path, tc.ctype, "Bearer good", over, tc.chunked)
			require.Equal(t, 413, resp.StatusCode, raw)
			require.Contains(t, raw, "IMAGE_TOO_LARGE")
			require.Contains(t, raw, tc.wantShape)
			require.Contains(t, raw, "The request body is larger than the limit of 1 MiB")
			require.True(t, resp.Close, "a body over the limit is not drained")
		})
	}
}

// discardStore takes an image and keeps nothing.
type discardStore struct{}

func (discardStore) StoreImage(_ context.Context, _ string, r io.Reader) error {
	_, err := io.Copy(io.Discard, r)
	return err
}

// BenchmarkReadMultipart reads a 20 MB upload with an option field: the
// memory it allocates per request is the first buffer's (pooled) and the
// multipart reader's, not the image's.
func BenchmarkReadMultipart(b *testing.B) {
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	require.NoError(b, mw.WriteField("languages", "eng"))
	fw, err := mw.CreateFormFile("image", "big.png")
	require.NoError(b, err)
	_, _ = fw.Write(largePNG(b, 20_000_000))
	require.NoError(b, mw.Close())
	spec := formSpec{field: "image", names: optionNames, maxImage: 20 << 20, inline: contracts.InlineImageMax, object: "obj", store: discardStore{}}
	boundary := strings.TrimPrefix(mw.FormDataContentType(), "multipart/form-data; boundary=")
	b.SetBytes(int64(body.Len()))
	b.ReportAllocs()
	for b.Loop() {
		form, err := readMultipart(context.Background(), bytes.NewReader(body.Bytes()), boundary, spec)
		if err != nil || form.file.ref != "obj" {
			b.Fatal(err, form.file)
		}
	}
}
