package httpapi

import (
	"maps"
	"net/http"
	"reflect"
	"slices"
	"strconv"
	"strings"

	"github.com/gofiber/fiber/v2"
	"github.com/ocrstack/ocrstack/ingress/internal/apierr"
)

// reasonDocs says what each error reason means, in apierr's order. The
// tests hold it to apierr's constants, so a new reason must be described
// here before it ships.
var reasonDocs = []struct {
	reason apierr.Reason
	doc    string
}{
	{apierr.InvalidAuthHeader, "No Authorization: Bearer <key> header, or a malformed one."},
	{apierr.InvalidAPIKey, "The API key (on /v2 and /upgradeUser, the root key) is unknown, disabled or expired."},
	{apierr.InsufficientCredits, "The key's credits are spent."},
	{apierr.RateLimited, "Over a rate limit; Retry-After says when to retry."},
	{apierr.MissingImage, "The body has no image where the route expects one."},
	{apierr.EmptyImage, "The image is empty."},
	{apierr.InvalidBase64, "The base64 image does not decode."},
	{apierr.InvalidRequest, "The request is malformed (a body, an option, a field); on /v2, error.errors lists each invalid field."},
	{apierr.ImageTooLarge, "The image, or the whole request body, is over the size limit."},
	{apierr.UnsupportedMediaType, "The bytes are not an image or document format the service reads."},
	{apierr.UnreadableImage, "The image could not be decoded."},
	{apierr.ImageTooManyPixels, "The image has too many pixels to decode."},
	{apierr.UnsupportedLanguage, "A language that not every OCR worker has installed."},
	{apierr.NotFound, "No such job (or another owner's), no such key or identity on /v2, no such key in the caller's account, or no such route."},
	{apierr.MethodNotAllowed, "The route does not take this method."},
	{apierr.Unavailable, "A dependency is down; Retry-After says when to retry."},
	{apierr.OCRTimeout, "The OCR job did not finish in time; Retry-After says when to retry."},
	{apierr.Internal, "A failure on the server's side."},
	{apierr.Forbidden, "The key may not use this route: on /upgradeUser only the root key may; key self-service takes a key of an account (from POST /signup or POST /v1/keys)."},
	{apierr.Conflict, "The resource already exists."},
	{apierr.TooManyPages, "The document has more pages than allowed."},
	{apierr.ResultTooLarge, "The result, with the outputs asked for, is too large; ask for fewer outputs."},
	{apierr.Overloaded, "Too many OCR requests in flight here, or too many jobs queued; Retry-After says when to retry."},
	{apierr.PageOutOfRange, "The pages option names a page the document lacks."},
	{apierr.InvalidIdempotencyKey, "The Idempotency-Key header is not 1 to 255 printable ASCII characters."},
	{apierr.IdempotencyKeyReused, "The Idempotency-Key was used for a different request in the last 24 hours."},
	{apierr.CallbacksDisabled, "A callbackUrl was given, but callbacks are not enabled on this server."},
	{apierr.InvalidCallbackURL, "The callbackUrl is not an absolute http or https URL of at most 2048 bytes without credentials."},
	{apierr.EmailNotVerified, "The key's account has not verified its email yet: follow the link mailed at sign-up."},
	{apierr.AccountExists, "An account with this email exists: use its keys, or POST /v1/keys with one of them for another."},
	{apierr.AccountNotFound, "No account has this email."},
	{apierr.InvalidToken, "The email verification link is damaged or expired: POST /signup again with the same email for a new one."},
	{apierr.TooManyKeys, "The account holds the most keys it may: revoke one first."},
}

// errCase is an error a route answers with.
type errCase struct {
	status int
	reason apierr.Reason
}

// The errors of the routes, by what the route does.
var (
	// anyRouteErrors come from the router: they belong to no operation.
	anyRouteErrors = []errCase{{fiber.StatusNotFound, apierr.NotFound}, {fiber.StatusMethodNotAllowed, apierr.MethodNotAllowed}}
	// bodyErrors are a body over the server's limit, or one fiber cannot parse.
	bodyErrors   = []errCase{{fiber.StatusRequestEntityTooLarge, apierr.ImageTooLarge}, {fiber.StatusBadRequest, apierr.InvalidRequest}}
	serverErrors = []errCase{{fiber.StatusInternalServerError, apierr.Internal}, {fiber.StatusServiceUnavailable, apierr.Unavailable}}
	authErrors   = []errCase{
		{fiber.StatusUnauthorized, apierr.InvalidAuthHeader}, {fiber.StatusUnauthorized, apierr.InvalidAPIKey},
		{fiber.StatusForbidden, apierr.Forbidden},
	}
	// chargeErrors refuse a key that may not spend; an account whose email
	// is unverified has nothing to spend yet, and is told why.
	chargeErrors = []errCase{
		{fiber.StatusPaymentRequired, apierr.InsufficientCredits}, {fiber.StatusTooManyRequests, apierr.RateLimited},
		{fiber.StatusForbidden, apierr.EmailNotVerified},
	}
	imageErrors = []errCase{
		{fiber.StatusBadRequest, apierr.MissingImage}, {fiber.StatusBadRequest, apierr.EmptyImage},
		{fiber.StatusRequestEntityTooLarge, apierr.ImageTooLarge}, {fiber.StatusUnsupportedMediaType, apierr.UnsupportedMediaType},
		{fiber.StatusBadRequest, apierr.InvalidRequest}, {fiber.StatusBadRequest, apierr.UnsupportedLanguage},
		{fiber.StatusBadRequest, apierr.InvalidIdempotencyKey}, {fiber.StatusConflict, apierr.IdempotencyKeyReused},
	}
	base64Errors = []errCase{{fiber.StatusBadRequest, apierr.InvalidBase64}}
	// jobErrors are a job that failed, as jobError maps them.
	jobErrors = []errCase{
		{fiber.StatusUnprocessableEntity, apierr.UnreadableImage}, {fiber.StatusUnprocessableEntity, apierr.ImageTooManyPixels},
		{fiber.StatusUnprocessableEntity, apierr.TooManyPages}, {fiber.StatusUnprocessableEntity, apierr.ResultTooLarge},
		{fiber.StatusUnprocessableEntity, apierr.PageOutOfRange}, {fiber.StatusServiceUnavailable, apierr.OCRTimeout},
	}
	// admissionErrors refuse an OCR request while the ingress is overloaded.
	admissionErrors = []errCase{{fiber.StatusServiceUnavailable, apierr.Overloaded}}
	callbackErrors  = []errCase{{fiber.StatusBadRequest, apierr.CallbacksDisabled}, {fiber.StatusBadRequest, apierr.InvalidCallbackURL}}
	signupErrors    = []errCase{
		{fiber.StatusBadRequest, apierr.InvalidRequest}, {fiber.StatusTooManyRequests, apierr.RateLimited},
		{fiber.StatusConflict, apierr.AccountExists},
	}
	v2Errors = []errCase{
		{fiber.StatusBadRequest, apierr.InvalidRequest}, {fiber.StatusUnauthorized, apierr.InvalidAuthHeader},
		{fiber.StatusUnauthorized, apierr.InvalidAPIKey}, {fiber.StatusNotFound, apierr.NotFound},
		{fiber.StatusConflict, apierr.Conflict}, {fiber.StatusRequestEntityTooLarge, apierr.InvalidRequest},
	}
)

// errorsOf joins sets of errors.
func errorsOf(sets ...[]errCase) []errCase { return slices.Concat(sets...) }

// addErrors adds a response per status of cases to op, in the error
// envelope of path's dialect, with the headers of hdr and the reasons
// answered with it.
func (b *specBuilder) addErrors(op *oaOperation, path string, cases []errCase, hdr func(status int) []string) {
	byStatus := map[int][]apierr.Reason{}
	for _, e := range cases {
		if !slices.Contains(byStatus[e.status], e.reason) {
			byStatus[e.status] = append(byStatus[e.status], e.reason)
		}
	}
	for _, status := range slices.Sorted(maps.Keys(byStatus)) {
		reasons := byStatus[status]
		names := make([]string, len(reasons))
		for i, r := range reasons {
			names[i] = string(r)
		}
		h := hdr(status)
		if status == fiber.StatusTooManyRequests || status == fiber.StatusServiceUnavailable {
			h = append(h, "Retry-After")
		}
		op.Responses[itoa(status)] = &oaResponse{
			Description: http.StatusText(status) + ": " + strings.Join(names, ", ") + ".",
			Headers:     headerRefs(h...), Content: jsonContent(b.errorEnvelope(path)), Reasons: reasons,
		}
	}
}

// errorEnvelope is the error body of path's dialect.
func (b *specBuilder) errorEnvelope(path string) *jsonSchema {
	switch dialectOf(path) {
	case pictotext:
		return ref("PicToTextError")
	case tutorial:
		return ref("TutorialError")
	case signupDialect:
		return ref("SignupError")
	case unkeyDialect:
		return ref("UnkeyError")
	}
	b.problem("%s: no error envelope for its dialect", path)
	return &jsonSchema{}
}

// errorSchemas adds the error envelopes and the reason catalogue.
func (b *specBuilder) errorSchemas() {
	reasons := make([]string, len(reasonDocs))
	var doc strings.Builder
	doc.WriteString("A stable, machine-readable error code; new ones are only ever added.")
	for i, r := range reasonDocs {
		reasons[i] = string(r.reason)
		doc.WriteString("\n- " + string(r.reason) + ": " + r.doc)
	}
	b.gen.enum(reflect.TypeFor[apierr.Reason](), "ErrorReason", doc.String(), reasons...)
	b.gen.component(reflect.TypeFor[pictotextDetail](), "PicToTextErrorDetail")
	b.gen.component(reflect.TypeFor[unkeyValidationError](), "UnkeyValidationError")
	b.gen.component(reflect.TypeFor[v2Meta](), "V2Meta")
	b.schema("PicToTextError", reflect.TypeFor[pictotextError](),
		`The error of /api/v1/ocr and /v1, PicToText's: {"error":{"code":401,"message":"...","status":"Unauthorized","details":[{"reason":"INVALID_API_KEY"}]}}.`)
	b.schema("UnkeyError", reflect.TypeFor[unkeyError](),
		"The error of /v2, Unkey's (RFC 7807 members under error); error.errors lists each invalid field of a 400, and only of a 400.")
	c := b.gen.comps
	c["TutorialError"] = described(object(map[string]*jsonSchema{
		"text": {Type: "null"}, "error": {Type: "string", Description: "What went wrong, safe to show."}, "reason": ref("ErrorReason"),
	}), "The error of /upload and /uploadBase64, the tutorial's.")
	c["SignupError"] = described(object(map[string]*jsonSchema{
		"keys": {Type: "null"}, "error": {Type: "string", Description: "What went wrong, safe to show."}, "reason": ref("ErrorReason"),
	}), "The error of /signup.")
}

// catalogue lists on ErrorReason each reason with the statuses it comes
// with, over every route and the router, once the routes are added.
func (b *specBuilder) catalogue() {
	statuses := map[apierr.Reason][]int{}
	add := func(status int, r apierr.Reason) {
		if !slices.Contains(statuses[r], status) {
			statuses[r] = append(statuses[r], status)
			slices.Sort(statuses[r])
		}
	}
	for _, e := range anyRouteErrors {
		add(e.status, e.reason)
	}
	for _, rt := range b.doc.routes {
		for code, resp := range rt.Op.Responses {
			for _, r := range resp.Reasons {
				status, _ := strconv.Atoi(code)
				add(status, r)
			}
		}
	}
	s := b.gen.comps["ErrorReason"]
	for _, r := range reasonDocs {
		s.Reasons = append(s.Reasons, oaReason{Reason: r.reason, Statuses: statuses[r.reason], Description: r.doc})
	}
}

// oaReason is an error reason in the catalogue.
type oaReason struct {
	Reason apierr.Reason `json:"reason"`
	// Statuses are the HTTP statuses it comes with.
	Statuses    []int  `json:"statuses"`
	Description string `json:"description"`
}
