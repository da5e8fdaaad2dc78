package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/ocrstack/ocrstack/contracts"
)

// refundsConsumer is the ingress's durable consumer of usage events, which
// refunds failed jobs (ingress/internal/refunds).
const refundsConsumer = "ingress-refunds"

// readTimeout bounds reading the stream, ClickHouse and the credits.
const readTimeout = 2 * time.Minute

// outcome is what the stack holds once the load has stopped and settled.
type outcome struct {
	// results maps an accepted job to its final result; a job missing
	// from it got none.
	results map[string]jobResult
	// events are the verification and usage events on OCR_EVENTS.
	events []eventRec
	// stored are the distinct event ids in ClickHouse.
	stored map[string]bool
	// duplicates maps an event id to its extra rows under FINAL.
	duplicates map[string]int
	// copies counts rows beyond one per event id without FINAL: at-least-
	// once deliveries not merged yet, harmless, reported.
	copies int
	// credits maps a key id to its remaining credits; a key missing from
	// it could not be read.
	credits map[string]int64
	notes   []string
	// problems fail the run: what could not be read.
	problems []string
}

type jobResult struct {
	status contracts.JobStatus
	code   contracts.Code // of a failed job
}

// eventRec is one event message on the stream.
type eventRec struct {
	id  string
	seq uint64
	at  time.Time
	// usage: a usage event (of jobID), else a verification (of keyID,
	// for the request requestID).
	usage     bool
	keyID     string
	jobID     string
	requestID string
}

// settle waits, within o.settle, for every job to have a result and for
// the event consumers to drain, then reads the streams, ClickHouse and the
// keys' credits (within readTimeout, so a wait that ran out still leaves
// time to count). What it could not read is in the outcome's problems.
func (h *harness) settle(ctx context.Context, jobs map[string]jobLog, keyIDs []string) outcome {
	out := outcome{results: map[string]jobResult{}, credits: map[string]int64{}}
	waitCtx, cancel := context.WithTimeout(ctx, h.o.settle)
	defer cancel()
	start := time.Now()
	if err := h.waitResults(waitCtx, jobs, out.results); err != nil {
		out.notes = append(out.notes, err.Error())
	} else {
		out.notes = append(out.notes, fmt.Sprintf("every accepted job had a result %s after the load stopped", time.Since(start).Round(time.Second)))
	}
	for _, name := range []string{contracts.EventsConsumer, refundsConsumer} {
		if err := h.waitDrained(waitCtx, name); err != nil {
			out.notes = append(out.notes, err.Error())
		}
	}
	readCtx, cancel := context.WithTimeout(ctx, readTimeout)
	defer cancel()
	// A job left on the queue or moved to the dead letters is not lost
	// if it has a result, but is worth seeing.
	for _, name := range []string{contracts.JobsStream, contracts.DeadStream} {
		if st, err := h.s.js.Stream(readCtx, name); err == nil {
			if info, err := st.Info(readCtx); err == nil && info.State.Msgs > 0 {
				out.notes = append(out.notes, fmt.Sprintf("%s holds %d messages", name, info.State.Msgs))
			}
		}
	}
	var err error
	if out.events, err = h.readEvents(readCtx); err != nil {
		out.problems = append(out.problems, fmt.Sprintf("read %s: %v (the event counts are incomplete)", contracts.EventsStream, err))
	}
	if err := h.readClickHouse(readCtx, &out); err != nil {
		out.problems = append(out.problems, fmt.Sprintf("read ClickHouse: %v (the stored counts are incomplete)", err))
	}
	for _, id := range keyIDs {
		left, err := h.c.creditsLeft(readCtx, id)
		if err != nil {
			out.notes = append(out.notes, fmt.Sprintf("credits of %s unread: %v", id, err))
			continue
		}
		out.credits[id] = left
	}
	return out
}

// waitResults reads each accepted job's result from OCR_RESULTS until all
// have one or ctx ends.
func (h *harness) waitResults(ctx context.Context, jobs map[string]jobLog, results map[string]jobResult) error {
	pending := slices.Collect(maps.Keys(jobs))
	for {
		stream, err := h.s.js.Stream(ctx, contracts.ResultsStream)
		if err == nil {
			var still []string
			for _, id := range pending {
				m, err := stream.GetLastMsgForSubject(ctx, contracts.ResultSubject(id))
				if err != nil {
					still = append(still, id)
					continue
				}
				var res contracts.OCRResult
				if err := json.Unmarshal(m.Data, &res); err != nil {
					return fmt.Errorf("result of %s is not an OCRResult: %w", id, err)
				}
				r := jobResult{status: res.Status}
				if res.Error != nil {
					r.code = res.Error.Code
				}
				results[id] = r
			}
			pending = still
		}
		if len(pending) == 0 {
			return nil
		}
		if err := sleep(ctx, time.Second); err != nil {
			return fmt.Errorf("%d accepted jobs without a result after %s, such as %v", len(pending), h.o.settle, pending[:min(3, len(pending))])
		}
	}
}

// waitDrained waits until a consumer of OCR_EVENTS has nothing pending or
// unacknowledged.
func (h *harness) waitDrained(ctx context.Context, name string) error {
	var last jetstream.ConsumerInfo
	for {
		c, err := h.s.js.Consumer(ctx, contracts.EventsStream, name)
		if err == nil {
			info, err := c.Info(ctx)
			if err == nil {
				last = *info
				if info.NumPending == 0 && info.NumAckPending == 0 {
					return nil
				}
			}
		}
		if err := sleep(ctx, 250*time.Millisecond); err != nil {
			return fmt.Errorf("consumer %s not drained after %s: %d pending, %d unacknowledged", name, h.o.settle, last.NumPending, last.NumAckPending)
		}
	}
}

// readEvents reads every verification and usage event on OCR_EVENTS.
func (h *harness) readEvents(ctx context.Context) ([]eventRec, error) {
	stream, err := h.s.js.Stream(ctx, contracts.EventsStream)
	if err != nil {
		return nil, err
	}
	subjects := []string{contracts.SubjectEventsVerification, contracts.SubjectEventsUsage}
	info, err := stream.Info(ctx, jetstream.WithSubjectFilter(contracts.SubjectEventsAll))
	if err != nil {
		return nil, err
	}
	want := 0
	for _, s := range subjects {
		want += int(info.State.Subjects[s])
	}
	cons, err := stream.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{FilterSubjects: subjects})
	if err != nil {
		return nil, err
	}
	var events []eventRec
	for read := 0; read < want; {
		batch, err := cons.Fetch(1000, jetstream.FetchMaxWait(2*time.Second))
		if err != nil {
			return nil, err
		}
		n := 0
		for m := range batch.Messages() {
			n++
			meta, err := m.Metadata()
			if err != nil {
				return nil, err
			}
			// A batch's events are named by their eventIds, not by the
			// batch's Nats-Msg-Id.
			count := m.Headers().Get(contracts.HeaderEventBatch)
			msgID := m.Headers().Get(contracts.HeaderMsgID)
			if count != "" {
				msgID = ""
			}
			bodies, err := contracts.EventBodies(count, m.Data())
			if err != nil {
				return nil, fmt.Errorf("event message %d: %w", meta.Sequence.Stream, err)
			}
			for _, b := range bodies {
				events = append(events, decodeEvent(m.Subject(), msgID, b, meta.Sequence.Stream, meta.Timestamp))
			}
		}
		read += n
		if err := batch.Error(); err != nil && !errors.Is(err, jetstream.ErrNoMessages) {
			return nil, err
		}
		if n == 0 {
			if ctx.Err() != nil {
				return nil, fmt.Errorf("read %d of %d events: %w", len(events), want, ctx.Err())
			}
		}
	}
	return events, nil
}

// decodeEvent reads an event message: its id is its Nats-Msg-Id, or the
// eventId in its body. A body that does not decode still counts as an
// event, by its id, without key or job.
func decodeEvent(subject, msgID string, data []byte, seq uint64, at time.Time) eventRec {
	var e struct {
		EventID   string `json:"eventId"`
		KeyID     string `json:"keyId"`
		JobID     string `json:"jobId"`
		RequestID string `json:"requestId"`
	}
	_ = json.Unmarshal(data, &e)
	r := eventRec{id: msgID, seq: seq, at: at, usage: subject == contracts.SubjectEventsUsage,
		keyID: e.KeyID, jobID: e.JobID, requestID: e.RequestID}
	if r.id == "" {
		r.id = e.EventID
	}
	return r
}

// readClickHouse reads the stored event ids, waiting up to 20 s for those
// the stream has to arrive (analytics acknowledges an event only once it
// is stored, so once its consumer drained they should all be there).
func (h *harness) readClickHouse(ctx context.Context, out *outcome) error {
	conn, err := clickhouse.Open(&clickhouse.Options{Addr: []string{h.s.chAddr}, Auth: clickhouse.Auth{Database: database}})
	if err != nil {
		return err
	}
	defer conn.Close()
	tables := []string{"verifications", "usage"}
	deadline := time.Now().Add(20 * time.Second)
	for {
		out.stored = map[string]bool{}
		for _, t := range tables {
			rows, err := conn.Query(ctx, "SELECT DISTINCT event_id FROM "+t)
			if err != nil {
				return err
			}
			for rows.Next() {
				var id string
				if err := rows.Scan(&id); err != nil {
					rows.Close()
					return err
				}
				out.stored[id] = true
			}
			rows.Close()
			if err := rows.Err(); err != nil {
				return err
			}
		}
		missing := 0
		for _, e := range out.events {
			if !out.stored[e.id] {
				missing++
			}
		}
		if missing == 0 || time.Now().After(deadline) {
			break
		}
		if err := sleep(ctx, time.Second); err != nil {
			return err
		}
	}
	out.duplicates = map[string]int{}
	for _, t := range tables {
		rows, err := conn.Query(ctx, "SELECT event_id, count() AS n FROM "+t+" FINAL GROUP BY event_id HAVING n > 1")
		if err != nil {
			return err
		}
		for rows.Next() {
			var id string
			var n uint64
			if err := rows.Scan(&id, &n); err != nil {
				rows.Close()
				return err
			}
			out.duplicates[id] += int(n) - 1
		}
		rows.Close()
		var copies int64
		if err := conn.QueryRow(ctx, "SELECT toInt64(count()) - toInt64(uniqExact(event_id)) FROM "+t).Scan(&copies); err != nil {
			return err
		}
		out.copies += int(copies)
	}
	return nil
}
