package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"syscall"
	"time"
)

// requestTimeout bounds one request; a hung ingress counts as an error.
const requestTimeout = 30 * time.Second

// client calls the ingress's HTTP API.
type client struct {
	url string
	hc  *http.Client
}

func newClient(url string) *client {
	return &client{url: url, hc: &http.Client{
		Timeout:   requestTimeout,
		Transport: &http.Transport{MaxIdleConnsPerHost: 32, DisableCompression: true},
	}}
}

// Statuses for requests without an HTTP answer.
const (
	// statusNoAnswer: the connection broke or timed out with the request
	// sent, or in part sent: the server may have acted on it.
	statusNoAnswer = 0
	// statusConnRefused: nothing listened (an ingress being restarted):
	// the request never reached a server.
	statusConnRefused = -1
)

// do sends a request and decodes a JSON body into out when the status is
// 2xx. Without an answer the status is statusNoAnswer or
// statusConnRefused.
func (c *client) do(ctx context.Context, method, path, bearer, ctype string, body []byte, out any) (int, error) {
	req, err := http.NewRequestWithContext(ctx, method, c.url+path, bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Authorization", "Bearer "+bearer)
	if id, ok := ctx.Value(requestIDKey{}).(string); ok {
		req.Header.Set("X-Request-Id", id)
	}
	if key, ok := ctx.Value(idempotencyKey{}).(string); ok {
		req.Header.Set("Idempotency-Key", key)
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	resp, err := c.hc.Do(req)
	if errors.Is(err, syscall.ECONNREFUSED) {
		return statusConnRefused, err
	}
	if err != nil {
		return statusNoAnswer, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return 0, err
	}
	if resp.StatusCode/100 != 2 || out == nil {
		return resp.StatusCode, nil
	}
	if err := json.Unmarshal(b, out); err != nil {
		return resp.StatusCode, fmt.Errorf("%s %s: status %d, body %.200q: %w", method, path, resp.StatusCode, b, err)
	}
	return resp.StatusCode, nil
}

// requestIDKey holds, in a request's context, the X-Request-Id to send:
// the ingress passes it to keyservice, whose verification event carries it.
type requestIDKey struct{}

// withRequestID names the request sent with ctx.
func withRequestID(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, requestIDKey{}, id)
}

// idempotencyKey is the context key of a request's Idempotency-Key.
type idempotencyKey struct{}

// withIdempotencyKey returns a context whose requests carry key as their
// Idempotency-Key.
func withIdempotencyKey(ctx context.Context, key string) context.Context {
	return context.WithValue(ctx, idempotencyKey{}, key)
}

// v2 calls an Unkey v2 route with the root key; data receives the
// envelope's data.
func (c *client) v2(ctx context.Context, route string, in, data any) (int, error) {
	body, err := json.Marshal(in)
	if err != nil {
		return 0, err
	}
	env := struct {
		Data any `json:"data"`
	}{Data: data}
	return c.do(ctx, http.MethodPost, "/v2/"+route, rootKey, "application/json", body, &env)
}

// createKey makes a key with credits and no rate limit.
func (c *client) createKey(ctx context.Context, name string, credits int64) (key, keyID string, err error) {
	var out struct {
		Key   string `json:"key"`
		KeyID string `json:"keyId"`
	}
	status, err := c.v2(ctx, "keys.createKey", map[string]any{
		"apiId": "api_ocr", "prefix": "chaos", "name": name, "credits": map[string]any{"remaining": credits},
	}, &out)
	if err == nil && (status != http.StatusOK || out.Key == "") {
		err = fmt.Errorf("create key %s: status %d", name, status)
	}
	return out.Key, out.KeyID, err
}

// creditsLeft reads a key's remaining credits.
func (c *client) creditsLeft(ctx context.Context, keyID string) (int64, error) {
	var out struct {
		Credits *struct {
			Remaining *int64 `json:"remaining"`
		} `json:"credits"`
	}
	status, err := c.v2(ctx, "keys.getKey", map[string]string{"keyId": keyID}, &out)
	switch {
	case err != nil:
		return 0, err
	case status != http.StatusOK:
		return 0, fmt.Errorf("get key %s: status %d", keyID, status)
	case out.Credits == nil || out.Credits.Remaining == nil:
		return 0, fmt.Errorf("get key %s: no credits in the answer", keyID)
	}
	return *out.Credits.Remaining, nil
}

// verify calls keys.verifyKey (cost 1) and returns its code.
func (c *client) verify(ctx context.Context, key string) (int, string, error) {
	var out struct {
		Valid bool   `json:"valid"`
		Code  string `json:"code"`
	}
	status, err := c.v2(ctx, "keys.verifyKey", map[string]string{"key": key}, &out)
	return status, out.Code, err
}

// submit POSTs /v1/jobs with img as the multipart part "image" and returns
// the job id of a 202.
func (c *client) submit(ctx context.Context, key string, img []byte) (int, string, error) {
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	part, err := mw.CreateFormFile("image", "page.png")
	if err != nil {
		return 0, "", err
	}
	if _, err := part.Write(img); err != nil {
		return 0, "", err
	}
	if err := mw.Close(); err != nil {
		return 0, "", err
	}
	var out struct {
		JobID string `json:"jobId"`
	}
	status, err := c.do(ctx, http.MethodPost, "/v1/jobs", key, mw.FormDataContentType(), buf.Bytes(), &out)
	if err == nil && status == http.StatusAccepted && out.JobID == "" {
		err = errors.New("202 without a jobId")
	}
	return status, out.JobID, err
}

// poll GETs /v1/jobs/{id}.
func (c *client) poll(ctx context.Context, key, id string) (int, error) {
	return c.do(ctx, http.MethodGet, "/v1/jobs/"+id, key, "", nil, nil)
}
