package httpapi

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/ocrstack/ocrstack/contracts"
	"github.com/ocrstack/ocrstack/ingress/internal/apierr"
	"github.com/ocrstack/ocrstack/ingress/internal/jobs"
)

// Request bodies are streamed (fiber's StreamRequestBody): fasthttp hands
// a handler the body as it arrives instead of reading it whole first. The
// multipart OCR routes read theirs part by part (readForm, readMultipart),
// after the admission gate and the Authorization header's form, so a
// refused request reads no image. The JSON OCR routes (the base64 images
// of /uploadBase64 and JSON POST /v1/ocr and /v1/jobs) read theirs as it
// arrives too, after the gate (readJSON, jsonbody.go). Every other body is
// read whole into memory, up to bodyLimit, before it is decoded: by
// bodyLimits for the routes that are not OCR routes, by the OCR handler
// itself (bufferBody) for a non-multipart body to a multipart route.

// A route other than an OCR route takes a small JSON body, but reads any
// body up to bodyLimit whole before its handler runs, as fasthttp did. So
// that a flood of large bodies there cannot hold bodyLimit per connection,
// at most maxLargeBodies requests with a body over smallBody bytes (or of
// unknown length) are read and handled at once; the others wait for a
// slot, holding only their connection.
const (
	smallBody      = 64 << 10
	maxLargeBodies = 4
)

// storeTimeout bounds reading a multipart OCR body and streaming its image
// to the Object Store; the connection's ReadTimeout (60 s) cuts a slow
// client off first.
const storeTimeout = 90 * time.Second

// ocrPaths are the POST routes that read their own bodies, after
// admission.
var ocrPaths = map[string]bool{"/upload": true, "/uploadBase64": true, "/api/v1/ocr": true, "/v1/ocr": true, "/v1/jobs": true}

// bodyLimit is the largest request body read, in bytes: room for an image
// of MaxImageBytes in base64 and for multipart framing.
func (a *api) bodyLimit() int { return a.cfg.MaxImageBytes*4/3 + 1<<20 }

// bodyLimits refuses a body announced larger than bodyLimit at once, as
// fasthttp did before bodies were streamed (413, the connection closed
// unread). An OCR route's body is left to its handler and what the handler
// left unread is drained afterwards, so that the client, still sending,
// reads the answer instead of a reset; any other body is read here.
func (a *api) bodyLimits(c *fiber.Ctx) error {
	if c.Request().Header.ContentLength() > a.bodyLimit() {
		c.Context().SetConnectionClose()
		return fiber.ErrRequestEntityTooLarge
	}
	if c.Method() == fiber.MethodPost && ocrPaths[c.Path()] {
		defer a.drain(c)
		return c.Next()
	}
	if n := c.Request().Header.ContentLength(); n > smallBody || n == -1 {
		a.largeBodies <- struct{}{}
		defer func() { <-a.largeBodies }()
	}
	if err := a.bufferBody(c); err != nil {
		return err
	}
	return c.Next()
}

// drain reads and drops what is left of the body, up to bodyLimit; a
// longer one closes the connection after the answer.
func (a *api) drain(c *fiber.Ctx) {
	stream := c.Context().RequestBodyStream()
	if stream == nil {
		return
	}
	if _, err := io.CopyN(io.Discard, stream, int64(a.bodyLimit())+1); err != io.EOF {
		c.Context().SetConnectionClose()
	}
}

// bufferBody reads the whole body into memory, up to bodyLimit, so that
// c.Body() returns it.
func (a *api) bufferBody(c *fiber.Ctx) error {
	stream := c.Context().RequestBodyStream()
	if stream == nil {
		return nil
	}
	var b []byte
	var err error
	if n := c.Request().Header.ContentLength(); n >= 0 {
		// Content-Length is at most bodyLimit here; the stream ends there.
		b = make([]byte, n)
		_, err = io.ReadFull(stream, b)
	} else {
		b, err = io.ReadAll(&limitReader{r: stream, max: int64(a.bodyLimit())})
	}
	if err != nil {
		return a.bodyError(c, err)
	}
	c.Request().SetBodyRaw(b)
	return nil
}

// bodyError maps an error of reading the body to a public one, as
// fasthttp's own reading of bodies did: 413 past the limit, 408 on a
// timeout, else 400.
func (a *api) bodyError(c *fiber.Ctx, err error) error {
	var ne net.Error
	var long *fieldTooLongError
	var public *apierr.Error
	switch {
	case errors.As(err, &public):
		return public
	case errors.Is(err, errBodyTooLarge):
		c.Context().SetConnectionClose()
		return fiber.ErrRequestEntityTooLarge
	case errors.As(err, &long):
		return apierr.New(fiber.StatusBadRequest, apierr.InvalidRequest,
			fmt.Sprintf("The form field %q is longer than %d KiB", long.name, maxFormValue>>10))
	case errors.Is(err, jobs.ErrUnavailable):
		a.cfg.Logger.Error("store image", "request_id", requestIDOf(c), "err", err)
		return &apierr.Error{Status: fiber.StatusServiceUnavailable, Reason: apierr.Unavailable,
			Message: "The OCR queue is unavailable; please retry", RetryAfter: 1}
	case errors.As(err, &ne) && ne.Timeout(), errors.Is(err, context.DeadlineExceeded):
		c.Context().SetConnectionClose()
		return fiber.ErrRequestTimeout
	}
	return fiber.ErrBadRequest
}

// uploadForm is the form of a multipart OCR request.
type uploadForm struct {
	c     *fiber.Ctx
	field string
	multipartForm
	// streamed: the body was a multipart form, read by readMultipart;
	// otherwise values came from fiber (the query and a URL-encoded body).
	streamed bool
}

// readForm reads an OCR request's form: the file part field, streamed
// (see readMultipart), and the text fields names. A body that is not
// multipart/form-data is read whole and has no file part; its values are
// those of the query and of a URL-encoded body, as fiber's FormValue
// gives them. A malformed form is 400 INVALID_REQUEST when its length was
// announced, else a form without fields, as before bodies were streamed.
// The caller deletes a stored image that no job took
// (discardImage(&form.file)).
//
// key is the request's API key: before a large image is streamed to the
// object store, keyservice is asked whether the key exists (keys.v1.whoami,
// which spends nothing), so a client without a key cannot fill the store
// with uploads refused afterwards; an unknown key is 401 INVALID_API_KEY
// once the body is read, and any other answer leaves the key to the
// verification.
func (a *api) readForm(c *fiber.Ctx, key, field string, names ...string) (*uploadForm, error) {
	names = append(slices.Clip(names), field)
	f := &uploadForm{c: c, field: field}
	boundary := string(c.Request().Header.MultipartFormBoundary())
	if boundary == "" {
		if err := a.bufferBody(c); err != nil {
			return nil, err
		}
		f.values = map[string]string{}
		for _, n := range names {
			f.values[n] = strings.Clone(c.FormValue(n))
		}
		return f, nil
	}
	f.streamed = true
	// The stream, unless bodyLimits read the body already (a path spelt
	// unlike ocrPaths: "/Upload").
	body := c.Context().RequestBodyStream()
	if body == nil {
		body = bytes.NewReader(c.Request().Body())
	}
	limit := int64(a.bodyLimit())
	body = &limitReader{r: body, max: limit}
	switch ce := string(c.Request().Header.ContentEncoding()); ce {
	case "":
	case "gzip": // as fasthttp's form parser, the one encoding it takes
		zr, err := gzip.NewReader(body)
		if err != nil {
			return nil, a.bodyError(c, err)
		}
		body = &limitReader{r: zr, max: limit}
	default:
		return nil, apierr.New(fiber.StatusBadRequest, apierr.InvalidRequest, "Content-Encoding must be gzip or none")
	}
	ctx, cancel := context.WithTimeout(context.Background(), storeTimeout)
	defer cancel()
	form, err := readMultipart(ctx, body, boundary, formSpec{
		field: field, names: names, maxImage: int64(a.cfg.MaxImageBytes), inline: contracts.InlineImageMax,
		object: newID("job"), store: a.cfg.Jobs, authorize: a.knownKey(key),
	})
	f.multipartForm = form
	if err != nil {
		a.discardImage(&f.file)
		if !errors.Is(err, errBodyTooLarge) {
			// fasthttp read a body whole before parsing it: one past the
			// limit was a 413 however malformed.
			if _, rerr := io.Copy(io.Discard, body); errors.Is(rerr, errBodyTooLarge) {
				err = rerr
			}
		}
		err = a.bodyError(c, err)
		if err == fiber.ErrBadRequest && c.Request().Header.ContentLength() <= 0 {
			// fasthttp parsed a form of unknown or no length only when a
			// handler asked for it, and a broken one then had no fields.
			f.multipartForm = multipartForm{values: map[string]string{}}
			return f, nil
		}
		return nil, err
	}
	return f, nil
}

// value is the text field name as fiber's FormValue gives it: the query's
// when set, else the form's first.
func (f *uploadForm) value(name string) string {
	if f.streamed {
		if q := f.c.Context().QueryArgs().Peek(name); len(q) > 0 {
			return string(q)
		}
	}
	return f.values[name]
}

// image returns the form's image: 400 MISSING_IMAGE without a file part,
// 413 IMAGE_TOO_LARGE past maxBytes.
func (f *uploadForm) image(maxBytes int) (*image, error) {
	if !f.hasFile {
		msg := `Send the image as a multipart/form-data file part named "` + f.field + `"`
		if f.value(f.field) != "" {
			msg = `The "` + f.field + `" part must be a file, not a text value`
		}
		return nil, apierr.New(fiber.StatusBadRequest, apierr.MissingImage, msg)
	}
	if f.file.size > int64(maxBytes) {
		return nil, apierr.New(fiber.StatusRequestEntityTooLarge, apierr.ImageTooLarge, "The image is larger than the limit of "+mib(maxBytes))
	}
	return &f.file, nil
}

// options are the form's option fields.
func (f *uploadForm) options() optionFields {
	return optionFields{
		languages: f.value("languages"), pageSegMode: f.value("pageSegMode"),
		whitelist: f.value("whitelist"), output: f.value("output"),
		pages: f.value("pages"), detectOrientation: f.value("detectOrientation"),
	}
}

// The text fields of the multipart OCR routes: the options, and those of
// PicToText's route and of the /v1 routes.
var (
	optionNames    = []string{"languages", "pageSegMode", "whitelist", "output", "pages", "detectOrientation"}
	pictotextNames = append(slices.Clip(optionNames), "documentType")
	v1Names        = append(slices.Clip(optionNames), "callbackUrl")
)

// knownKey returns readForm's check of key before a large image is stored:
// 401 INVALID_API_KEY when keyservice knows no such key; nil on any other
// answer, error included (the verification that follows decides).
func (a *api) knownKey(key string) func(context.Context) error {
	return func(ctx context.Context) error {
		var info contracts.KeyInfo
		err := a.cfg.Keys.Call(ctx, contracts.SubjectKeysWhoami, contracts.WhoamiRequest{Key: key}, &info)
		var ce *contracts.Error
		if errors.As(err, &ce) && ce.Code == contracts.CodeNotFound {
			return apierr.New(fiber.StatusUnauthorized, apierr.InvalidAPIKey, "Invalid or inactive API key")
		}
		return nil
	}
}
