package httpapi

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/micro"
	"github.com/ocrstack/ocrstack/contracts"
	"github.com/ocrstack/ocrstack/ingress/internal/keysclient"
	"github.com/ocrstack/ocrstack/ingress/internal/natstest"
	"github.com/stretchr/testify/require"
)

// The /v2 tests run the real keysclient against an in-process NATS server,
// with small responders on the contracts subjects standing in for
// keyservice: they record what arrives and answer canned replies or
// micro-style error replies. This checks the ingress's translation against
// the wire contract; keyservice itself is exercised in the end-to-end test.

const (
	testRootKey   = "root_test_0123456789abcdefghij"
	testRequestID = "req-v2-test"
)

// startNATS runs a NATS server for one test and returns a client connection.
func startNATS(t *testing.T) *nats.Conn {
	t.Helper()
	nc := natstest.Start(t)
	return nc
}

// reply is one canned keyservice answer: a body, or a micro error reply
// when code is set, or no answer at all when silent.
type reply struct {
	body    any
	code    contracts.Code
	message string
	silent  bool
}

// call is one request keyservice received.
type call struct {
	Subject   string
	Body      string
	RequestID string
}

// fakeKeyservice answers on the contracts subjects from a script.
type fakeKeyservice struct {
	mu    sync.Mutex
	calls []call
}

// serve subscribes on a connection of its own to each subject of script;
// the n-th request on a subject gets the n-th reply, the last one repeating.
func serveKeyservice(t *testing.T, url string, script map[string][]reply) *fakeKeyservice {
	t.Helper()
	nc, err := nats.Connect(url)
	require.NoError(t, err)
	var subs []*nats.Subscription
	// The server drops a closed connection's subscriptions a moment after
	// the close: unsubscribe and flush (the server has then processed the
	// unsubscriptions) first, or the next test's request may be routed to
	// this fake and never answered.
	t.Cleanup(func() {
		for _, s := range subs {
			_ = s.Unsubscribe()
		}
		_ = nc.Flush()
		nc.Close()
	})
	k := &fakeKeyservice{}
	for subject, replies := range script {
		n := 0
		sub, err := nc.QueueSubscribe(subject, contracts.KeyServiceQueue, func(m *nats.Msg) {
			k.mu.Lock()
			k.calls = append(k.calls, call{Subject: m.Subject, Body: string(m.Data), RequestID: m.Header.Get(contracts.HeaderRequestID)})
			r := replies[min(n, len(replies)-1)]
			n++
			k.mu.Unlock()
			respond(t, m, r)
		})
		require.NoError(t, err)
		subs = append(subs, sub)
	}
	require.NoError(t, nc.Flush())
	return k
}

func respond(t *testing.T, m *nats.Msg, r reply) {
	if r.silent {
		return
	}
	out := nats.NewMsg(m.Reply)
	if r.code != "" {
		out.Header.Set(micro.ErrorHeader, r.message)
		out.Header.Set(micro.ErrorCodeHeader, string(r.code))
		out.Data, _ = json.Marshal(contracts.Error{Code: r.code, Message: r.message})
	} else {
		var err error
		out.Data, err = json.Marshal(r.body)
		if err != nil {
			t.Errorf("encode canned reply: %v", err)
		}
	}
	if err := m.RespondMsg(out); err != nil {
		t.Errorf("respond: %v", err)
	}
}

func (k *fakeKeyservice) received() []call {
	k.mu.Lock()
	defer k.mu.Unlock()
	return append([]call(nil), k.calls...)
}

// newV2App serves the API with the real keysclient on nc.
func newV2App(nc *nats.Conn, rootKey string, logs io.Writer) *fiber.App {
	return New(Config{
		Keys: keysclient.New(nc, 2*time.Second), Jobs: &stubJobs{}, Logger: slog.New(slog.NewTextHandler(logs, nil)),
		Ready: func(context.Context) map[string]error { return nil }, APIID: "api_ocr", RootKey: rootKey,
		MaxImageBytes: 1 << 20, SyncWait: time.Second, CallTimeout: 2 * time.Second, // roomy: -race under load
		Now: func() time.Time { return now },
	})
}

// v2Request is a POST to /v2/<route> with the root key and a fixed request ID.
func v2Request(route, body string) *http.Request {
	req := httptest.NewRequest(http.MethodPost, "/v2/"+route, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+testRootKey)
	req.Header.Set("X-Request-Id", testRequestID)
	return req
}

// v2Error returns the error object of an Unkey error body.
func v2Error(t *testing.T, r response) map[string]any {
	t.Helper()
	e, ok := r.body["error"].(map[string]any)
	require.True(t, ok, "no error object in %s", r.raw)
	require.Equal(t, float64(r.status), e["status"], r.raw)
	require.Equal(t, map[string]any{"requestId": r.header.Get("X-Request-Id")}, r.body["meta"], r.raw)
	for _, f := range []string{"title", "detail", "type"} {
		require.NotEmpty(t, e[f], "error.%s in %s", f, r.raw)
	}
	return e
}

// locations lists the locations of a 400's validation errors.
func locations(t *testing.T, e map[string]any) []string {
	t.Helper()
	errs, ok := e["errors"].([]any)
	require.True(t, ok, "a 400 must carry errors[]: %v", e)
	var out []string
	for _, x := range errs {
		out = append(out, x.(map[string]any)["location"].(string))
	}
	return out
}
