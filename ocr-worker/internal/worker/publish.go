package worker

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"time"
	"unicode/utf8"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/ocrstack/ocrstack/contracts"
	"github.com/ocrstack/ocrstack/ocr-worker/internal/ocr"
)

// publishTimeout bounds waiting for JetStream to store one message.
const publishTimeout = 10 * time.Second

// publish stores the job's result and its usage event, waiting for
// JetStream's acknowledgement of each. Their Nats-Msg-Ids are derived from
// the job id, so a retried job is stored once.
func (w *Worker) publish(ctx context.Context, job contracts.OCRJob, requestID string, a answer) error {
	now := w.now().UnixMilli()
	code, message := publicError(a.err, w.installed)
	// RecognitionMs is rounded, not truncated: a truncated figure is half a
	// millisecond short on average, which summed usage and a client
	// subtracting it from its latency would both inherit.
	result := contracts.OCRResult{
		JobID:         job.JobID,
		RequestID:     requestID,
		Status:        status(a),
		RecognitionMs: a.recognition.Round(time.Millisecond).Milliseconds(),
		CompletedAt:   now,
	}
	var data []byte
	if code == "" {
		fillResult(&result, a.doc)
		var err error
		if data, err = json.Marshal(result); err != nil {
			return fmt.Errorf("encode result: %w", err)
		}
		if limit := w.js.Conn().MaxPayload() - resultHeaderRoom; int64(len(data)) > limit {
			code, message = contracts.CodeResultTooLarge, fmt.Sprintf(
				"the result of %d page(s) with the outputs asked for is %d KiB, over the %d KiB a result may be; ask for fewer outputs (hocr and tsv are the largest) or send fewer pages",
				max(1, len(result.Pages)), len(data)>>10, limit>>10)
			result = contracts.OCRResult{JobID: result.JobID, RequestID: requestID, RecognitionMs: result.RecognitionMs, CompletedAt: now}
		}
	}
	if code != "" {
		result.Status = contracts.JobFailed
		result.Error = &contracts.Error{Code: code, Message: message}
		var err error
		if data, err = json.Marshal(result); err != nil {
			return fmt.Errorf("encode result: %w", err)
		}
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
		Pages:         int64(max(1, len(a.doc.Pages))),
		Bytes:         a.bytes,
		RecognitionMs: result.RecognitionMs,
		Characters:    int64(utf8.RuneCountInString(result.Text)),
		Languages:     a.languages,
	}
	if err := w.publishData(ctx, contracts.ResultSubject(job.JobID), contracts.ResultsStream,
		job.JobID+".result", job.JobID, requestID, data); err != nil {
		return fmt.Errorf("publish result: %w", err)
	}
	if err := w.publishJSON(ctx, contracts.SubjectEventsUsage, contracts.EventsStream,
		usage.EventID, job.JobID, requestID, usage); err != nil {
		return fmt.Errorf("publish usage event: %w", err)
	}
	return nil
}

// resultHeaderRoom is what a result message's headers may take of the
// server's max_payload.
const resultHeaderRoom = 4 << 10

// fillResult copies what was read into a succeeded result.
func fillResult(r *contracts.OCRResult, doc ocr.Document) {
	r.Text, r.HOCR, r.TSV = doc.Text, doc.HOCR, doc.TSV
	for _, p := range doc.Pages {
		source := contracts.PageSourceOCR
		if p.FromTextLayer {
			source = contracts.PageSourceTextLayer
		}
		r.Pages = append(r.Pages, contracts.PageResult{Page: p.Number, Text: p.Text, Source: source})
	}
	r.Words, r.Lines = textBoxes(doc.Words), textBoxes(doc.Lines)
}

// textBoxes converts the engine's boxes to the wire's.
func textBoxes(bs []ocr.Box) []contracts.TextBox {
	if bs == nil {
		return nil
	}
	out := make([]contracts.TextBox, len(bs))
	for i, b := range bs {
		out[i] = contracts.TextBox{
			Page: b.Page, Text: b.Text, Confidence: math.Round(b.Confidence*100) / 100,
			X: b.Left, Y: b.Top, Width: b.Right - b.Left, Height: b.Bottom - b.Top,
		}
	}
	return out
}

func (w *Worker) publishJSON(ctx context.Context, subject, stream, msgID, jobID, requestID string, v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode %s: %w", subject, err)
	}
	return w.publishData(ctx, subject, stream, msgID, jobID, requestID, data)
}

func (w *Worker) publishData(ctx context.Context, subject, stream, msgID, jobID, requestID string, data []byte) error {
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
