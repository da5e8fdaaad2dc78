package worker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/ocrstack/ocrstack/contracts"
)

// deadError ends a job: it was answered with a failed result (or cannot be,
// being malformed) and no retry can change that, so its message is copied to
// the dead-letter stream and terminated.
type deadError struct {
	reason string // a contracts.Dead* reason
	err    error
}

func (e *deadError) Error() string { return e.reason + ": " + e.err.Error() }
func (e *deadError) Unwrap() error { return e.err }

// isPoison reports whether code, the failure of an answered job, says its
// input can never be recognised: such jobs also go to the dead-letter
// stream, for whoever produced them to inspect.
func isPoison(code contracts.Code) bool {
	switch code {
	case contracts.CodeBadRequest, contracts.CodeUnsupportedMedia, contracts.CodeUnreadableImage, contracts.CodeImageTooLarge,
		contracts.CodeTooManyPages, contracts.CodePageOutOfRange,
		contracts.CodeTimeout: // recognition past the job deadline: the same input would be again
		return true
	}
	return false
}

// deadLetter is where a job went and why.
type deadLetter struct {
	reason     string
	code       contracts.Code
	detail     string
	seq        uint64
	deliveries uint64
}

// bury copies a job message (its body and headers, as delivered) to the
// dead-letter stream and waits until the copy is stored. Nats-Msg-Id is
// derived from the job's stream sequence, so copying one job twice (a
// redelivery after a lost ack) stores it once.
func (w *Worker) bury(ctx context.Context, data []byte, hdr nats.Header, d deadLetter) error {
	m := nats.NewMsg(contracts.DeadSubject(d.reason))
	m.Data = data
	for k, vs := range hdr {
		if !strings.HasPrefix(k, "Nats-") { // the server's own, or dedup ids of the original
			m.Header[k] = vs
		}
	}
	if d.seq != 0 {
		m.Header.Set(contracts.HeaderMsgID, "dead-"+strconv.FormatUint(d.seq, 10))
	}
	m.Header.Set(contracts.HeaderDeadCode, string(d.code))
	m.Header.Set(contracts.HeaderDeadReason, oneLine(d.detail))
	m.Header.Set(contracts.HeaderDeadSeq, strconv.FormatUint(d.seq, 10))
	m.Header.Set(contracts.HeaderDeadDeliveries, strconv.FormatUint(d.deliveries, 10))
	ctx, cancel := context.WithTimeout(ctx, ackTimeout)
	defer cancel()
	if _, err := w.js.PublishMsg(ctx, m); err != nil {
		return fmt.Errorf("copy job to %s: %w", contracts.DeadStream, err)
	}
	return nil
}

func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

// maxDeliveriesAdvisory is the part of the server's
// io.nats.jetstream.advisory.v1.max_deliver event the worker needs.
type maxDeliveriesAdvisory struct {
	StreamSeq  uint64 `json:"stream_seq"`
	Deliveries uint64 `json:"deliveries"`
}

// maxDeliveriesSubject is where the server announces a job delivered
// MaxDeliver times without being settled.
const maxDeliveriesSubject = "$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES." + contracts.JobsStream + "." + contracts.JobsConsumer

// deadQueue is the queue group of the workers' advisory subscriptions, so
// one worker handles each advisory.
const deadQueue = "ocr-worker-dead"

// WatchMaxDeliveries subscribes to the max-deliveries advisories of the
// jobs consumer, in a queue group shared by all workers, and handles each
// with handleMaxDeliveries until ctx ends. Advisories are not stored: one
// sent while no worker runs is lost, and its job stays on the jobs stream
// until JobsMaxAge (the failure is logged by nobody; see the README).
func (w *Worker) WatchMaxDeliveries(ctx context.Context) error {
	sub, err := w.js.Conn().QueueSubscribe(maxDeliveriesSubject, deadQueue, func(m *nats.Msg) {
		var adv maxDeliveriesAdvisory
		if err := json.Unmarshal(m.Data, &adv); err != nil || adv.StreamSeq == 0 {
			w.log.Warn("unreadable max-deliveries advisory", "err", err, "data", string(m.Data))
			return
		}
		hctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		if err := w.handleMaxDeliveries(hctx, adv); err != nil {
			w.log.Error("job delivered too often and not moved aside", "stream_seq", adv.StreamSeq, "err", err)
		}
	})
	if err != nil {
		return fmt.Errorf("subscribe to max-deliveries advisories: %w", err)
	}
	context.AfterFunc(ctx, func() { _ = sub.Unsubscribe() })
	return nil
}

// errGaveUp is the failure of a job no worker could settle.
var errGaveUp = errors.New("every delivery of the job failed: its worker crashed or stalled each time")

// handleMaxDeliveries moves aside the job at adv.StreamSeq: copied to the
// dead-letter stream, answered with a failed result (so its producer is not
// left waiting), then deleted from the jobs stream. A job already gone was
// settled meanwhile and is left alone.
func (w *Worker) handleMaxDeliveries(ctx context.Context, adv maxDeliveriesAdvisory) error {
	stream, err := w.js.Stream(ctx, contracts.JobsStream)
	if err != nil {
		return err
	}
	raw, err := stream.GetMsg(ctx, adv.StreamSeq)
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("read job %d: %w", adv.StreamSeq, err)
	}
	job, decodeErr := DecodeJob(raw.Data)
	requestID := raw.Header.Get(contracts.HeaderRequestID)
	if requestID == "" {
		requestID = job.RequestID
	}
	reason, code := contracts.DeadMaxDeliveries, contracts.CodeInternal
	detail := fmt.Sprintf("delivered %d times, never settled", adv.Deliveries)
	if errors.Is(decodeErr, ErrMalformedJob) {
		code, detail = "", detail+"; malformed: "+decodeErr.Error()
	}
	d := deadLetter{reason: reason, code: code, detail: detail, seq: adv.StreamSeq, deliveries: adv.Deliveries}
	if err := w.bury(ctx, raw.Data, raw.Header, d); err != nil {
		return err
	}
	w.metrics.buried(reason)
	if !errors.Is(decodeErr, ErrMalformedJob) {
		if err := w.publish(ctx, job, requestID, answer{err: errGaveUp, languages: job.Languages}); err != nil {
			return err
		}
	}
	if err := stream.DeleteMsg(ctx, adv.StreamSeq); err != nil && !errors.Is(err, jetstream.ErrMsgNotFound) {
		return fmt.Errorf("delete job %d: %w", adv.StreamSeq, err)
	}
	w.log.Error("job moved to the dead-letter stream", "job_id", job.JobID, "request_id", requestID,
		"reason", reason, "deliveries", adv.Deliveries, "stream_seq", adv.StreamSeq)
	return nil
}
