package httpapi

import (
	"net/http"
	"regexp"
	"strings"

	"github.com/gofiber/fiber/v2"
	"github.com/ocrstack/ocrstack/ingress/internal/apierr"
)

// unkeyError is Unkey's error body: RFC 7807 fields under "error", and for
// a 400 the list of invalid fields (BadRequestErrorDetails).
type unkeyError struct {
	Meta  v2Meta         `json:"meta"`
	Error unkeyErrorBody `json:"error"`
}

type unkeyErrorBody struct {
	Title  string `json:"title"`
	Detail string `json:"detail"`
	Status int    `json:"status"`
	Type   string `json:"type"`
	// Errors is required on a 400 and absent otherwise.
	Errors *[]unkeyValidationError `json:"errors,omitempty"`
}

type unkeyValidationError struct {
	Location string `json:"location"`
	Message  string `json:"message"`
	Fix      string `json:"fix,omitempty"`
}

// unkeyDocs prefixes the problem types, which are Unkey's own documentation
// pages for the equivalent error codes.
const unkeyDocs = "https://unkey.com/docs/errors/"

// unkeyErrorOf renders e in Unkey's shape. An error raised before the
// request-ID middleware ran (a body over fiber's limit) gets a fresh ID.
func unkeyErrorOf(c *fiber.Ctx, e *apierr.Error) unkeyError {
	id := requestIDOf(c)
	if id == "" {
		id = newID("req")
	}
	title := http.StatusText(e.Status)
	if e.Status == fiber.StatusConflict {
		title = "Conflicting Resource" // Unkey's wording
	}
	body := unkeyErrorBody{Title: title, Detail: e.Message, Status: e.Status, Type: unkeyType(e, c.Path())}
	if e.Status == fiber.StatusBadRequest {
		errs := validationErrors(e, c.Path())
		body.Errors = &errs
	}
	return unkeyError{Meta: v2Meta{RequestID: id}, Error: body}
}

// keyserviceField is the "field: problem" form of each line of keyservice's
// BAD_REQUEST message: a member path such as ratelimits[0].duration.
var keyserviceField = regexp.MustCompile(`^([A-Za-z][A-Za-z0-9_]*(?:\[[0-9]+\]|\.[A-Za-z][A-Za-z0-9_]*)*): (.+)$`)

// validationErrors is a 400's errors[], which Unkey never leaves empty (the
// SDK's BadRequestErrorResponse tells callers to read it). The schema check
// names its fields itself. Keyservice's BAD_REQUEST names them only in its
// message, one "field: problem" per line, and a field of contracts' request
// is the same member of Unkey's body but for ratelimit.multiLimit, whose
// bare array contracts wrap in "limits". What names no field (a body fiber
// could not read) is an error of the whole body.
func validationErrors(e *apierr.Error, path string) []unkeyValidationError {
	if len(e.Fields) > 0 {
		errs := make([]unkeyValidationError, len(e.Fields))
		for i, f := range e.Fields {
			errs[i] = unkeyValidationError{Location: f.Location, Message: f.Message, Fix: f.Fix}
		}
		return errs
	}
	var errs []unkeyValidationError
	for line := range strings.SplitSeq(e.Message, "\n") {
		m := keyserviceField.FindStringSubmatch(strings.TrimSpace(line))
		if m == nil {
			continue
		}
		loc := "body." + m[1]
		if path == "/v2/ratelimit.multiLimit" {
			if rest, ok := strings.CutPrefix(m[1], "limits"); ok {
				loc = "body" + rest
			}
		}
		errs = append(errs, unkeyValidationError{Location: loc, Message: m[2]})
	}
	if len(errs) == 0 {
		errs = append(errs, unkeyValidationError{Location: "body", Message: e.Message})
	}
	return errs
}

// unkeyType picks the problem type URI Unkey uses for the same failure.
func unkeyType(e *apierr.Error, path string) string {
	switch e.Reason {
	case apierr.InvalidAuthHeader:
		return unkeyDocs + "unkey/authentication/malformed"
	case apierr.InvalidAPIKey:
		return unkeyDocs + "unkey/authentication/key_not_found"
	case apierr.Forbidden:
		return unkeyDocs + "unkey/authorization/forbidden"
	case apierr.Conflict:
		return unkeyDocs + "unkey/data/identity_already_exists"
	case apierr.NotFound:
		if r := notFoundResource(path); r != "" {
			return unkeyDocs + "unkey/data/" + r + "_not_found"
		}
		return "about:blank" // no such route: RFC 7807's type for "just the status"
	case apierr.Unavailable:
		return unkeyDocs + "unkey/application/service_unavailable"
	}
	switch {
	case e.Status == fiber.StatusRequestEntityTooLarge:
		return unkeyDocs + "user/bad_request/request_body_too_large"
	case e.Status < fiber.StatusInternalServerError:
		return unkeyDocs + "unkey/application/invalid_input"
	}
	return unkeyDocs + "unkey/application/unexpected_error"
}

// notFoundResource names what a route looks up, for its NOT_FOUND type;
// "" for a path that is no route.
func notFoundResource(path string) string {
	name, _ := strings.CutPrefix(path, "/v2/")
	if _, ok := v2Routes[name]; !ok {
		return ""
	}
	switch {
	case strings.HasPrefix(name, "identities."):
		return "identity"
	case strings.HasPrefix(name, "apis."):
		return "api"
	case strings.HasPrefix(name, "ratelimit."):
		return "ratelimit_namespace"
	}
	return "key"
}
