package httpapi

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"

	"github.com/gofiber/fiber/v2"
	"github.com/ocrstack/ocrstack/contracts"
	"github.com/ocrstack/ocrstack/ingress/internal/apierr"
	"github.com/ocrstack/ocrstack/ingress/internal/keysclient"
)

// v2Routes is Unkey's v2 API as served here: POST /v2/<service>.<method>,
// each handler a translation between Unkey's shapes and a keyservice
// subject from contracts. A route missing here is a 404, as on Unkey.
var v2Routes = map[string]func(*api, *fiber.Ctx) error{
	"keys.createKey":            (*api).v2CreateKey,
	"keys.verifyKey":            (*api).v2VerifyKey,
	"keys.getKey":               (*api).v2GetKey,
	"keys.whoami":               (*api).v2Whoami,
	"keys.updateKey":            (*api).v2UpdateKey,
	"keys.updateCredits":        (*api).v2UpdateCredits,
	"keys.deleteKey":            (*api).v2DeleteKey,
	"keys.rerollKey":            (*api).v2RerollKey,
	"apis.listKeys":             (*api).v2ListKeys,
	"identities.createIdentity": (*api).v2CreateIdentity,
	"identities.getIdentity":    (*api).v2GetIdentity,
	"identities.updateIdentity": (*api).v2UpdateIdentity,
	"identities.deleteIdentity": (*api).v2DeleteIdentity,
	"identities.listIdentities": (*api).v2ListIdentities,
	"ratelimit.limit":           (*api).v2Limit,
	"ratelimit.multiLimit":      (*api).v2MultiLimit,
}

// mountV2 registers the /v2 routes behind the root-key check.
func (a *api) mountV2(app *fiber.App) {
	v2 := app.Group("/v2", a.requireRootKey)
	for name, h := range v2Routes {
		v2.Post("/"+name, func(c *fiber.Ctx) error { return h(a, c) })
	}
}

// requireRootKey admits a request whose bearer token is the root key. The
// token is compared as a SHA-256 digest in constant time, so timing tells
// nothing about the root key, not even its length. Every other token, an OCR
// key included, is a 401, as Unkey answers an unknown root key; without a
// configured root key nothing is admitted.
func (a *api) requireRootKey(c *fiber.Ctx) error {
	token, err := bearer(c)
	if err != nil {
		return apierr.New(fiber.StatusUnauthorized, apierr.InvalidAuthHeader,
			"Missing or malformed Authorization header; use: Authorization: Bearer <root key>")
	}
	if a.rootDigest == nil {
		return apierr.New(fiber.StatusUnauthorized, apierr.InvalidAPIKey,
			"The management API is disabled: this server has no root key configured")
	}
	got := sha256.Sum256([]byte(token))
	if subtle.ConstantTimeCompare(got[:], a.rootDigest) != 1 {
		return apierr.New(fiber.StatusUnauthorized, apierr.InvalidAPIKey, "The root key is not valid")
	}
	return c.Next()
}

// v2Meta is the meta object of every Unkey response.
type v2Meta struct {
	RequestID string `json:"requestId"`
}

// v2Pagination follows a list's data.
type v2Pagination struct {
	Cursor  string `json:"cursor,omitempty"`
	HasMore bool   `json:"hasMore"`
}

// v2Envelope is Unkey's success body.
type v2Envelope struct {
	Meta       v2Meta        `json:"meta"`
	Data       any           `json:"data"`
	Pagination *v2Pagination `json:"pagination,omitempty"`
}

// ok answers 200 with data in Unkey's envelope.
func (a *api) ok(c *fiber.Ctx, data any) error {
	return c.JSON(v2Envelope{Meta: v2Meta{RequestID: requestIDOf(c)}, Data: data})
}

// okPage answers 200 with one page of a list. The cursor is left out of a
// last page: Unkey's SDK asks for another page whenever it gets a cursor,
// whatever hasMore says.
func (a *api) okPage(c *fiber.Ctx, data any, cursor string, hasMore bool) error {
	if !hasMore {
		cursor = ""
	}
	return c.JSON(v2Envelope{Meta: v2Meta{RequestID: requestIDOf(c)}, Data: data,
		Pagination: &v2Pagination{Cursor: cursor, HasMore: hasMore}})
}

// call sends one request to keyservice with its own deadline, since fasthttp
// never cancels a handler. Errors go unchanged to the error handler, which
// maps keyservice's codes and outages to HTTP.
func (a *api) call(c *fiber.Ctx, subject string, req, resp any) error {
	ctx, cancel := context.WithTimeout(context.Background(), a.cfg.CallTimeout)
	defer cancel()
	return a.cfg.Keys.Call(keysclient.WithRequestID(ctx, requestIDOf(c)), subject, req, resp)
}

// callIdentity sends a request naming an identity the Unkey way, by one
// string that is either its external id or its id, while contracts name it
// by one field or the other: it asks by external id first (what Unkey's
// examples use), then by id when keyservice finds no such external id. A
// string that is no well-formed id either (keyservice's BAD_REQUEST on the
// second ask) names no identity: the first NOT_FOUND stands, as Unkey
// answers 404 for any unknown identity.
func (a *api) callIdentity(c *fiber.Ctx, subject, identity string, req func(contracts.IdentityRef) any, resp any) error {
	err := a.call(c, subject, req(contracts.IdentityRef{ExternalID: identity}), resp)
	var ce *contracts.Error
	if !errors.As(err, &ce) || ce.Code != contracts.CodeNotFound {
		return err
	}
	byID := a.call(c, subject, req(contracts.IdentityRef{IdentityID: identity}), resp)
	if errors.As(byID, &ce) && ce.Code == contracts.CodeBadRequest {
		return err
	}
	return byID
}

// ratelimitID names a configured limit for Unkey's required "id" (rl_...),
// which contracts.Ratelimit does not carry: a digest of its owner and name,
// so the same limit has the same id in every answer.
func ratelimitID(owner, name string) string {
	sum := sha256.Sum256([]byte(owner + "\x00" + name))
	return "rl_" + hex.EncodeToString(sum[:8])
}
