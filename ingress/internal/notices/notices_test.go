package notices

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/ocrstack/ocrstack/contracts"
	"github.com/ocrstack/ocrstack/ingress/internal/callback"
	"github.com/ocrstack/ocrstack/ingress/internal/natstest"
	"github.com/ocrstack/ocrstack/ops/emit"
	"github.com/stretchr/testify/require"
)

func threshold10(json.RawMessage) (int64, bool) { return 10, true }

func verification(left int64) contracts.VerifyKeyResponse {
	return contracts.VerifyKeyResponse{Valid: true, Code: contracts.VerifyValid, KeyID: "key_1", APIID: "api_ocr", ExternalID: "ada@example.com",
		Identity: &contracts.Identity{ID: "id_1", ExternalID: "ada@example.com", Credits: &contracts.Credits{Remaining: left}}}
}

// TestCrossing checks that only the verification that takes the balance
// from above the threshold to at or under it makes a notice, and that the
// notice's id depends on the crossing only.
func TestCrossing(t *testing.T) {
	now := time.UnixMilli(1_767_225_600_000)
	cases := []struct {
		name   string
		v      contracts.VerifyKeyResponse
		cost   int64
		wantOK bool
	}{
		{"above", verification(11), 1, false},
		{"crosses", verification(10), 1, true},
		{"crosses with a larger cost", verification(7), 5, true},
		{"already under", verification(9), 1, false},
		{"free verification", verification(10), 0, false},
		{"refused", func() contracts.VerifyKeyResponse { v := verification(10); v.Valid = false; return v }(), 1, false},
		{"no identity credits", func() contracts.VerifyKeyResponse { v := verification(10); v.Identity.Credits = nil; return v }(), 1, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ev, ok := Crossing(tc.v, tc.cost, threshold10, now)
			require.Equal(t, tc.wantOK, ok)
			if ok {
				require.Equal(t, contracts.NoticeLowCredits, ev.Kind)
				require.Equal(t, int64(10), ev.Threshold)
				again, _ := Crossing(tc.v, tc.cost, threshold10, now.Add(time.Minute))
				require.Equal(t, ev.EventID, again.EventID, "a retry has the same id")
			}
		})
	}
}

// TestPublishAndWebhook checks, on a real JetStream, that a crossing
// observed twice is stored once on the events stream, and that the
// webhook receives it once, signed like a job callback.
func TestPublishAndWebhook(t *testing.T) {
	nc, js := natstest.JetStream(t)
	ctx := context.Background()
	_, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: contracts.EventsStream, Subjects: []string{contracts.SubjectEventsAll}, Duplicates: contracts.EventsDuplicateWindow})
	require.NoError(t, err)
	secret := []byte("0123456789abcdef0123456789abcdef")
	got := make(chan *http.Request, 4)
	bodies := make(chan []byte, 4)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got <- r
		bodies <- b
	}))
	defer srv.Close()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	hook, err := NewWebhook(WebhookConfig{JetStream: js, URL: srv.URL, Secret: secret, Client: callback.NewClient(true), Logger: log})
	require.NoError(t, err)
	require.NoError(t, hook.Start(ctx))
	defer func() { require.NoError(t, hook.Stop(ctx)) }()

	e, err := emit.New(emit.Config{Conn: nc})
	require.NoError(t, err)
	t.Cleanup(e.Close)
	n := New(Config{Events: e, Threshold: threshold10, Logger: log})
	n.Observe(verification(10), 1, "req-1")
	n.Observe(verification(10), 1, "req-1") // a retry of the same crossing
	n.Observe(verification(9), 1, "req-2")  // under already: nothing
	drainCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	require.Zero(t, e.Drain(drainCtx), "publishes not acknowledged")
	info, err := js.Stream(ctx, contracts.EventsStream)
	require.NoError(t, err)
	require.Equal(t, uint64(1), info.CachedInfo().State.Msgs)

	select {
	case r := <-got:
		b := <-bodies
		require.NoError(t, callback.Verify(secret, r.Header.Get(callback.SignatureHeader), b, time.Now(), time.Minute))
		var ev contracts.NoticeEvent
		require.NoError(t, json.Unmarshal(b, &ev))
		require.Equal(t, "ada@example.com", ev.OwnerID)
		require.Equal(t, int64(10), ev.CreditsRemaining)
		require.Equal(t, ev.EventID, r.Header.Get("X-OCR-Notice-Id"))
	case <-time.After(10 * time.Second):
		t.Fatal("the webhook got nothing")
	}
	select {
	case <-got:
		t.Fatal("the webhook got the notice twice")
	case <-time.After(300 * time.Millisecond):
	}
}
