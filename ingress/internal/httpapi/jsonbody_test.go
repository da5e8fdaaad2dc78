package httpapi

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"runtime"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/gofiber/fiber/v2"
	"github.com/ocrstack/ocrstack/contracts"
	"github.com/ocrstack/ocrstack/ingress/internal/apierr"
	"github.com/ocrstack/ocrstack/ingress/internal/imagesniff"
	"github.com/stretchr/testify/require"
)

// jsonPost is a POST of route with a JSON body and the good key.
func jsonPost(route, body string) *http.Request {
	req := jsonRequest(http.MethodPost, route, body)
	req.Header.Set("Authorization", "Bearer good")
	return req
}

// TestJSONImageStreamed checks, on the real jobs.Submitter, that a base64
// image in a JSON body reaches its job byte for byte however it is
// written (standard or URL-safe, wrapped, with escaped slashes, as a
// data: URL, before or after the options): in the job message when small,
// else streamed to the Object Store in filled chunks.
func TestJSONImageStreamed(t *testing.T) {
	st := startV1(t, time.Second)
	large := largePNG(t, 900_000)
	small := largePNG(t, 2_000)
	std := base64.StdEncoding.EncodeToString(large)
	wrapped := func(s string) string {
		var b strings.Builder
		for len(s) > 76 {
			b.WriteString(s[:76] + `\r\n`)
			s = s[76:]
		}
		return b.String() + s
	}
	for _, tc := range []struct {
		name  string
		body  string
		image []byte
	}{
		{"standard, options after", `{"image":"` + std + `","languages":"eng+spa"}`, large},
		{"options first", `{"languages":"eng+spa", "image" : "` + std + `"}`, large},
		{"URL-safe, unpadded, wrapped", `{"languages":"eng+spa","image":"` +
			wrapped(base64.RawURLEncoding.EncodeToString(large)) + `"}`, large},
		{"escaped slashes, data: URL", `{"languages":"eng+spa","image":"data:image/png;base64,` +
			strings.ReplaceAll(std, "/", `\/`) + `"}`, large},
		{"small: in the job message", `{"image":"` + base64.StdEncoding.EncodeToString(small) + `","languages":"eng+spa"}`, small},
		// Routes match without regard to case; the body was then read
		// whole before the handler (bodyLimits knows the route's own
		// spelling only), and is read from memory.
		{"/V1/JOBS", `{"image":"` + std + `","languages":"eng+spa"}`, large},
	} {
		t.Run(tc.name, func(t *testing.T) {
			route := "/v1/jobs"
			if strings.HasPrefix(tc.name, "/") {
				route = tc.name
			}
			r := do(t, st.app, jsonPost(route, tc.body))
			require.Equal(t, 202, r.status, r.raw)
			job := st.nextJob(t)
			require.Equal(t, []string{"eng", "spa"}, job.Languages)
			requireJobImage(t, st, job, tc.image, len(tc.image) <= contracts.InlineImageMax)
		})
	}
}

// TestJSONImageRefused checks that a JSON body refused for any reason,
// however far its image was streamed to the Object Store, leaves nothing
// there, runs no job and charges no key, and gets the reason
// decodeBase64Image gave.
func TestJSONImageRefused(t *testing.T) {
	const limit = 1 << 20 // testConfig's MaxImageBytes
	b64 := func(b []byte) string { return base64.StdEncoding.EncodeToString(b) }
	stored := b64(largePNG(t, 700_000))
	for _, tc := range []struct {
		name, route, body string
		wantStatus        int
		wantReason        string
	}{
		{"over the limit", "/uploadBase64", `{"imageBase64":"` + b64(largePNG(t, limit+1)) + `"}`, 413, "IMAGE_TOO_LARGE"},
		{"over the limit, v1", "/v1/jobs", `{"image":"` + b64(largePNG(t, limit+1)) + `"}`, 413, "IMAGE_TOO_LARGE"},
		{"stored, then malformed", "/uploadBase64", `{"imageBase64":"` + stored + `",}`, 400, "INVALID_REQUEST"},
		{"stored, then cut off", "/v1/ocr", `{"image":"` + stored + `"`, 400, "INVALID_REQUEST"},
		{"stored, then a bad option", "/uploadBase64", `{"imageBase64":"` + stored + `","pageSegMode":2}`, 400, "INVALID_REQUEST"},
		{"stored, then an unknown member", "/v1/jobs", `{"image":"` + stored + `","language":"eng"}`, 400, "INVALID_REQUEST"},
		{"stored, then a bad callbackUrl", "/v1/jobs", `{"image":"` + stored + `","callbackUrl":"ftp://x"}`, 400, "INVALID_CALLBACK_URL"},
		{"stored, then given twice", "/v1/jobs", `{"image":"` + stored + `","IMAGE":"` + stored + `"}`, 400, "INVALID_REQUEST"},
		{"stored, then not base64", "/uploadBase64", `{"imageBase64":"` + stored + `*AAAA"}`, 400, "INVALID_BASE64"},
		{"stored, then a stray padding", "/v1/ocr", `{"image":"` + stored[:len(stored)-8] + `=AAAAAAA"}`, 400, "INVALID_BASE64"},
		{"stored, then both alphabets", "/v1/ocr", `{"image":"` + strings.ReplaceAll(stored, "+", "-") + `_/"}`, 400, "INVALID_BASE64"},
		{"large, not an image", "/v1/jobs", `{"image":"` + b64(append([]byte("hello"), largePNG(t, 700_000)...)) + `"}`, 415, "UNSUPPORTED_MEDIA_TYPE"},
		{"not a string", "/uploadBase64", `{"imageBase64":["` + stored + `"]}`, 400, "INVALID_REQUEST"},
		{"null", "/uploadBase64", `{"imageBase64":null}`, 400, "MISSING_IMAGE"},
		{"padding only", "/v1/ocr", `{"image":"===="}`, 400, "EMPTY_IMAGE"},
		{"members too long", "/uploadBase64", `{"whitelist":"` + strings.Repeat("a", maxFormValue) + `","imageBase64":"` + stored + `"}`, 400, "INVALID_REQUEST"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := startV1(t, time.Second)
			r := do(t, st.app, jsonPost(tc.route, tc.body))
			require.Equal(t, tc.wantStatus, r.status, r.raw)
			require.Equal(t, tc.wantReason, reason(r), r.raw)
			requireRefusedClean(t, st)
		})
	}
}

// TestJSONImageUnknownKey checks that a large base64 image sent with a key
// keyservice does not know is never stored (keyservice is asked first,
// with the free whoami): 401, nothing verified or left behind.
func TestJSONImageUnknownKey(t *testing.T) {
	st := startV1(t, time.Second)
	req := jsonPost("/uploadBase64", `{"imageBase64":"`+base64.StdEncoding.EncodeToString(largePNG(t, 700_000))+`"}`)
	req.Header.Set("Authorization", "Bearer nobody")
	r := do(t, st.app, req)
	require.Equal(t, 401, r.status, r.raw)
	require.Equal(t, "INVALID_API_KEY", reason(r))
	names, chunks := imagesLeft(t, st.js)
	require.Empty(t, names)
	require.Zero(t, chunks, "not a chunk stored")
	require.Zero(t, st.keys.verifies.Load())
}

// countingStore counts what it is given and keeps none of it.
type countingStore struct{ n int64 }

func (d *countingStore) StoreImage(_ context.Context, _ string, r io.Reader) error {
	n, err := io.Copy(io.Discard, r)
	d.n += n
	return err
}

// TestJSONImageMemory checks that a 20 MB image in a JSON body is read
// with a bounded amount of memory: the reader allocates a few buffers,
// not the body, its string or the decoded image (100 MB in all when the
// body was read whole and decoded by encoding/json).
func TestJSONImageMemory(t *testing.T) {
	const size = 20_000_000
	img := make([]byte, size)
	copy(img, pngBytes)
	body := []byte(`{"languages":"eng","imageBase64":"` + base64.StdEncoding.EncodeToString(img) + `"}`)
	store := &countingStore{}
	spec := jsonSpec{field: "imageBase64", maxImage: size, inline: contracts.InlineImageMax, object: "job_x", store: store}
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	form, imageErr, err := readJSONImage(t.Context(), bytes.NewReader(body), spec)
	runtime.ReadMemStats(&after)
	require.NoError(t, err)
	require.NoError(t, imageErr)
	require.Equal(t, int64(size), store.n)
	require.Equal(t, int64(size), form.img.size)
	require.Equal(t, "job_x", form.img.ref)
	require.JSONEq(t, `{"languages":"eng"}`, string(form.rest))
	allocated := after.TotalAlloc - before.TotalAlloc
	t.Logf("allocated %d KiB reading a %d MB image", allocated>>10, size/1_000_000)
	require.Less(t, allocated, uint64(4<<20), "allocated while reading")
}

// uploadBase64Options are the members of a POST /uploadBase64 besides
// imageBase64, as its handler declares them.
type uploadBase64Options struct {
	Languages         string `json:"languages"`
	PageSegMode       *int   `json:"pageSegMode"`
	Whitelist         string `json:"whitelist"`
	Output            string `json:"output"`
	Pages             string `json:"pages"`
	DetectOrientation *bool  `json:"detectOrientation"`
}

// legacyBase64Body is how /uploadBase64 read its body before it was
// streamed: json.Unmarshal of the whole body, then decodeBase64Image.
func legacyBase64Body(body []byte, maxBytes int) (uploadBase64Options, []byte, error) {
	var b struct {
		ImageBase64 *string `json:"imageBase64"`
		uploadBase64Options
	}
	if err := json.Unmarshal(body, &b); err != nil {
		return b.uploadBase64Options, nil, apierr.New(400, apierr.InvalidRequest, "malformed")
	}
	if b.ImageBase64 == nil {
		return b.uploadBase64Options, nil, apierr.New(400, apierr.MissingImage, "missing")
	}
	img, err := decodeBase64Image(*b.ImageBase64, maxBytes)
	return b.uploadBase64Options, img, err
}

// decodeBase64Image is the decoder readJSONImage replaced: standard or
// URL-safe base64, padded or not, with line breaks, optionally as a data:
// URL.
func decodeBase64Image(s string, maxBytes int) ([]byte, error) {
	if strings.HasPrefix(s, "data:") {
		if _, rest, ok := strings.Cut(s, ";base64,"); ok {
			s = rest
		}
	}
	s = strings.Map(func(r rune) rune {
		if r == '\n' || r == '\r' || r == ' ' || r == '\t' {
			return -1
		}
		return r
	}, s)
	if s == "" {
		return nil, apierr.New(fiber.StatusBadRequest, apierr.EmptyImage, "The image is empty")
	}
	if base64.StdEncoding.DecodedLen(len(s)) > maxBytes+3 {
		return nil, apierr.New(fiber.StatusRequestEntityTooLarge, apierr.ImageTooLarge, "The image is larger than the limit")
	}
	enc := base64.StdEncoding
	if strings.ContainsAny(s, "-_") {
		enc = base64.URLEncoding
	}
	b, err := enc.WithPadding(base64.NoPadding).DecodeString(strings.TrimRight(s, "="))
	if err != nil {
		return nil, apierr.New(fiber.StatusBadRequest, apierr.InvalidBase64, "imageBase64 is not valid base64")
	}
	return b, nil
}

// streamedBase64Body reads body as /uploadBase64 does, storing images over
// inline bytes in store.
func streamedBase64Body(body []byte, maxBytes, inline int, store memStore) (uploadBase64Options, *image, error) {
	var opts uploadBase64Options
	form, imageErr, err := readJSONImage(context.Background(), bytes.NewReader(body), jsonSpec{field: "imageBase64",
		maxImage: int64(maxBytes), inline: inline, object: "job_fuzz", store: store})
	if err != nil {
		return opts, &form.img, err
	}
	if err := json.Unmarshal(form.rest, &opts); err != nil {
		return opts, &form.img, apierr.New(400, apierr.InvalidRequest, "malformed")
	}
	img, err := jsonImage(&form, imageErr, "imageBase64", maxBytes)
	if img == nil {
		img = &form.img
	}
	return opts, img, err
}

// outcome is a body's reason for refusal, or "" for an image accepted.
func outcome(err error) string {
	var e *apierr.Error
	switch {
	case err == nil:
		return ""
	case errors.As(err, &e):
		return string(e.Reason)
	case errors.Is(err, errJSONSyntax), errors.Is(err, errImageNotString), errors.Is(err, errMembersTooLong):
		return string(apierr.InvalidRequest)
	}
	return err.Error()
}

// FuzzJSONImage checks the streaming JSON reader against the buffered
// decoding it replaced (legacyBase64Body) on arbitrary bodies, with a
// small inline limit so that images are streamed to a store: the same
// reason for every body refused; for every body accepted, the same image
// byte for byte (in memory, or stored: then nothing else is) and the same
// options. Left out are what it refuses on purpose and json.Unmarshal
// accepted: the image given twice, and a body of null; and bodies that
// are not UTF-8, whose encoded length encoding/json counted after
// replacing each bad byte with three.
func FuzzJSONImage(f *testing.F) {
	png := base64.StdEncoding.EncodeToString(largePNG(f, 300))
	for _, s := range []string{
		`{"imageBase64":"iVBORw0KGgo="}`,
		`{"imageBase64":"` + png + `","languages":"eng","pageSegMode":6}`,
		`{"languages":"eng", "imageBase64" : "data:image/png;base64,` + png + `"}`,
		`{"IMAGEBASE64":"iVBO\nRw0K-_"}`, `{"imageBase64":"iVBO\/Rw0K+\u0041=="}`,
		`{"imageBase64":null}`, `{"imageBase64":""}`, `{"imageBase64":"===="}`, `{"imageBase64":5}`,
		`{"imageBase64":"x"} {}`, `{"imageBase64":"` + png + `x"}`, `{"pageSegMode":[1 2],"imageBase64":"QUFB"}`,
		`[]`, ``, `{"imageBase64":"\ud800"}`, `{"a":{"b":[1,{"c":"}"}]},"imageBase64":"QQ"}`,
	} {
		f.Add([]byte(s))
	}
	const limit, inline = 1024, 64
	f.Fuzz(func(t *testing.T, body []byte) {
		if !utf8.Valid(body) || strings.TrimSpace(string(body)) == "null" {
			t.Skip()
		}
		store := memStore{}
		gotOpts, got, err := streamedBase64Body(body, limit, inline, store)
		if errors.Is(err, errImageTwice) {
			t.Skip()
		}
		wantOpts, want, wantErr := legacyBase64Body(body, limit)
		wantReason := outcome(wantErr)
		if wantErr == nil {
			// What the handler refused after decoding.
			switch {
			case len(want) == 0:
				wantReason = string(apierr.EmptyImage)
			case len(want) > limit:
				wantReason = string(apierr.ImageTooLarge)
			}
		}
		gotReason := outcome(err)
		if gotReason != wantReason {
			t.Fatalf("%q: streamed %q (%v), buffered %q (%v)", body, gotReason, err, wantReason, wantErr)
		}
		if wantReason != "" {
			return
		}
		require.Equal(t, wantOpts, gotOpts)
		switch {
		case got.ref != "":
			require.Equal(t, want, store[got.ref], "stored image")
			require.Len(t, store, 1)
		case got.bytes != nil:
			require.Equal(t, want, got.bytes)
			require.Empty(t, store)
		default: // counted, not kept: not an image
			require.Equal(t, int64(len(want)), got.size)
			require.Empty(t, imagesniff.Format(want), "an image not kept")
			require.Empty(t, store)
		}
	})
}
