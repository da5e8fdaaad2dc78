package service

import (
	"bufio"
	"bytes"
	"encoding/json"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/ocrstack/ocrstack/contracts"
	"github.com/ocrstack/ocrstack/keyservice/internal/natstest"
	"github.com/ocrstack/ocrstack/keyservice/internal/store"
	"github.com/ocrstack/ocrstack/keyservice/internal/streams"
	"github.com/ocrstack/ocrstack/ops"
	"github.com/stretchr/testify/require"
)

// logBuffer is an io.Writer that handlers of several goroutines share.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// lines returns the JSON log lines whose msg is msg.
func (b *logBuffer) lines(t *testing.T, msg string) []map[string]any {
	t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []map[string]any
	sc := bufio.NewScanner(bytes.NewReader(b.buf.Bytes()))
	for sc.Scan() {
		var line map[string]any
		require.NoError(t, json.Unmarshal(sc.Bytes(), &line))
		if line["msg"] == msg {
			out = append(out, line)
		}
	}
	return out
}

// TestRequestLogIDs checks that keyservice's log lines about a request
// carry the caller's request id and the trace id of its traceparent, as
// the worker's do: from the headers the ingress's keysclient sends, or,
// for a verification, from the body's requestId when no header has one.
func TestRequestLogIDs(t *testing.T) {
	_, nc := natstest.Start(t)
	js, err := jetstream.New(nc)
	require.NoError(t, err)
	ctx := t.Context()
	require.NoError(t, streams.Ensure(ctx, js, contracts.EventsStreamSpec))
	st, err := store.Open(ctx, js)
	require.NoError(t, err)
	t.Cleanup(func() { _ = st.Close() })
	logs := &logBuffer{}
	svc := New(Config{Store: st, JS: js, Logger: slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	m, err := svc.Register(nc)
	require.NoError(t, err)
	t.Cleanup(func() { _ = m.Stop(); svc.Wait() })

	trace := ops.NewTrace()
	request := func(subject, requestID string, traced bool, body any) *nats.Msg {
		t.Helper()
		msg := nats.NewMsg(subject)
		msg.Data, err = json.Marshal(body)
		require.NoError(t, err)
		if requestID != "" {
			msg.Header.Set(contracts.HeaderRequestID, requestID)
		}
		if traced {
			msg.Header.Set(ops.HeaderTraceparent, trace.String())
		}
		reply, err := nc.RequestMsg(msg, 5*time.Second)
		require.NoError(t, err)
		require.Empty(t, reply.Header.Get("Nats-Service-Error-Code"), string(reply.Data))
		return reply
	}

	reply := request(contracts.SubjectKeysCreate, "req_create", true, contracts.CreateKeyRequest{APIID: "api_test"})
	var created contracts.CreateKeyResponse
	require.NoError(t, json.Unmarshal(reply.Data, &created))
	request(contracts.SubjectKeysVerify, "req_verify", true, contracts.VerifyKeyRequest{Key: created.Key})
	request(contracts.SubjectKeysVerify, "", false, contracts.VerifyKeyRequest{Key: created.Key, RequestID: "req_body"})

	cases := []struct {
		name, msg, wantRequestID, wantTraceID string
	}{
		{"a key's creation", "key created", "req_create", trace.TraceID},
		{"a verification", "key verified", "req_verify", trace.TraceID},
		{"a verification with its id in the body", "key verified", "req_body", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var found bool
			for _, line := range logs.lines(t, tc.msg) {
				if line["request_id"] == tc.wantRequestID {
					found = true
					require.Equal(t, tc.wantTraceID, line["trace_id"], "line %v", line)
					require.Equal(t, created.KeyID, line["key_id"], "line %v", line)
				}
			}
			require.True(t, found, "no %q line with request_id %s", tc.msg, tc.wantRequestID)
		})
	}
}
