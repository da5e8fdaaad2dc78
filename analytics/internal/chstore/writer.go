package chstore

import (
	"context"
	"fmt"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/ocrstack/ocrstack/analytics/internal/events"
)

// The column lists are explicit: see the package comment.
const (
	insertVerifications = `INSERT INTO verifications (event_id, time, request_id, key_id, api_id, owner_id, ` +
		`outcome, cost, credits_remaining, latency_us, tags)`
	insertUsage = `INSERT INTO usage (event_id, time, request_id, job_id, producer, key_id, owner_id, ` +
		`outcome, error_code, pages, bytes, recognition_ms, characters, languages)`
	insertNotices = `INSERT INTO notices (event_id, time, kind, key_id, api_id, owner_id, credits_remaining, threshold)`
)

// Writer inserts batches of events.
type Writer struct {
	conn driver.Conn
}

// NewWriter returns a Writer that inserts through conn, whose database holds
// the tables created by the migrations.
func NewWriter(conn driver.Conn) *Writer { return &Writer{conn: conn} }

// Insert writes every event of b, one INSERT per table. When it fails part
// of the batch may already be stored; inserting the whole batch again is
// safe, because the tables collapse copies of an event.
func (w *Writer) Insert(ctx context.Context, b *events.Batch) error {
	if len(b.Verifications) > 0 {
		if err := w.insertVerifications(ctx, b); err != nil {
			return fmt.Errorf("insert %d verifications: %w", len(b.Verifications), err)
		}
	}
	if len(b.Usage) > 0 {
		if err := w.insertUsage(ctx, b); err != nil {
			return fmt.Errorf("insert %d usage events: %w", len(b.Usage), err)
		}
	}
	if len(b.Notices) > 0 {
		if err := w.insertNotices(ctx, b); err != nil {
			return fmt.Errorf("insert %d notices: %w", len(b.Notices), err)
		}
	}
	return nil
}

func (w *Writer) insertVerifications(ctx context.Context, b *events.Batch) error {
	batch, err := w.conn.PrepareBatch(ctx, insertVerifications)
	if err != nil {
		return err
	}
	defer func() { _ = batch.Abort() }()
	for _, e := range b.Verifications {
		err := batch.Append(e.EventID, toTime(e.Time), e.RequestID, e.KeyID, e.APIID, e.OwnerID,
			string(e.Outcome), e.Cost, e.CreditsRemaining, e.LatencyUs, nonNil(e.Tags))
		if err != nil {
			return err
		}
	}
	return batch.Send()
}

func (w *Writer) insertUsage(ctx context.Context, b *events.Batch) error {
	batch, err := w.conn.PrepareBatch(ctx, insertUsage)
	if err != nil {
		return err
	}
	defer func() { _ = batch.Abort() }()
	for _, e := range b.Usage {
		err := batch.Append(e.EventID, toTime(e.Time), e.RequestID, e.JobID, e.Producer, e.KeyID, e.OwnerID,
			string(e.Outcome), string(e.ErrorCode), e.Pages, e.Bytes, e.RecognitionMs, e.Characters,
			nonNil(e.Languages))
		if err != nil {
			return err
		}
	}
	return batch.Send()
}

func (w *Writer) insertNotices(ctx context.Context, b *events.Batch) error {
	batch, err := w.conn.PrepareBatch(ctx, insertNotices)
	if err != nil {
		return err
	}
	defer func() { _ = batch.Abort() }()
	for _, e := range b.Notices {
		err := batch.Append(e.EventID, toTime(e.Time), string(e.Kind), e.KeyID, e.APIID, e.OwnerID,
			e.CreditsRemaining, e.Threshold)
		if err != nil {
			return err
		}
	}
	return batch.Send()
}

// toTime converts unix milliseconds to the second-precision time a DateTime
// column stores. events.Decode has checked that it fits.
func toTime(ms int64) time.Time { return time.UnixMilli(ms).UTC() }

// nonNil turns a nil list into an empty one, which the driver requires for
// an Array column.
func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
