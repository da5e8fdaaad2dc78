package httpapi

import (
	"fmt"
	"slices"

	"github.com/gofiber/fiber/v2"
	"github.com/ocrstack/ocrstack/ingress/internal/apierr"
)

// Headers by what a route does, for its responses of any status.
var (
	// verifiedHeaders come once the key is verified.
	verifiedHeaders = []string{"X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset", "RateLimit", "RateLimit-Policy", "X-Credits-Remaining"}
	// jobHeaders come once a job is admitted.
	jobHeaders = []string{"X-Job-Id", "Idempotent-Replayed"}
)

// ocrHeaders are the headers of an OCR submission's responses.
func ocrHeaders(status int) []string {
	h := slices.Concat([]string{"X-Request-Id"}, verifiedHeaders, jobHeaders)
	switch status {
	case fiber.StatusOK:
		h = append(h, "X-Recognition-Ms")
	case fiber.StatusAccepted:
		h = append(h, "Location")
	}
	return h
}

func requestIDHeader(int) []string { return []string{"X-Request-Id"} }

// ocrErrors are the errors of a route that runs a job and waits for it.
var ocrErrors = errorsOf(authErrors, chargeErrors, imageErrors, jobErrors, admissionErrors, bodyErrors, serverErrors)

// ocrOperation is an OCR submission with its success response.
func (b *specBuilder) ocrOperation(id, tag, summary, description, body string, status int, result, resultDoc string) *oaOperation {
	return &oaOperation{
		OperationID: id, Summary: summary, Description: description, Tags: []string{tag},
		Security: []map[string][]string{{secAPIKey: {}}}, Parameters: []*oaParameter{paramRef("IdempotencyKey")},
		RequestBody: bodyRef(body),
		Responses: map[string]*oaResponse{itoa(status): {
			Description: resultDoc, Headers: headerRefs(ocrHeaders(status)...), Content: jsonContent(ref(result)),
		}},
	}
}

// tutorialRoutes adds the tutorial's and PicToText's routes.
func (b *specBuilder) tutorialRoutes() {
	t := b.cfg.Trial
	op := &oaOperation{
		OperationID: "signup", Summary: "Sign up for a trial key", Tags: []string{tagTutorial}, RequestBody: bodyRef("Signup"),
		Description: fmt.Sprintf("Opens the account of the email (trimmed, lower case) on the sign-up plan and creates its first key: "+
			"%d credits, %d requests per %s, valid for %s, shared by every key of the account. An email that has an account is a 409 ACCOUNT_EXISTS. "+
			"When the server verifies emails, the account's keys are refused with 403 EMAIL_NOT_VERIFIED until the link mailed is followed "+
			"(GET /verify-email), and a sign-up of an unverified email mails a new link. Sign-ups are limited per client address.",
			t.Credits, t.RateLimit, t.RateWindow, t.Lifetime),
		Responses: map[string]*oaResponse{"200": {Description: "The new key, shown once.",
			Headers: headerRefs(signupHeaders(fiber.StatusOK)...), Content: jsonContent(ref("SignupResult"))}},
	}
	b.addErrors(op, "/signup", errorsOf(signupErrors, bodyErrors, serverErrors), signupHeaders)
	b.add("POST", "/signup", op)

	op = b.ocrOperation("upload", tagTutorial, "Recognise an uploaded image", "The tutorial's upload: a multipart file part named sampleFile.",
		"Upload", fiber.StatusOK, "TutorialResult", "The text.")
	b.addErrors(op, "/upload", ocrErrors, ocrHeaders)
	b.add("POST", "/upload", op)

	op = b.ocrOperation("uploadBase64", tagTutorial, "Recognise a base64 image", `The tutorial's JSON upload: {"imageBase64": "..."}.`,
		"UploadBase64", fiber.StatusOK, "TutorialResult", "The text.")
	b.addErrors(op, "/uploadBase64", errorsOf(ocrErrors, base64Errors), ocrHeaders)
	b.add("POST", "/uploadBase64", op)

	op = b.ocrOperation("pictotextOCR", tagPicToText, "Recognise an image, PicToText's way",
		`PicToText's route: a multipart file part named "image" and an optional documentType, echoed in the result.`,
		"PicToTextOCR", fiber.StatusOK, "PicToTextResult", "The text, with the request's and the job's IDs.")
	b.addErrors(op, "/api/v1/ocr", ocrErrors, ocrHeaders)
	b.add("POST", "/api/v1/ocr", op)
}

// v1Routes adds the versioned OCR API.
func (b *specBuilder) v1Routes() {
	op := b.ocrOperation("v1OCR", tagV1, "Recognise an image",
		fmt.Sprintf("Answers with the result, or, when it takes longer than %s, with 202 and the job to poll: never with a timeout. "+
			"A callbackUrl is refused: POST /v1/jobs takes one.", b.cfg.SyncWait),
		"V1OCR", fiber.StatusOK, "V1Result", "The result.")
	op.Responses["202"] = &oaResponse{Description: "The result did not come in time: the job to poll.",
		Headers: headerRefs(ocrHeaders(fiber.StatusAccepted)...), Content: jsonContent(ref("V1Accepted"))}
	b.addErrors(op, "/v1/ocr", errorsOf(ocrErrors, base64Errors), ocrHeaders)
	b.add("POST", "/v1/ocr", op)

	op = b.ocrOperation("v1SubmitJob", tagV1, "Submit a job",
		"Answers 202 as soon as the job is queued; poll GET /v1/jobs/{id}, or name a callbackUrl to be told of its end. A job is kept 24 hours.",
		"V1Job", fiber.StatusAccepted, "V1Accepted", "The job is queued: poll it at statusUrl (also Location).")
	op.Callbacks = map[string]map[string]*oaPath{"jobEnded": {"{$request.body#/callbackUrl}": {Post: &oaOperation{
		OperationID: "jobEnded", Summary: "The job ended", Tags: []string{tagV1},
		Description: "POSTed to the callbackUrl when the job ends, with X-OCR-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 under the callback secret of <t>.<raw body>>. " +
			"Anything but a 2xx within 10 s is retried with growing delays, each signed afresh: treat a repeated jobId as one event.",
		Parameters:  []*oaParameter{{Name: "X-OCR-Signature", In: "header", Required: true, Schema: &jsonSchema{Type: "string"}}},
		RequestBody: &oaRequestBody{Required: true, Content: jsonContent(ref("V1Job"))},
		Responses:   map[string]*oaResponse{"2XX": {Description: "Delivered."}},
	}}}}
	b.addErrors(op, "/v1/jobs", errorsOf(authErrors, chargeErrors, imageErrors, base64Errors, callbackErrors, admissionErrors, bodyErrors, serverErrors), ocrHeaders)
	b.add("POST", "/v1/jobs", op)

	jobHdr := func(int) []string { return append([]string{"X-Request-Id"}, verifiedHeaders...) }
	op = &oaOperation{
		OperationID: "v1GetJob", Summary: "Show a job", Tags: []string{tagV1}, Security: []map[string][]string{{secAPIKey: {}}},
		Description: "Shown to the key that submitted the job and the other keys of its owner; to any other it does not exist. " +
			"The key is verified without spending a credit or a unit of its rate limits.",
		Parameters: []*oaParameter{paramRef("JobId")},
		Responses: map[string]*oaResponse{"200": {Description: "The job.", Headers: headerRefs(jobHdr(fiber.StatusOK)...),
			Content: jsonContent(ref("V1Job"))}},
	}
	b.addErrors(op, "/v1/jobs/{id}", errorsOf(authErrors, []errCase{{fiber.StatusNotFound, apierr.NotFound}}, serverErrors), jobHdr)
	b.add("GET", "/v1/jobs/{id}", op)
}

// signupHeaders are the headers of POST /signup's responses.
func signupHeaders(int) []string {
	return []string{"X-Request-Id", "X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset"}
}

// metaRoutes adds the health checks and this document's routes.
func (b *specBuilder) metaRoutes() {
	ok := func(description string, content map[string]*oaMedia) map[string]*oaResponse {
		return map[string]*oaResponse{"200": {Description: description, Headers: headerRefs("X-Request-Id"), Content: content}}
	}
	b.add("GET", "/livez", &oaOperation{OperationID: "livez", Summary: "Liveness", Tags: []string{tagHealth},
		Description: "Answers while the process serves HTTP.", Responses: ok("Alive.", jsonContent(ref("Health")))})
	op := &oaOperation{OperationID: "readyz", Summary: "Readiness", Tags: []string{tagHealth},
		Description: "Answers 200 only when NATS and every service answer.", Responses: ok("Ready.", jsonContent(ref("Health")))}
	op.Responses["503"] = &oaResponse{Description: "Not ready: checks says which dependency is not.", Headers: headerRefs("X-Request-Id"),
		Content: jsonContent(ref("Health"))}
	b.add("GET", "/readyz", op)
	b.add("GET", "/openapi.json", &oaOperation{OperationID: "openapi", Summary: "This document", Tags: []string{tagMeta},
		Description: "The OpenAPI " + openAPIVersion + " document of every route, built from the code that serves them.",
		Responses:   ok("The document.", jsonContent(&jsonSchema{Type: "object"}))})
	b.add("GET", "/docs", &oaOperation{OperationID: "docs", Summary: "This document, as a web page", Tags: []string{tagMeta},
		Responses: ok("An HTML page.", map[string]*oaMedia{"text/html": {Schema: &jsonSchema{Type: "string"}}})})
}
