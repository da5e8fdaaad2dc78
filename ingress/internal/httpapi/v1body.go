package httpapi

import (
	"bytes"
	"encoding/json"
	"mime"
	"net/url"
	"strconv"
	"strings"

	"github.com/gofiber/fiber/v2"
	"github.com/ocrstack/ocrstack/ingress/internal/apierr"
)

// v1Input is what a POST /v1/ocr or /v1/jobs carries, its options as sent.
type v1Input struct {
	fields      optionFields
	callbackURL string
}

// v1JSON is the JSON body of the /v1 submissions.
type v1JSON struct {
	// Image is base64, standard or URL-safe, or a data: URL. readJSON
	// reads it: it is never in the members decoded into v1JSON, and is
	// named here for the API document.
	Image       *string `json:"image"`
	Languages   string  `json:"languages"`
	PageSegMode *int    `json:"pageSegMode"`
	Whitelist   string  `json:"whitelist"`
	Output      string  `json:"output"`
	Pages       string  `json:"pages"`
	// DetectOrientation is a JSON boolean.
	DetectOrientation *bool  `json:"detectOrientation"`
	CallbackURL       string `json:"callbackUrl"`
}

// maxCallbackURL bounds a callbackUrl, in bytes.
const maxCallbackURL = 2048

// v1Body reads a /v1 submission: a multipart/form-data body with the file
// part "image", streamed (readForm), and the options as fields, or a JSON
// body (v1JSON), streamed too (readJSON). It returns the image apart from the input, for
// the caller to delete when it was stored and no job took it
// (discardImage); it is not nil when the error is.
func (a *api) v1Body(c *fiber.Ctx, key string) (v1Input, *image, error) {
	ctype := c.Get(fiber.HeaderContentType)
	media, _, _ := mime.ParseMediaType(ctype)
	switch {
	case media == fiber.MIMEMultipartForm:
		form, err := a.readForm(c, key, "image", v1Names...)
		if err != nil {
			return v1Input{}, &image{}, err
		}
		img, err := form.image(a.cfg.MaxImageBytes)
		if err != nil {
			return v1Input{}, &form.file, err
		}
		return v1Input{fields: form.options(), callbackURL: form.value("callbackUrl")}, img, nil
	case ctype == "" || media == fiber.MIMEApplicationJSON || strings.HasSuffix(media, "+json"):
		form, imageErr, err := a.readJSON(c, key, "image", v1Shape)
		if err != nil {
			return v1Input{}, &form.img, err
		}
		in, img, err := v1FromJSON(&form, imageErr, a.cfg.MaxImageBytes)
		if img == nil {
			img = &form.img
		}
		return in, img, err
	}
	return v1Input{}, &image{}, apierr.New(fiber.StatusBadRequest, apierr.MissingImage,
		`Send the image as a multipart/form-data file part named "image", or as JSON {"image": "<base64 image>"}`)
}

// v1Shape is what a /v1 JSON body must be.
const v1Shape = `one JSON object: {"image": "<base64 image>", "languages", "pageSegMode", "whitelist", "output", "pages", "detectOrientation", "callbackUrl"}`

// v1FromJSON decodes a /v1 JSON body read by readJSON, refusing unknown
// members (a misspelt option would otherwise be silently ignored), and
// returns its image (jsonImage).
func v1FromJSON(form *jsonForm, imageErr error, maxImageBytes int) (v1Input, *image, error) {
	var b v1JSON
	dec := json.NewDecoder(bytes.NewReader(form.rest))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&b); err != nil {
		msg := "The body must be " + v1Shape
		if name, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
			msg = "The body has an unknown member " + name + "; it must be " + v1Shape
		}
		return v1Input{}, nil, apierr.New(fiber.StatusBadRequest, apierr.InvalidRequest, msg)
	}
	img, err := jsonImage(form, imageErr, "image", maxImageBytes)
	if err != nil {
		return v1Input{}, nil, err
	}
	psm := ""
	if b.PageSegMode != nil {
		psm = strconv.Itoa(*b.PageSegMode)
	}
	return v1Input{
		fields: optionFields{languages: b.Languages, pageSegMode: psm, whitelist: b.Whitelist, output: b.Output,
			pages: b.Pages, detectOrientation: boolField(b.DetectOrientation)},
		callbackURL: b.CallbackURL,
	}, img, nil
}

// checkCallback refuses a callbackUrl when callbacks are off or the URL is
// not an absolute http or https URL of at most maxCallbackURL bytes without
// credentials; "" means no callback.
func (a *api) checkCallback(raw string) error {
	if raw == "" {
		return nil
	}
	if !a.cfg.Callbacks {
		return apierr.New(fiber.StatusBadRequest, apierr.CallbacksDisabled,
			"Callbacks are not enabled on this server; poll GET /v1/jobs/{id} instead")
	}
	return validCallbackURL(raw)
}

// validCallbackURL checks a callbackUrl's form; where it points is checked
// when it is called.
func validCallbackURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || len(raw) > maxCallbackURL || (u.Scheme != "https" && u.Scheme != "http") ||
		u.Hostname() == "" || u.User != nil || u.Opaque != "" || strings.ContainsAny(raw, " \t\r\n") {
		return apierr.New(fiber.StatusBadRequest, apierr.InvalidCallbackURL,
			"callbackUrl must be an absolute http or https URL of at most 2048 bytes, without credentials")
	}
	return nil
}
