package httpapi

import (
	"fmt"
	"maps"
	"reflect"
	"slices"

	"github.com/ocrstack/ocrstack/contracts"
	"github.com/ocrstack/ocrstack/ingress/internal/idempotency"
)

// specBuilder assembles the OpenAPI document: the components first, then
// the routes, which refer to them.
type specBuilder struct {
	cfg Config
	doc *openAPIDoc
	gen *schemaGen
}

func newSpecBuilder(cfg Config) *specBuilder {
	b := &specBuilder{cfg: cfg, gen: &schemaGen{
		comps: map[string]*jsonSchema{}, names: map[reflect.Type]string{}, enums: map[reflect.Type][]any{},
	}}
	b.doc = &openAPIDoc{
		OpenAPI: openAPIVersion,
		Info:    oaInfo{Title: "ocrstack OCR API", Version: "1", Description: infoDescription(cfg)},
		Tags: []oaTag{
			{tagTutorial, "The tutorial's routes: sign up for a key, then send an image."},
			{tagPicToText, "PicToText's OCR route and shapes."},
			{tagV1, "The versioned OCR API: synchronous with a fallback to a job, or asynchronous with polling and callbacks."},
			{tagAccounts, "Accounts: the email verification link, the upgrade a payment backend calls with the root key, " +
				"and the self-service an account's owner does with any of its keys (keys and usage), free of charge."},
			{tagV2, "Unkey's v2 key-management API, for the root key: point an Unkey client at this server."},
			{tagHealth, "Liveness and readiness."},
			{tagMeta, "This document and its HTML rendering."},
		},
		Paths: map[string]*oaPath{},
		Components: oaComponents{
			RequestBodies: map[string]*oaRequestBody{}, Parameters: parameterComponents(),
			Headers: headerComponents(), SecuritySchemes: map[string]*oaSecurityScheme{
				secAPIKey: {Type: "http", Scheme: "bearer", Description: "An API key, from POST /signup, POST /v1/keys or keys.createKey: Authorization: Bearer <key>."},
				secRootKey: {Type: "http", Scheme: "bearer",
					Description: "The server's root key (OCR_ROOT_KEY): Authorization: Bearer <root key>. Any other token is a 401."},
			},
		},
	}
	b.errorSchemas()
	b.resultSchemas()
	b.requestBodies()
	return b
}

// Tags and security schemes.
const (
	tagTutorial  = "Tutorial"
	tagPicToText = "PicToText"
	tagV1        = "OCR v1"
	tagAccounts  = "Accounts"
	tagV2        = "Key management (Unkey v2)"
	tagHealth    = "Health"
	tagMeta      = "Documentation"
	secAPIKey    = "apiKey"
	secRootKey   = "rootKey"
)

func infoDescription(cfg Config) string {
	return "Self-hosted OCR as a service. Three families of OCR routes share one engine, each with its own result and error " +
		"shapes: the tutorial's (/upload, /uploadBase64), PicToText's (/api/v1/ocr) and the versioned /v1 API. /signup opens an " +
		"account, whose plan's credits and rate limits its keys share; /v1/keys and /v1/usage let its owner manage them. /v2 is " +
		"Unkey's key-management API, for the root key.\n\n" +
		"An OCR request is checked in this order: the Authorization header's form, the image and the options, the languages, " +
		"then the key, which spends a credit; so a malformed request is never charged, and a job that fails is refunded. " +
		"Images: JPEG, PNG, TIFF, WebP, GIF, BMP, PNM, JPEG 2000, HEIC, AVIF and PDF, up to " + mib(cfg.MaxImageBytes) +
		"; the format is read from the bytes.\n\n" +
		"Every error carries a stable reason: ErrorReason lists them all with their statuses. A path that is no route answers " +
		"404 NOT_FOUND, a method a route does not take 405 METHOD_NOT_ALLOWED, and a body over the server's limit 413 " +
		"IMAGE_TOO_LARGE, each in the error shape of the path's family. Every response carries X-Request-Id."
}

func headerComponents() map[string]*oaHeader {
	integer := func(doc string) *oaHeader { return &oaHeader{Description: doc, Schema: &jsonSchema{Type: "integer"}} }
	str := func(doc string) *oaHeader { return &oaHeader{Description: doc, Schema: &jsonSchema{Type: "string"}} }
	return map[string]*oaHeader{
		"X-Request-Id":          str("The request's ID: the client's X-Request-Id when it is 1 to 64 characters of [A-Za-z0-9._-], else a new one."),
		"X-RateLimit-Limit":     integer("The limit of the key's rate limit closest to exhaustion (on /signup: sign-ups per client address)."),
		"X-RateLimit-Remaining": integer("What is left of that limit in its window."),
		"X-RateLimit-Reset":     integer("When that limit's window ends, in unix seconds."),
		"RateLimit-Policy":      str(`That limit, as in the IETF RateLimit header fields draft: "<name>";q=<limit>;w=<window in seconds>.`),
		"RateLimit":             str(`That limit's state: "<name>";r=<remaining>;t=<seconds until it resets>.`),
		"X-Credits-Remaining":   integer("The key's credits left, when it has a credit balance."),
		"X-Job-Id":              str("The job the request runs, or on a replay ran; GET /v1/jobs/{id} shows it."),
		"X-Recognition-Ms":      integer("The time the OCR worker spent recognising, in milliseconds."),
		"Location":              str("Where to poll the job: /v1/jobs/{id}."),
		"Retry-After":           integer("Seconds to wait before retrying."),
		"Idempotent-Replayed": {Description: "Present when an earlier request with the same Idempotency-Key and body (on /upgradeUser, the same transactionId) answered this one: nothing ran and nothing was charged.",
			Schema: &jsonSchema{Type: "string", Enum: []any{"true"}}},
	}
}

func parameterComponents() map[string]*oaParameter {
	return map[string]*oaParameter{
		"RequestId": {Name: "X-Request-Id", In: "header",
			Description: "The client's ID for the request, echoed in X-Request-Id and carried to the OCR job; one that is not 1 to 64 characters of [A-Za-z0-9._-] is replaced.",
			Schema:      &jsonSchema{Type: "string"}},
		"IdempotencyKey": {Name: "Idempotency-Key", In: "header",
			Description: "Makes a retry safe: within 24 hours the same key and body answer with the first request's job (Idempotent-Replayed: true), run nothing and pay nothing; another body is a 409 IDEMPOTENCY_KEY_REUSED.",
			Schema:      &jsonSchema{Type: "string", MinLength: new(1), MaxLength: new(idempotency.MaxKeyLength), Pattern: "^[ -~]+$"}},
		"JobId": {Name: "id", In: "path", Required: true, Description: "The job's ID, from X-Job-Id or a 202's jobId.",
			Schema: &jsonSchema{Type: "string", Pattern: "^[A-Za-z0-9_-]{1,64}$"}},
	}
}

// resultSchemas adds the success bodies of the OCR, sign-up and health routes.
func (b *specBuilder) resultSchemas() {
	g := b.gen
	g.enum(reflect.TypeFor[contracts.JobStatus](), "JobStatus", "A job's state: queued and running until it ends, succeeded or failed.",
		string(contracts.JobQueued), string(contracts.JobRunning), string(contracts.JobSucceeded), string(contracts.JobFailed))
	b.schema("TextBox", reflect.TypeFor[contracts.TextBox](),
		"A recognised word or line and where it is on its page, in pixels of the page as read, from the top left corner; confidence is Tesseract's, 0 to 100; pages count from 1.")
	b.schema("PageResult", reflect.TypeFor[contracts.PageResult](),
		"One page of a multi-page document; source is text_layer (a PDF's own text) or ocr.")
	b.schema("JobProgress", reflect.TypeFor[contracts.RecordProgress](), "page of pages pages are done.")
	b.schema("V1JobError", reflect.TypeFor[v1JobError](), "Why a job failed: the reason and message the synchronous routes would have answered with.")
	b.schema("V1Result", reflect.TypeFor[v1Result](),
		"The result of POST /v1/ocr: the text (a multi-page document's pages joined with a form feed), each page for a multi-page document, the outputs asked for, and the time spent recognising in milliseconds.")
	b.schema("V1Accepted", reflect.TypeFor[v1Accepted](), "A job to poll at statusUrl, also sent as Location.")
	b.schema("V1Job", reflect.TypeFor[v1Job](),
		"A job's state, its result once it succeeded, or why it failed; times are unix milliseconds. This is also what a callback delivers.")
	b.schema("PicToTextResult", reflect.TypeFor[pictotextResult](), "The result of POST /api/v1/ocr, PicToText's, with the outputs asked for.")
	b.refine(b.schema("TutorialResult", reflect.TypeFor[tutorialResult](), "The result of /upload and /uploadBase64, the tutorial's, with the outputs asked for.").
		Properties, map[string]*jsonSchema{"error": {Type: "null"}})
	b.schema("SignupKey", reflect.TypeFor[signupKey](), "A new key, shown once, and its ID.")
	b.gen.comps["SignupResult"] = described(object(map[string]*jsonSchema{
		"keys": {Type: "array", Items: ref("SignupKey"), MinItems: new(1), MaxItems: new(1)}, "error": {Type: "null"},
	}), "The trial key POST /signup created.")
	b.gen.comps["Health"] = described(object(map[string]*jsonSchema{
		"status": {Type: "string", Enum: []any{"ok", "unavailable"}},
		"checks": {Type: "object", AdditionalProperties: &jsonSchema{Type: "string"}, Description: `Each dependency's state by name: "ok", or what is wrong.`},
	}, "checks"), "Whether the service is up, and on /readyz each dependency's state.")
}

// schema adds the component name for t and returns it to be refined.
func (b *specBuilder) schema(name string, t reflect.Type, description string) *jsonSchema {
	b.gen.component(t, name)
	s := b.gen.inline(t)
	s.Description = description
	b.gen.comps[name] = s
	return s
}

// refine replaces members, as reflection found them, with documented ones.
// A member reflection did not find (a renamed one) is a problem.
func (b *specBuilder) refine(members, documented map[string]*jsonSchema) {
	for _, name := range slices.Sorted(maps.Keys(documented)) {
		if _, ok := members[name]; !ok {
			b.problem("a member %s is described that its type does not have", name)
			continue
		}
		members[name] = documented[name]
	}
}

// problem records what the document cannot describe.
func (b *specBuilder) problem(format string, args ...any) {
	b.gen.problems = append(b.gen.problems, fmt.Sprintf(format, args...))
}

// add registers op as method path, with the request ID parameter every
// route takes.
func (b *specBuilder) add(method, path string, op *oaOperation) {
	op.Parameters = append([]*oaParameter{paramRef("RequestId")}, op.Parameters...)
	p := b.doc.Paths[path]
	if p == nil {
		p = &oaPath{}
		b.doc.Paths[path] = p
	}
	switch method {
	case "GET":
		p.Get = op
	case "POST":
		p.Post = op
	case "DELETE":
		p.Delete = op
	default:
		b.problem("%s %s: no method %s in the document's model", method, path, method)
	}
	b.doc.routes = append(b.doc.routes, oaRoute{Method: method, Path: path, Op: op})
}

func jsonContent(s *jsonSchema) map[string]*oaMedia {
	return map[string]*oaMedia{"application/json": {Schema: s}}
}

func headerRefs(names ...string) map[string]*oaHeader {
	out := make(map[string]*oaHeader, len(names))
	for _, n := range slices.Compact(slices.Sorted(slices.Values(names))) {
		out[n] = &oaHeader{Ref: "#/components/headers/" + n}
	}
	return out
}

func paramRef(name string) *oaParameter { return &oaParameter{Ref: "#/components/parameters/" + name} }

func bodyRef(name string) *oaRequestBody {
	return &oaRequestBody{Ref: "#/components/requestBodies/" + name}
}
