// Package apierr defines the ingress's public errors: an HTTP status, a
// stable reason code clients can switch on, and a message safe to show.
// The reason codes are append-only; the PicToText ones keep its names.
package apierr

import (
	"fmt"
	"net/http"
	"strconv"
)

// Reason is a stable machine-readable error code.
type Reason string

// Reasons. Append only; never rename one.
const (
	InvalidAuthHeader    Reason = "INVALID_AUTH_HEADER"
	InvalidAPIKey        Reason = "INVALID_API_KEY"
	InsufficientCredits  Reason = "INSUFFICIENT_CREDITS"
	RateLimited          Reason = "RATE_LIMITED"
	MissingImage         Reason = "MISSING_IMAGE"
	EmptyImage           Reason = "EMPTY_IMAGE"
	InvalidBase64        Reason = "INVALID_BASE64"
	InvalidRequest       Reason = "INVALID_REQUEST"
	ImageTooLarge        Reason = "IMAGE_TOO_LARGE"
	UnsupportedMediaType Reason = "UNSUPPORTED_MEDIA_TYPE"
	UnreadableImage      Reason = "UNREADABLE_IMAGE"
	ImageTooManyPixels   Reason = "IMAGE_TOO_MANY_PIXELS"
	UnsupportedLanguage  Reason = "UNSUPPORTED_LANGUAGE"
	NotFound             Reason = "NOT_FOUND"
	MethodNotAllowed     Reason = "METHOD_NOT_ALLOWED"
	Unavailable          Reason = "SERVICE_UNAVAILABLE"
	OCRTimeout           Reason = "OCR_TIMEOUT"
	Internal             Reason = "INTERNAL"
	Forbidden            Reason = "FORBIDDEN"
	Conflict             Reason = "CONFLICT"
	TooManyPages         Reason = "TOO_MANY_PAGES"
	ResultTooLarge       Reason = "RESULT_TOO_LARGE"
	// Overloaded: too many OCR requests in flight here, or too many jobs
	// queued; Retry-After says when to try again.
	Overloaded Reason = "OVERLOADED"
	// PageOutOfRange: the pages option names a page the document lacks.
	PageOutOfRange Reason = "PAGE_OUT_OF_RANGE"
	// InvalidIdempotencyKey: the Idempotency-Key header is not 1 to 255
	// printable ASCII characters.
	InvalidIdempotencyKey Reason = "INVALID_IDEMPOTENCY_KEY"
	// IdempotencyKeyReused: the Idempotency-Key was used for another
	// request in the last 24 hours.
	IdempotencyKeyReused Reason = "IDEMPOTENCY_KEY_REUSED"
	// CallbacksDisabled: a callbackUrl was given but the server has no
	// callback secret to sign with.
	CallbacksDisabled  Reason = "CALLBACKS_DISABLED"
	InvalidCallbackURL Reason = "INVALID_CALLBACK_URL"
	// EmailNotVerified: the key's account has not verified its email yet
	// (PicToText's code).
	EmailNotVerified Reason = "EMAIL_NOT_VERIFIED"
	// AccountExists: POST /signup for an email that has an account.
	AccountExists Reason = "ACCOUNT_EXISTS"
	// AccountNotFound: no account has this email.
	AccountNotFound Reason = "ACCOUNT_NOT_FOUND"
	// InvalidToken: an email verification link is damaged or expired.
	InvalidToken Reason = "INVALID_TOKEN"
	// TooManyKeys: the account holds the most keys it may.
	TooManyKeys Reason = "TOO_MANY_KEYS"
)

// Error is a public error. Handlers return it; the one error handler renders
// it in the dialect of the route.
type Error struct {
	Status  int
	Reason  Reason
	Message string
	// RetryAfter, in seconds, is sent as Retry-After when positive.
	RetryAfter int
	// Fields lists the invalid parts of a request, for the dialects that
	// report them (Unkey's errors[]); the others show Message only.
	Fields []FieldError
}

// FieldError is one invalid part of a request.
type FieldError struct {
	// Location is a path into the request: "body", "body.credits.refill.amount",
	// "body.ratelimits[2].name".
	Location string
	// Message says what is wrong; Fix, when set, how to correct it.
	Message string
	Fix     string
}

// Error implements the error interface.
func (e *Error) Error() string {
	return fmt.Sprintf("%d %s: %s", e.Status, e.Reason, e.Message)
}

// StatusText is the HTTP reason phrase, PicToText's "status" field.
func (e *Error) StatusText() string { return http.StatusText(e.Status) }

// RetryAfterHeader returns the Retry-After value, or "" for none.
func (e *Error) RetryAfterHeader() string {
	if e.RetryAfter <= 0 {
		return ""
	}
	return strconv.Itoa(e.RetryAfter)
}

// New returns an Error.
func New(status int, reason Reason, message string) *Error {
	return &Error{Status: status, Reason: reason, Message: message}
}
