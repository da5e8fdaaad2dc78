package worker

import (
	"context"
	"encoding/json"
	"fmt"
	"time"
	"unicode/utf8"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/ocrstack/ocrstack/contracts"
)

// publishTimeout bounds waiting for JetStream to store one message.
const publishTimeout = 10 * time.Second

// publish stores the job's result and its usage event, waiting for
// JetStream's acknowledgement of each. Their Nats-Msg-Ids are derived from
// the job id, so a retried job is stored once.
func (w *Worker) publish(ctx context.Context, job contracts.OCRJob, requestID string, a answer) error {
	now := w.now().UnixMilli()
	code, message := publicError(a.err, w.installed)
	result := contracts.OCRResult{
		JobID:         job.JobID,
		RequestID:     requestID,
		Status:        status(a),
		Text:          a.text,
		RecognitionMs: a.recognition.Milliseconds(),
		CompletedAt:   now,
	}
	for _, p := range a.pages {
		source := contracts.PageSourceOCR
		if p.FromTextLayer {
			source = contracts.PageSourceTextLayer
		}
		result.Pages = append(result.Pages, contracts.PageResult{Page: p.Number, Text: p.Text, Source: source})
	}
	if code != "" {
		result.Text, result.Pages = "", nil
		result.Error = &contracts.Error{Code: code, Message: message}
	}
	usage := contracts.UsageEvent{
		EventID:       job.JobID + ".usage",
		Time:          now,
		RequestID:     requestID,
		JobID:         job.JobID,
		Producer:      job.Producer,
		KeyID:         job.KeyID,
		OwnerID:       job.OwnerID,
		Outcome:       result.Status,
		ErrorCode:     code,
		Pages:         int64(max(1, len(result.Pages))),
		Bytes:         a.bytes,
		RecognitionMs: result.RecognitionMs,
		Characters:    int64(utf8.RuneCountInString(result.Text)),
		Languages:     a.languages,
	}
	if err := w.publishJSON(ctx, contracts.ResultSubject(job.JobID), contracts.ResultsStream,
		job.JobID+".result", job.JobID, requestID, result); err != nil {
		return fmt.Errorf("publish result: %w", err)
	}
	if err := w.publishJSON(ctx, contracts.SubjectEventsUsage, contracts.EventsStream,
		usage.EventID, job.JobID, requestID, usage); err != nil {
		return fmt.Errorf("publish usage event: %w", err)
	}
	return nil
}

func (w *Worker) publishJSON(ctx context.Context, subject, stream, msgID, jobID, requestID string, v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode %s: %w", subject, err)
	}
	m := nats.NewMsg(subject)
	m.Data = data
	m.Header.Set(contracts.HeaderMsgID, msgID)
	m.Header.Set(contracts.HeaderJobID, jobID)
	if requestID != "" {
		m.Header.Set(contracts.HeaderRequestID, requestID)
	}
	ctx, cancel := context.WithTimeout(ctx, publishTimeout)
	defer cancel()
	if _, err := w.js.PublishMsg(ctx, m, jetstream.WithExpectStream(stream)); err != nil {
		return fmt.Errorf("publish to %s: %w", subject, err)
	}
	return nil
}
