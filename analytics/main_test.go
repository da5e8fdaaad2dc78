package main

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/ocrstack/ocrstack/analytics/internal/testenv"
	"github.com/ocrstack/ocrstack/contracts"
)

// TestRunBadConfig checks that run refuses a bad environment before it
// touches the network, naming every bad variable.
func TestRunBadConfig(t *testing.T) {
	env := map[string]string{"OCR_ANALYTICS_BATCH_SIZE": "0", "OCR_CLICKHOUSE_DATABASE": "a-b"}
	logs := &testenv.Logs{}
	err := run(context.Background(), func(k string) string { return env[k] }, logs)
	require.ErrorContains(t, err, "OCR_ANALYTICS_BATCH_SIZE")
	require.ErrorContains(t, err, "OCR_CLICKHOUSE_DATABASE")
}

// TestRun checks the wired service end to end: it answers $SRV.PING on its
// micro service name, stores a published event, stops cleanly when its
// context ends, and a second start-up on the same database applies no
// migration.
func TestRun(t *testing.T) {
	nc, js, url := testenv.NATS(t)
	addr, db := testenv.ClickHouse(t)
	env := map[string]string{
		"OCR_NATS_URL": url, "OCR_CLICKHOUSE_ADDR": addr, "OCR_CLICKHOUSE_DATABASE": db,
		"OCR_ANALYTICS_FLUSH_INTERVAL": "50ms", "OCR_OPS_ADDR": "127.0.0.1:0",
	}
	steps := []struct {
		name        string
		eventID     string
		wantApplied string
	}{
		{name: "first start-up", eventID: "evt_run_1", wantApplied: `"applied":3`},
		{name: "second start-up", eventID: "evt_run_2", wantApplied: `"applied":0`},
	}
	for i, step := range steps {
		wantTotal := int64(i + 1) // each step adds one verification
		t.Run(step.name, func(t *testing.T) {
			logs := &testenv.Logs{}
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- run(ctx, func(k string) string { return env[k] }, logs) }()
			defer func() {
				cancel()
				<-done
				if t.Failed() {
					t.Logf("service log:\n%s", logs.String())
				}
			}()

			require.Eventually(t, func() bool {
				_, err := nc.Request("$SRV.PING."+contracts.AnalyticsName, nil, time.Second)
				return err == nil
			}, 20*time.Second, 20*time.Millisecond, "micro service answers ping")
			require.NotEmpty(t, logs.Lines(`"msg":"schema up to date"`, step.wantApplied))

			data, err := json.Marshal(contracts.VerificationEvent{EventID: step.eventID, Time: 1767225600000, Outcome: contracts.VerifyValid})
			require.NoError(t, err)
			_, err = js.Publish(context.Background(), contracts.SubjectEventsVerification, data, jetstream.WithMsgID(step.eventID))
			require.NoError(t, err)
			conn := testenv.Conn(t, addr, db)
			require.Eventually(t, func() bool {
				var n uint64
				err := conn.QueryRow(context.Background(),
					"SELECT count() FROM verifications FINAL WHERE event_id = ?", step.eventID).Scan(&n)
				return err == nil && n == 1
			}, 20*time.Second, 20*time.Millisecond)

			// The wiring of the rest: the query endpoint answers from the
			// stored event, the rollup refresher picks it up, and a notice
			// lands in its table.
			q, err := json.Marshal(contracts.VerificationsQuery{Start: 1767225600000, End: 1767225660000, GroupBy: contracts.GroupByOutcome})
			require.NoError(t, err)
			reply, err := nc.Request(contracts.SubjectAnalyticsVerifications, q, 10*time.Second)
			require.NoError(t, err)
			var got contracts.VerificationsResponse
			require.NoError(t, json.Unmarshal(reply.Data, &got), string(reply.Data))
			require.Equal(t, []contracts.VerificationBucket{{Outcome: "VALID", Total: wantTotal, Valid: wantTotal}}, got.Buckets)
			require.Eventually(t, func() bool {
				var n uint64
				err := conn.QueryRow(context.Background(),
					"SELECT sum(verifications) FROM verifications_per_month FINAL").Scan(&n)
				return err == nil && n == uint64(wantTotal)
			}, 20*time.Second, 20*time.Millisecond, "rollups refreshed")
			notice, err := json.Marshal(contracts.NoticeEvent{EventID: "n_" + step.eventID, Time: 1767225600000, Kind: contracts.NoticeLowCredits, KeyID: "k"})
			require.NoError(t, err)
			_, err = js.Publish(context.Background(), contracts.SubjectEventsNotice, notice, jetstream.WithMsgID("n_"+step.eventID))
			require.NoError(t, err)
			require.Eventually(t, func() bool {
				var n uint64
				err := conn.QueryRow(context.Background(),
					"SELECT count() FROM notices FINAL WHERE event_id = ?", "n_"+step.eventID).Scan(&n)
				return err == nil && n == 1
			}, 20*time.Second, 20*time.Millisecond, "notice stored")

			cancel()
			select {
			case err := <-done:
				require.NoError(t, err)
				done <- nil // for the deferred wait
			case <-time.After(15 * time.Second):
				t.Fatal("run did not return after cancel")
			}
			require.NotEmpty(t, logs.Lines(`"msg":"analytics stopped"`))
		})
	}
}
