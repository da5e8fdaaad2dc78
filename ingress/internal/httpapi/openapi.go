package httpapi

// The API describes itself. GET /openapi.json is an OpenAPI 3.1 document
// built at start-up from the code it describes, so that it cannot drift:
// response and /v1 request shapes by reflection over the types the
// handlers encode and decode (openapi_schema.go), the /v2 request bodies
// from the very schemas decodeBody checks them with (v2bodies.go), each
// route's error envelope from dialectOf, and the error reasons from one
// catalogue (openapi_errors.go). What reflection cannot see (summaries,
// which reasons a route can answer with, headers) is declared next to the
// routes in openapi_routes.go, openapi_accounts.go and openapi_v2.go (and
// analytics.go), and the tests hold it to the code: the document must name
// exactly the routes the app registers, every apierr.Reason, every status
// and reason pair the handlers raise, and real responses must match their
// schemas (openapi_test.go). GET /docs is the same document rendered as
// HTML (docs.go).

import (
	"encoding/json"
	"fmt"

	"github.com/gofiber/fiber/v2"
	"github.com/ocrstack/ocrstack/ingress/internal/apierr"
)

// openAPIVersion is the version of the OpenAPI specification followed.
const openAPIVersion = "3.1.0"

// openAPIDoc is an OpenAPI document, with the parts of the specification
// this API uses.
type openAPIDoc struct {
	OpenAPI    string             `json:"openapi"`
	Info       oaInfo             `json:"info"`
	Tags       []oaTag            `json:"tags"`
	Paths      map[string]*oaPath `json:"paths"`
	Components oaComponents       `json:"components"`
	// routes lists the operations in the order the docs page shows them.
	routes []oaRoute
	// problems are what the document could not describe; the tests
	// require none.
	problems []string
}

type oaInfo struct {
	Title       string `json:"title"`
	Version     string `json:"version"`
	Description string `json:"description"`
}

type oaTag struct {
	Name        string `json:"name"`
	Description string `json:"description"`
}

// oaRoute is one operation and where it is served.
type oaRoute struct {
	Method, Path string
	Op           *oaOperation
}

type oaPath struct {
	Get    *oaOperation `json:"get,omitempty"`
	Post   *oaOperation `json:"post,omitempty"`
	Delete *oaOperation `json:"delete,omitempty"`
}

type oaOperation struct {
	OperationID string                 `json:"operationId"`
	Summary     string                 `json:"summary"`
	Description string                 `json:"description,omitempty"`
	Tags        []string               `json:"tags"`
	Security    []map[string][]string  `json:"security,omitempty"`
	Parameters  []*oaParameter         `json:"parameters,omitempty"`
	RequestBody *oaRequestBody         `json:"requestBody,omitempty"`
	Responses   map[string]*oaResponse `json:"responses"`
	// Callbacks maps a name to a runtime expression to the request sent.
	Callbacks map[string]map[string]*oaPath `json:"callbacks,omitempty"`
}

type oaParameter struct {
	Ref         string      `json:"$ref,omitempty"`
	Name        string      `json:"name,omitempty"`
	In          string      `json:"in,omitempty"`
	Description string      `json:"description,omitempty"`
	Required    bool        `json:"required,omitempty"`
	Schema      *jsonSchema `json:"schema,omitempty"`
}

type oaRequestBody struct {
	Ref         string              `json:"$ref,omitempty"`
	Description string              `json:"description,omitempty"`
	Required    bool                `json:"required,omitempty"`
	Content     map[string]*oaMedia `json:"content,omitempty"`
}

type oaMedia struct {
	Schema *jsonSchema `json:"schema"`
}

type oaResponse struct {
	Description string               `json:"description"`
	Headers     map[string]*oaHeader `json:"headers,omitempty"`
	Content     map[string]*oaMedia  `json:"content,omitempty"`
	// Reasons lists the error reasons answered with this status.
	Reasons []apierr.Reason `json:"x-error-reasons,omitempty"`
}

type oaHeader struct {
	Ref         string      `json:"$ref,omitempty"`
	Description string      `json:"description,omitempty"`
	Schema      *jsonSchema `json:"schema,omitempty"`
}

type oaComponents struct {
	Schemas         map[string]*jsonSchema       `json:"schemas"`
	RequestBodies   map[string]*oaRequestBody    `json:"requestBodies"`
	Parameters      map[string]*oaParameter      `json:"parameters"`
	Headers         map[string]*oaHeader         `json:"headers"`
	SecuritySchemes map[string]*oaSecurityScheme `json:"securitySchemes"`
}

type oaSecurityScheme struct {
	Type        string `json:"type"`
	Scheme      string `json:"scheme"`
	Description string `json:"description"`
}

// jsonSchema is the part of JSON Schema 2020-12 the document uses.
type jsonSchema struct {
	Ref         string `json:"$ref,omitempty"`
	Description string `json:"description,omitempty"`
	// Type is a type name, or a list of them (["string", "null"]).
	Type             any                    `json:"type,omitempty"`
	Format           string                 `json:"format,omitempty"`
	ContentMediaType string                 `json:"contentMediaType,omitempty"`
	Pattern          string                 `json:"pattern,omitempty"`
	Enum             []any                  `json:"enum,omitempty"`
	MinLength        *int                   `json:"minLength,omitempty"`
	MaxLength        *int                   `json:"maxLength,omitempty"`
	Minimum          *int64                 `json:"minimum,omitempty"`
	Maximum          *int64                 `json:"maximum,omitempty"`
	Properties       map[string]*jsonSchema `json:"properties,omitempty"`
	Required         []string               `json:"required,omitempty"`
	// AdditionalProperties is false for an exact shape, or a schema.
	AdditionalProperties any           `json:"additionalProperties,omitempty"`
	MaxProperties        *int          `json:"maxProperties,omitempty"`
	Items                *jsonSchema   `json:"items,omitempty"`
	MinItems             *int          `json:"minItems,omitempty"`
	MaxItems             *int          `json:"maxItems,omitempty"`
	AnyOf                []*jsonSchema `json:"anyOf,omitempty"`
	Examples             []any         `json:"examples,omitempty"`
	// Reasons is the error reason catalogue, on ErrorReason only.
	Reasons []oaReason `json:"x-reasons,omitempty"`
}

// openAPIHandler serves the document, encoded once.
func (a *api) openAPIHandler() fiber.Handler {
	doc := buildOpenAPI(a.cfg)
	for _, p := range doc.problems {
		a.cfg.Logger.Warn("the OpenAPI document is incomplete", "err", p)
	}
	body, err := json.Marshal(doc)
	if err != nil {
		panic(fmt.Sprintf("openapi: encode the document: %v", err)) // a broken invariant: the types are ours
	}
	return func(c *fiber.Ctx) error {
		c.Set(fiber.HeaderContentType, fiber.MIMEApplicationJSONCharsetUTF8)
		return c.Send(body)
	}
}

// buildOpenAPI describes the API as New configures it.
func buildOpenAPI(cfg Config) *openAPIDoc {
	b := newSpecBuilder(cfg)
	b.tutorialRoutes()
	b.v1Routes()
	b.analyticsRoutes()
	b.accountRoutes()
	b.v2Routes()
	b.metaRoutes()
	b.catalogue()
	b.doc.Components.Schemas = b.gen.comps
	b.doc.problems = b.gen.problems
	return b.doc
}
