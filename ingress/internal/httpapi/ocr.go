package httpapi

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/gofiber/fiber/v2"
	"github.com/ocrstack/ocrstack/contracts"
	"github.com/ocrstack/ocrstack/ingress/internal/apierr"
	"github.com/ocrstack/ocrstack/ingress/internal/imagesniff"
	"github.com/ocrstack/ocrstack/ingress/internal/jobs"
)

// tutorialResult is the tutorial's {text, error} response.
type tutorialResult struct {
	Text  string  `json:"text"`
	Error *string `json:"error"`
}

// pictotextResult is the success body of POST /api/v1/ocr.
type pictotextResult struct {
	RequestID    string `json:"requestId"`
	JobID        string `json:"jobId"`
	DocumentType string `json:"documentType,omitempty"`
	Text         string `json:"text"`
}

// upload is the tutorial's POST /upload: multipart file field sampleFile.
func (a *api) upload(c *fiber.Ctx) error {
	key, err := bearer(c)
	if err != nil {
		return err
	}
	img, err := a.formImage(c, "sampleFile")
	if err != nil {
		return err
	}
	opts, err := parseOptions(c.FormValue("languages"), c.FormValue("pageSegMode"), c.FormValue("whitelist"))
	if err != nil {
		return err
	}
	res, err := a.recognize(c, key, img, opts, "/upload")
	if err != nil {
		return err
	}
	return c.JSON(tutorialResult{Text: res.Text})
}

// uploadBase64 is the tutorial's POST /uploadBase64: JSON {"imageBase64"}.
func (a *api) uploadBase64(c *fiber.Ctx) error {
	key, err := bearer(c)
	if err != nil {
		return err
	}
	var body struct {
		ImageBase64 *string `json:"imageBase64"`
		Languages   string  `json:"languages"`
		PageSegMode *int    `json:"pageSegMode"`
		Whitelist   string  `json:"whitelist"`
	}
	if err := json.Unmarshal(c.Body(), &body); err != nil {
		return apierr.New(fiber.StatusBadRequest, apierr.InvalidRequest, `The body must be JSON: {"imageBase64": "<base64 image>"}`)
	}
	if body.ImageBase64 == nil {
		return apierr.New(fiber.StatusBadRequest, apierr.MissingImage, `The field "imageBase64" is missing`)
	}
	img, err := decodeBase64Image(*body.ImageBase64, a.cfg.MaxImageBytes)
	if err != nil {
		return err
	}
	psm := ""
	if body.PageSegMode != nil {
		psm = strconv.Itoa(*body.PageSegMode)
	}
	opts, err := parseOptions(body.Languages, psm, body.Whitelist)
	if err != nil {
		return err
	}
	res, err := a.recognize(c, key, img, opts, "/uploadBase64")
	if err != nil {
		return err
	}
	return c.JSON(tutorialResult{Text: res.Text})
}

// pictotextOCR is PicToText's POST /api/v1/ocr: multipart file part "image"
// and an optional documentType.
func (a *api) pictotextOCR(c *fiber.Ctx) error {
	key, err := bearer(c)
	if err != nil {
		return err
	}
	docType := strings.TrimSpace(c.FormValue("documentType"))
	if len(docType) > 64 {
		return apierr.New(fiber.StatusBadRequest, apierr.InvalidRequest, "documentType must be at most 64 characters")
	}
	img, err := a.formImage(c, "image")
	if err != nil {
		return err
	}
	opts, err := parseOptions(c.FormValue("languages"), c.FormValue("pageSegMode"), c.FormValue("whitelist"))
	if err != nil {
		return err
	}
	res, err := a.recognize(c, key, img, opts, "/api/v1/ocr")
	if err != nil {
		return err
	}
	return c.JSON(pictotextResult{RequestID: requestIDOf(c), JobID: res.JobID, DocumentType: docType, Text: res.Text})
}

// formImage reads the multipart file part named field, in full.
func (a *api) formImage(c *fiber.Ctx, field string) ([]byte, error) {
	fh, err := c.FormFile(field)
	if err != nil {
		msg := `Send the image as a multipart/form-data file part named "` + field + `"`
		if c.FormValue(field) != "" {
			msg = `The "` + field + `" part must be a file, not a text value`
		}
		return nil, apierr.New(fiber.StatusBadRequest, apierr.MissingImage, msg)
	}
	if fh.Size > int64(a.cfg.MaxImageBytes) {
		return nil, apierr.New(fiber.StatusRequestEntityTooLarge, apierr.ImageTooLarge, "The image is larger than the limit of "+mib(a.cfg.MaxImageBytes))
	}
	f, err := fh.Open()
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(io.LimitReader(f, int64(a.cfg.MaxImageBytes)+1))
}

// decodeBase64Image accepts standard or URL-safe base64, padded or not, with
// line breaks, optionally as a data: URL.
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
		return nil, apierr.New(fiber.StatusRequestEntityTooLarge, apierr.ImageTooLarge, "The image is larger than the limit of "+mib(maxBytes))
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

// jobOptions are a request's optional recognition settings.
type jobOptions struct {
	languages   []string
	pageSegMode int
	whitelist   string
}

// Bounds of the options, checked here so a malformed request is refused
// before its key is charged; the worker checks the languages against what
// is installed.
const (
	maxLanguages   = 8
	maxLanguageLen = 32
)

// parseOptions reads the optional fields languages ("eng+spa"),
// pageSegMode (1, or 3 to 13) and whitelist, reporting every bad one.
func parseOptions(languages, pageSegMode, whitelist string) (jobOptions, error) {
	var o jobOptions
	var problems []string
	if languages = strings.TrimSpace(languages); languages != "" {
		o.languages = strings.Split(languages, "+")
		ok := len(o.languages) <= maxLanguages
		for _, l := range o.languages {
			ok = ok && l != "" && len(l) <= maxLanguageLen && strings.IndexFunc(l, func(r rune) bool {
				return !(r == '_' || 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9')
			}) < 0
		}
		if !ok {
			problems = append(problems, "languages must be up to 8 Tesseract language codes joined with +, such as eng+spa")
		}
	}
	if pageSegMode = strings.TrimSpace(pageSegMode); pageSegMode != "" {
		n, err := strconv.Atoi(pageSegMode)
		if err != nil || n < contracts.PageSegModeMin || n > contracts.PageSegModeMax || n == 2 {
			problems = append(problems, "pageSegMode must be 1 or 3 to 13 (Tesseract's page segmentation modes)")
		}
		o.pageSegMode = n
	}
	o.whitelist = whitelist
	if len(whitelist) > contracts.MaxWhitelist || !utf8.ValidString(whitelist) || strings.IndexFunc(whitelist, func(r rune) bool { return !unicode.IsPrint(r) }) >= 0 {
		problems = append(problems, "whitelist must be at most 256 bytes of printable characters")
	}
	if len(problems) > 0 {
		return jobOptions{}, apierr.New(fiber.StatusBadRequest, apierr.InvalidRequest, strings.Join(problems, "; "))
	}
	return o, nil
}

// recognize checks the image, verifies the key and runs the OCR job.
func (a *api) recognize(c *fiber.Ctx, key string, img []byte, opts jobOptions, route string) (contracts.OCRResult, error) {
	switch {
	case len(img) == 0:
		return contracts.OCRResult{}, apierr.New(fiber.StatusBadRequest, apierr.EmptyImage, "The image is empty")
	case len(img) > a.cfg.MaxImageBytes:
		return contracts.OCRResult{}, apierr.New(fiber.StatusRequestEntityTooLarge, apierr.ImageTooLarge, "The image is larger than the limit of "+mib(a.cfg.MaxImageBytes))
	case imagesniff.Format(img) == "":
		return contracts.OCRResult{}, apierr.New(fiber.StatusUnsupportedMediaType, apierr.UnsupportedMediaType,
			"The file is not an image or document we read; send JPEG, PNG, TIFF, WebP, GIF, BMP, PNM, JPEG 2000, HEIC, AVIF or PDF")
	}
	// fasthttp never cancels a handler, so every call gets its own deadline.
	ctx, cancel := context.WithTimeout(context.Background(), a.cfg.CallTimeout)
	defer cancel()
	v, err := a.verify(ctx, c, key, route)
	if err != nil {
		return contracts.OCRResult{}, err
	}
	job := contracts.OCRJob{
		JobID: newID("job"), RequestID: requestIDOf(c), Producer: "ingress",
		KeyID: v.KeyID, OwnerID: v.ExternalID, SubmittedAt: a.cfg.Now().UnixMilli(),
		Languages: opts.languages, PageSegMode: opts.pageSegMode, Whitelist: opts.whitelist,
	}
	c.Set("X-Job-Id", job.JobID)
	jobCtx, cancelJob := context.WithTimeout(context.Background(), a.cfg.SyncWait+a.cfg.CallTimeout)
	defer cancelJob()
	res, err := a.cfg.Jobs.Submit(jobCtx, job, img, a.cfg.SyncWait)
	switch {
	case errors.Is(err, jobs.ErrTimeout):
		return res, &apierr.Error{Status: fiber.StatusServiceUnavailable, Reason: apierr.OCRTimeout,
			Message: "The OCR job " + job.JobID + " did not finish in time; please retry", RetryAfter: 5}
	case errors.Is(err, jobs.ErrUnavailable):
		a.cfg.Logger.Error("submit job", "request_id", job.RequestID, "job_id", job.JobID, "err", err)
		return res, &apierr.Error{Status: fiber.StatusServiceUnavailable, Reason: apierr.Unavailable,
			Message: "The OCR queue is unavailable; please retry", RetryAfter: 1}
	case err != nil:
		return res, err
	case res.Status != contracts.JobSucceeded:
		return res, jobError(res.Error)
	}
	return res, nil
}
