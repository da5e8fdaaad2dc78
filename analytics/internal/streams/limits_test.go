package streams

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/ocrstack/ocrstack/analytics/internal/testenv"
	"github.com/ocrstack/ocrstack/contracts"
)

// TestEventsStreamFullKeepsBacklog checks the rule the events stream's
// sizing rests on (contracts.EventsMaxMsgs): when the stream is full, the
// oldest messages, which the consumer has long acknowledged, make room,
// never a new one, so a consumer that stopped (analytics or ClickHouse
// down) loses nothing while its backlog alone fits in the stream. The
// stream is the real events configuration with a limit of 100 messages.
func TestEventsStreamFullKeepsBacklog(t *testing.T) {
	_, js, _ := testenv.NATS(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	spec := contracts.EventsStreamSpec
	spec.MaxMsgs = 100
	stream, err := js.CreateStream(ctx, StreamConfig(spec))
	require.NoError(t, err)
	cons, err := js.CreateOrUpdateConsumer(ctx, contracts.EventsStream, EventsConsumerConfig())
	require.NoError(t, err)

	publish := func(from, to int) {
		for i := from; i < to; i++ {
			_, err := js.Publish(ctx, contracts.SubjectEventsUsage, fmt.Appendf(nil, `{"eventId":"e%d"}`, i),
				jetstream.WithMsgID(fmt.Sprintf("e%d", i)))
			require.NoError(t, err, "a publish to a full stream is never refused")
		}
	}
	// 80 events read and acknowledged, then the consumer stops and 90 more
	// arrive: 170 published into a stream of 100.
	publish(0, 80)
	batch, err := cons.Fetch(80, jetstream.FetchMaxWait(5*time.Second))
	require.NoError(t, err)
	read := 0
	for msg := range batch.Messages() {
		require.NoError(t, msg.DoubleAck(ctx))
		read++
	}
	require.Equal(t, 80, read)
	publish(80, 170)

	info, err := stream.Info(ctx)
	require.NoError(t, err)
	require.Equal(t, uint64(100), info.State.Msgs)
	require.Equal(t, uint64(71), info.State.FirstSeq, "the 70 oldest, acknowledged, events made room")

	var got []string
	for len(got) < 90 {
		batch, err := cons.Fetch(90-len(got), jetstream.FetchMaxWait(5*time.Second))
		require.NoError(t, err)
		n := len(got)
		for msg := range batch.Messages() {
			got = append(got, string(msg.Data()))
			require.NoError(t, msg.Ack())
		}
		require.Greater(t, len(got), n, "backlog events missing")
	}
	require.Equal(t, `{"eventId":"e80"}`, got[0], "the backlog is complete, from the first unread event")
	require.Equal(t, `{"eventId":"e169"}`, got[89])
}
