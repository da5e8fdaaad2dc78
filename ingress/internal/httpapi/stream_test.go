package httpapi

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/ocrstack/ocrstack/contracts"
	"github.com/ocrstack/ocrstack/ingress/internal/imagesniff"
	"github.com/stretchr/testify/require"
)

// largePNG is a PNG signature and random bytes, n in all: taken for an
// image by the ingress, and over contracts.InlineImageMax for n above it.
func largePNG(t testing.TB, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	copy(b, pngBytes)
	_, _ = rand.Read(b[len(pngBytes):])
	return b
}

// multipartRequest is a POST of route with the file part field holding
// image, then the text fields, in that order.
func multipartRequest(t *testing.T, route, field string, image []byte, fields map[string]string) *http.Request {
	t.Helper()
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	fw, err := mw.CreateFormFile(field, "scan.png")
	require.NoError(t, err)
	_, _ = fw.Write(image)
	for k, v := range fields {
		require.NoError(t, mw.WriteField(k, v))
	}
	require.NoError(t, mw.Close())
	req := httptest.NewRequest(http.MethodPost, route, &body)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	req.Header.Set("Authorization", "Bearer good")
	return req
}

// imagesLeft returns the objects in the images bucket and the number of
// chunk messages it holds, of objects whole or partial.
func imagesLeft(t *testing.T, js jetstream.JetStream) ([]string, uint64) {
	t.Helper()
	obs, err := js.ObjectStore(t.Context(), contracts.ImagesBucket)
	require.NoError(t, err)
	var names []string
	infos, err := obs.List(t.Context())
	if !errors.Is(err, jetstream.ErrNoObjectsFound) {
		require.NoError(t, err)
	}
	for _, info := range infos {
		names = append(names, info.Name)
	}
	stream, err := js.Stream(t.Context(), "OBJ_"+contracts.ImagesBucket)
	require.NoError(t, err)
	info, err := stream.Info(t.Context(), jetstream.WithSubjectFilter("$O."+contracts.ImagesBucket+".C.>"))
	require.NoError(t, err)
	var chunks uint64
	for _, n := range info.State.Subjects {
		chunks += n
	}
	return names, chunks
}

// TestStreamedImageRefused checks, on the real jobs.Submitter, that a
// multipart image over the limit is a 413 IMAGE_TOO_LARGE and that an
// image refused for any reason after it was streamed to the Object Store
// leaves nothing there (no object, no chunk), runs no job and charges no
// key, whichever the route and wherever the bad field stands.
func TestStreamedImageRefused(t *testing.T) {
	const limit = 1 << 20 // testConfig's MaxImageBytes
	cases := []struct {
		name       string
		route      string
		image      []byte
		fields     map[string]string
		wantStatus int
		wantReason string
	}{
		{"over the limit", "/upload", largePNG(t, limit+1), nil, 413, "IMAGE_TOO_LARGE"},
		{"far over the limit", "/api/v1/ocr", largePNG(t, limit+200_000), nil, 413, "IMAGE_TOO_LARGE"},
		{"over the limit, sync", "/v1/ocr", largePNG(t, limit+1), nil, 413, "IMAGE_TOO_LARGE"},
		{"over the limit, async", "/v1/jobs", largePNG(t, limit+1), nil, 413, "IMAGE_TOO_LARGE"},
		{"stored, then a bad option", "/upload", largePNG(t, 700_000), map[string]string{"pageSegMode": "2"}, 400, "INVALID_REQUEST"},
		{"stored, then a bad documentType", "/api/v1/ocr", largePNG(t, 700_000), map[string]string{"documentType": string(make([]byte, 65))}, 400, "INVALID_REQUEST"},
		{"stored, then a bad callbackUrl", "/v1/jobs", largePNG(t, 700_000), map[string]string{"callbackUrl": "ftp://x"}, 400, "INVALID_CALLBACK_URL"},
		{"stored, then a field too long", "/v1/ocr", largePNG(t, 700_000), map[string]string{"whitelist": string(make([]byte, maxFormValue+1))}, 400, "INVALID_REQUEST"},
		{"large, not an image", "/v1/jobs", append([]byte("hello"), largePNG(t, 700_000)...), nil, 415, "UNSUPPORTED_MEDIA_TYPE"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			st := startV1(t, time.Second)
			field := "image"
			if tc.route == "/upload" {
				field = "sampleFile"
			}
			r := do(t, st.app, multipartRequest(t, tc.route, field, tc.image, tc.fields))
			require.Equal(t, tc.wantStatus, r.status, r.raw)
			require.Equal(t, tc.wantReason, reason(r), r.raw)
			requireRefusedClean(t, st)
		})
	}
}

// TestStreamedImageUnknownKey checks that a large image sent with a key
// keyservice does not know is never stored: keyservice is asked (whoami,
// free) before the first byte goes to the Object Store, and the answer is
// 401 INVALID_API_KEY once the body is read, with nothing verified or left
// behind; a small one, kept in memory, gets the same 401 from the
// verification. A known key's large image is stored as before.
func TestStreamedImageUnknownKey(t *testing.T) {
	for _, route := range []string{"/upload", "/api/v1/ocr", "/v1/ocr", "/v1/jobs"} {
		t.Run(route, func(t *testing.T) {
			st := startV1(t, time.Second)
			field := "image"
			if route == "/upload" {
				field = "sampleFile"
			}
			req := multipartRequest(t, route, field, largePNG(t, 700_000), nil)
			req.Header.Set("Authorization", "Bearer nobody")
			r := do(t, st.app, req)
			require.Equal(t, 401, r.status, r.raw)
			require.Equal(t, "INVALID_API_KEY", reason(r), r.raw)
			names, chunks := imagesLeft(t, st.js)
			require.Empty(t, names, "objects left")
			require.Zero(t, chunks, "chunks left: the image was streamed")
			require.Zero(t, st.keys.verifies.Load(), "refused before any verification")

			req = multipartRequest(t, route, field, largePNG(t, 1000), nil)
			req.Header.Set("Authorization", "Bearer nobody")
			r = do(t, st.app, req)
			require.Equal(t, 401, r.status, r.raw)
			require.Equal(t, "INVALID_API_KEY", reason(r), r.raw)
		})
	}
}

// TestStreamedImageQueued checks that a multipart image over the inline
// limit reaches the job through the Object Store byte for byte, named by
// the job, whichever side of the image its options stand; and that one
// within it still rides inline.
func TestStreamedImageQueued(t *testing.T) {
	st := startV1(t, time.Second)
	for _, tc := range []struct {
		name       string
		image      []byte
		optsBefore bool
		wantInline bool
	}{
		{"large", largePNG(t, 900_000), false, false},
		{"large, options first", largePNG(t, contracts.InlineImageMax+1), true, false},
		{"at the inline limit", largePNG(t, contracts.InlineImageMax), false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var body bytes.Buffer
			mw := multipart.NewWriter(&body)
			if tc.optsBefore {
				require.NoError(t, mw.WriteField("languages", "eng+spa"))
			}
			fw, err := mw.CreateFormFile("image", "scan.png")
			require.NoError(t, err)
			_, _ = fw.Write(tc.image)
			if !tc.optsBefore {
				require.NoError(t, mw.WriteField("languages", "eng+spa"))
			}
			require.NoError(t, mw.Close())
			req := httptest.NewRequest(http.MethodPost, "/v1/jobs", &body)
			req.Header.Set("Content-Type", mw.FormDataContentType())
			req.Header.Set("Authorization", "Bearer good")
			r := do(t, st.app, req)
			require.Equal(t, 202, r.status, r.raw)
			job := st.nextJob(t)
			require.Equal(t, []string{"eng", "spa"}, job.Languages)
			requireJobImage(t, st, job, tc.image, tc.wantInline)
		})
	}
}

// requireJobImage checks that job carries image: in its message when
// inline, else as the object it names, stored in filled chunks.
func requireJobImage(t *testing.T, st *v1Stack, job contracts.OCRJob, image []byte, inline bool) {
	t.Helper()
	if inline {
		require.Empty(t, job.ImageRef)
		require.Equal(t, image, job.Image)
		return
	}
	require.Equal(t, job.JobID, job.ImageRef)
	require.Empty(t, job.Image)
	obs, err := st.js.ObjectStore(t.Context(), contracts.ImagesBucket)
	require.NoError(t, err)
	stored, err := obs.GetBytes(t.Context(), job.ImageRef)
	require.NoError(t, err)
	require.Equal(t, image, stored)
	info, err := obs.GetInfo(t.Context(), job.ImageRef)
	require.NoError(t, err)
	require.LessOrEqual(t, info.Chunks, uint32(len(image)/(128<<10)+1), "chunks are filled, not one per read")
}

// requireRefusedClean checks what a refused upload leaves: no object or
// chunk in the images bucket, no key verified, no job published.
func requireRefusedClean(t *testing.T, st *v1Stack) {
	t.Helper()
	names, chunks := imagesLeft(t, st.js)
	require.Empty(t, names, "objects left")
	require.Zero(t, chunks, "chunks left")
	require.Zero(t, st.keys.verifies.Load(), "a refused image charges no key")
	select {
	case job := <-st.jobs:
		t.Fatalf("job %s published", job.JobID)
	default:
	}
}

// memStore is an imageStore in memory that behaves like
// jobs.Submitter.StoreImage: a failing source leaves nothing.
type memStore map[string][]byte

func (m memStore) StoreImage(_ context.Context, name string, r io.Reader) error {
	b, err := io.ReadAll(&fullReader{r: r})
	if err != nil {
		return err
	}
	m[name] = b
	return nil
}

// FuzzReadMultipart checks the streaming form reader against
// mime/multipart's ReadForm (what fasthttp parsed forms with) on arbitrary
// bodies: it never panics; what it accepts, ReadForm reads alike (the
// first file part named image, byte for byte, in memory up to the inline
// limit or stored past it, dropped past the image limit or when it is not
// an image; the first value of each kept text field); and it stores
// nothing but the image it reports.
func FuzzReadMultipart(f *testing.F) {
	part := func(disposition, body string) string {
		return "--b\r\nContent-Disposition: form-data; " + disposition + "\r\n\r\n" + body + "\r\n"
	}
	png := string(pngBytes)
	for _, s := range []string{
		part(`name="image"; filename="a.png"`, png) + part(`name="languages"`, "eng") + "--b--\r\n",
		part(`name="languages"`, "eng") + part(`name="languages"`, "spa") + part(`name="image"; filename="a.png"`, png+string(make([]byte, 60))) + "--b--\r\n",
		part(`name="image"; filename="a.png"`, png+string(make([]byte, 200))) + "--b--\r\n",
		part(`name="image"; filename="a.txt"`, "hello, this is text and not an image at all") + "--b--\r\n",
		part(`name="image"`, "text") + part(`name="image"; filename="b.png"`, png) + part(`name="image"; filename="c.png"`, "x") + "--b--\r\n",
		part(`name="other"; filename="a.png"`, png) + part(`name=""`, "x") + "--b--\r\n",
		"--b\r\nContent-Disposition: form-data; name=\"image\"; filename=\"q.png\"\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n=89PNG\r\n--b--\r\n",
		part(`name="image"; filename="a.png"`, png), "--b--\r\n", "", "--b\r\n\r\n", "garbage",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		store := memStore{}
		spec := formSpec{field: "image", names: []string{"languages", "image"}, maxImage: 100, inline: 40, object: "obj", store: store}
		form, err := readMultipart(t.Context(), bytes.NewReader(body), "b", spec)
		if form.file.ref == "" && len(store) > 0 {
			t.Fatalf("stored an image it did not report")
		}
		if err != nil {
			return
		}
		want, werr := multipart.NewReader(bytes.NewReader(body), "b").ReadForm(1 << 20)
		if werr != nil {
			return // ReadForm's own bounds (parts, headers)
		}
		defer want.RemoveAll()
		for _, name := range spec.names {
			got, ok := form.values[name]
			if vs := want.Value[name]; len(vs) > 0 {
				if !ok || got != vs[0] {
					t.Fatalf("field %s = %q, %v; ReadForm %q", name, got, ok, vs[0])
				}
			} else if ok {
				t.Fatalf("field %s = %q; ReadForm has none", name, got)
			}
		}
		files := want.File["image"]
		if form.hasFile != (len(files) > 0) {
			t.Fatalf("file part found %v; ReadForm found %d", form.hasFile, len(files))
		}
		if !form.hasFile {
			return
		}
		fh, err := files[0].Open()
		if err != nil {
			t.Fatal(err)
		}
		wantImg, _ := io.ReadAll(fh)
		fh.Close()
		img := form.file
		switch n := int64(len(wantImg)); {
		case n > spec.maxImage:
			if img.size <= spec.maxImage || img.ref != "" || img.bytes != nil {
				t.Fatalf("image of %d bytes kept: size %d, ref %q", n, img.size, img.ref)
			}
		case img.size != n || img.format != imagesniff.Format(wantImg):
			t.Fatalf("image of %d bytes (%q) read as %d bytes (%q)", n, imagesniff.Format(wantImg), img.size, img.format)
		case n <= int64(spec.inline):
			if !bytes.Equal(img.bytes, wantImg) || img.ref != "" {
				t.Fatalf("inline image differs")
			}
		case img.format == "":
			if img.ref != "" || img.bytes != nil {
				t.Fatalf("unreadable image kept")
			}
		default:
			if img.ref != spec.object || !bytes.Equal(store[img.ref], wantImg) || img.bytes != nil {
				t.Fatalf("stored image differs")
			}
		}
	})
}
