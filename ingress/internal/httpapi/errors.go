package httpapi

import (
	"errors"
	"strings"

	"github.com/gofiber/fiber/v2"
	"github.com/ocrstack/ocrstack/contracts"
	"github.com/ocrstack/ocrstack/ingress/internal/apierr"
	"github.com/ocrstack/ocrstack/ingress/internal/keysclient"
)

// dialect is the error and result shape of a family of routes.
type dialect int

const (
	pictotext     dialect = iota // {"error":{"code","message","status","details":[{"reason"}]}}
	tutorial                     // {"text":null,"error":"...","reason":"..."}
	signupDialect                // {"keys":null,"error":"...","reason":"..."}
	unkeyDialect                 // {"meta":{"requestId"},"error":{"title","detail","status","type","errors"?}}
)

// dialectOf picks the shape by path, so errors raised before routing (a body
// over the limit) are shaped like the route the client called. /api/v1/ocr
// and the /v1 routes use PicToText's.
func dialectOf(path string) dialect {
	if path == "/v2" || strings.HasPrefix(path, "/v2/") {
		return unkeyDialect
	}
	switch path {
	case "/upload", "/uploadBase64":
		return tutorial
	case "/signup":
		return signupDialect
	}
	return pictotext
}

type pictotextError struct {
	Error pictotextErrorBody `json:"error"`
}

type pictotextErrorBody struct {
	Code    int               `json:"code"`
	Message string            `json:"message"`
	Status  string            `json:"status"`
	Details []pictotextDetail `json:"details"`
}

type pictotextDetail struct {
	Reason apierr.Reason `json:"reason"`
}

// handleError is the one place that turns errors into HTTP responses. On
// the /v2 routes it also maps keyservice's error replies and outages; the
// OCR routes turn those into their own errors before they get here.
func (a *api) handleError(c *fiber.Ctx, err error) error {
	var e *apierr.Error
	var fe *fiber.Error
	var ce *contracts.Error
	d := dialectOf(c.Path())
	switch {
	case errors.As(err, &e):
	case errors.As(err, &fe):
		e = fromFiber(fe, a.cfg.MaxImageBytes)
	case d == unkeyDialect && errors.As(err, &ce):
		e = keyserviceError(ce)
		if e.Status >= fiber.StatusInternalServerError {
			a.cfg.Logger.Error("keyservice error", "request_id", requestIDOf(c), "path", c.Path(), "err", err)
		}
	case d == unkeyDialect && errors.Is(err, keysclient.ErrUnavailable):
		a.cfg.Logger.Error("keyservice unavailable", "request_id", requestIDOf(c), "path", c.Path(), "err", err)
		e = &apierr.Error{Status: fiber.StatusServiceUnavailable, Reason: apierr.Unavailable,
			Message: "Key management is unavailable; please retry", RetryAfter: 1}
	default:
		a.cfg.Logger.Error("unhandled error", "request_id", requestIDOf(c), "path", c.Path(), "err", err)
		e = apierr.New(fiber.StatusInternalServerError, apierr.Internal, "Something went wrong on our side; please retry")
	}
	if ra := e.RetryAfterHeader(); ra != "" {
		c.Set(fiber.HeaderRetryAfter, ra)
	}
	c.Status(e.Status)
	switch d {
	case unkeyDialect:
		return c.JSON(unkeyErrorOf(c, e))
	case tutorial:
		return c.JSON(fiber.Map{"text": nil, "error": e.Message, "reason": e.Reason})
	case signupDialect:
		return c.JSON(fiber.Map{"keys": nil, "error": e.Message, "reason": e.Reason})
	default:
		return c.JSON(pictotextError{Error: pictotextErrorBody{
			Code: e.Status, Message: e.Message, Status: e.StatusText(), Details: []pictotextDetail{{Reason: e.Reason}},
		}})
	}
}

func fromFiber(fe *fiber.Error, maxImage int) *apierr.Error {
	switch fe.Code {
	case fiber.StatusRequestEntityTooLarge:
		return apierr.New(fe.Code, apierr.ImageTooLarge, "The request body is larger than the limit of "+mib(maxImage))
	case fiber.StatusNotFound:
		return apierr.New(fe.Code, apierr.NotFound, "No such route")
	case fiber.StatusMethodNotAllowed:
		return apierr.New(fe.Code, apierr.MethodNotAllowed, "Method not allowed on this route")
	case fiber.StatusBadRequest, fiber.StatusUnprocessableEntity:
		return apierr.New(fiber.StatusBadRequest, apierr.InvalidRequest, "The request could not be parsed")
	}
	return apierr.New(fe.Code, apierr.Internal, fe.Message)
}

// keyserviceError maps keyservice's error reply to a public error. Its
// message is safe to show (contracts.Error says so), except for internal
// failures. The switch names every contracts.Code, so a new code is a
// compile-time reminder to decide.
func keyserviceError(e *contracts.Error) *apierr.Error {
	msg := func(fallback string) string {
		if e.Message == "" {
			return fallback
		}
		return e.Message
	}
	switch e.Code {
	case contracts.CodeBadRequest:
		return apierr.New(fiber.StatusBadRequest, apierr.InvalidRequest, msg("The request is not valid"))
	case contracts.CodeNotFound:
		return apierr.New(fiber.StatusNotFound, apierr.NotFound, msg("Not found"))
	case contracts.CodeConflict:
		return apierr.New(fiber.StatusConflict, apierr.Conflict, msg("The request conflicts with an existing resource"))
	case contracts.CodeTimeout:
		return &apierr.Error{Status: fiber.StatusServiceUnavailable, Reason: apierr.Unavailable,
			Message: "Key management timed out; please retry", RetryAfter: 1}
	case contracts.CodeUnavailable:
		return &apierr.Error{Status: fiber.StatusServiceUnavailable, Reason: apierr.Unavailable,
			Message: "Key storage is unavailable for a moment; please retry", RetryAfter: 1}
	case contracts.CodeInternal, contracts.CodeUnsupportedMedia, contracts.CodeUnreadableImage,
		contracts.CodeImageTooLarge, contracts.CodeUnsupportedLanguage, contracts.CodeTooManyPages, contracts.CodeResultTooLarge, contracts.CodePageOutOfRange:
		// The OCR codes never come from keyservice: a broken invariant.
		return apierr.New(fiber.StatusInternalServerError, apierr.Internal, "Something went wrong on our side; please retry")
	}
	return apierr.New(fiber.StatusInternalServerError, apierr.Internal, "Something went wrong on our side; please retry")
}

// jobError maps a worker's failure code to a public error. The switch names
// every contracts.Code, so a new code is a compile-time reminder to decide.
func jobError(e *contracts.Error) *apierr.Error {
	if e == nil {
		return apierr.New(fiber.StatusInternalServerError, apierr.Internal, "The OCR job failed without a reason")
	}
	switch e.Code {
	case contracts.CodeUnsupportedMedia:
		return apierr.New(fiber.StatusUnsupportedMediaType, apierr.UnsupportedMediaType, e.Message)
	case contracts.CodeUnreadableImage:
		return apierr.New(fiber.StatusUnprocessableEntity, apierr.UnreadableImage, e.Message)
	case contracts.CodeImageTooLarge:
		return apierr.New(fiber.StatusUnprocessableEntity, apierr.ImageTooManyPixels, e.Message)
	case contracts.CodeTooManyPages:
		return apierr.New(fiber.StatusUnprocessableEntity, apierr.TooManyPages, e.Message)
	case contracts.CodeResultTooLarge:
		return apierr.New(fiber.StatusUnprocessableEntity, apierr.ResultTooLarge, e.Message)
	case contracts.CodePageOutOfRange:
		return apierr.New(fiber.StatusUnprocessableEntity, apierr.PageOutOfRange, e.Message)
	case contracts.CodeUnsupportedLanguage:
		return apierr.New(fiber.StatusBadRequest, apierr.UnsupportedLanguage, e.Message)
	case contracts.CodeBadRequest:
		return apierr.New(fiber.StatusBadRequest, apierr.InvalidRequest, e.Message)
	case contracts.CodeTimeout:
		return &apierr.Error{Status: fiber.StatusServiceUnavailable, Reason: apierr.OCRTimeout, Message: e.Message, RetryAfter: 5}
	case contracts.CodeNotFound, contracts.CodeInternal, contracts.CodeConflict, contracts.CodeUnavailable:
		// Conflict and Unavailable come only from keyservice: a broken invariant.
		return apierr.New(fiber.StatusInternalServerError, apierr.Internal, "The OCR job failed on our side; please retry")
	}
	return apierr.New(fiber.StatusInternalServerError, apierr.Internal, "The OCR job failed on our side; please retry")
}

func mib(n int) string {
	return itoa(n>>20) + " MiB"
}
