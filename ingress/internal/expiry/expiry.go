// Package expiry fails and refunds jobs that aged out of the jobs stream
// before any worker took them.
//
// A job message lives on OCR_JOBS for the stream's MaxAge (24 h). A job
// still waiting then (no worker running, a backlog larger than the workers
// clear in a day) is removed unprocessed: no worker publishes its result or
// its usage event, so its owner would never learn how it ended and the
// credit its verification spent would never come back (package refunds
// refunds from usage events).
//
// A Sweeper settles such a job in its worker's stead. Every Interval it reads
// the job records (bucket ocr_jobs) older than the stream's MaxAge plus
// Margin, and for each record still queued (or running, see Sweep) whose
// job has no result, it asks keyservice to refund the verification that
// admitted the job (keys.v1.refund, naming the job id it was charged
// under, as package refunds does for failed jobs), publishes the failed result a worker would
// have (code TIMEOUT), which reaches pollers and callbacks, and marks the
// record failed with a compare-and-set on the revision it read. It
// publishes no usage event: the ingress may not (nats.conf keeps usage
// events the workers' own), so analytics does not count expired jobs.
//
// Several ingress replicas sweep the same bucket, and a replica can die
// anywhere, so each step is safe to repeat: keyservice refunds a
// verification at most once however often it is asked; the result carries
// the Nats-Msg-Id a worker would use (<job>.result), so the stream stores it
// once when replicas race, and a later sweep finds it and leaves the job
// alone. The compare-and-set decides which replica settled the job (it
// alone logs it) and makes the record say failed. Refunding before
// publishing, and publishing before marking, is deliberate: a replica that
// died between two steps leaves a job a later sweep still settles.
//
// Margin covers a job that a worker took just before it aged out: such a job
// runs for up to the worker's job deadline (10 min by default) and its
// result comes from the worker. It must stay under an hour (with Interval),
// since keyservice refunds only for contracts.RefundWindow, MaxAge plus an
// hour.
//
// The records must outlive their jobs: the bucket's TTL must be at least the
// jobs stream's MaxAge plus Margin and Interval, or a record is gone before
// it counts as expired (New logs a warning when it is not).
//
// Records are read in stream order from a cursor each replica keeps, one
// direct get (next by subject) each, so the sweep needs no consumer: a
// sweep starts after the last record it settled or passed over and stops at
// the first one too young, so a sweep reads what aged since the last one, and
// only the first sweep after start-up reads the whole bucket. A record
// rewritten later (a worker marking it running) moves to the end of the
// stream and is read again when it ages.
package expiry

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/ocrstack/ocrstack/contracts"
)

// Defaults of Config.
const (
	// DefaultMargin is above the worker's default job deadline (10 min).
	DefaultMargin = 15 * time.Minute
	// DefaultInterval is how often a replica sweeps.
	DefaultInterval = time.Minute
)

// Keys refunds through keyservice (keysclient.Client does).
type Keys interface {
	Refund(ctx context.Context, req contracts.RefundRequest) (contracts.RefundResponse, error)
}

const (
	recordsStream = "KV_" + contracts.JobsBucket
	recordsPrefix = "$KV." + contracts.JobsBucket + "."
	// kvOperation is the header marking a KV delete or purge.
	kvOperation = "KV-Operation"
	// callTimeout bounds one NATS call.
	callTimeout = 10 * time.Second
)

// Config configures New.
type Config struct {
	// JetStream reaches the jobs, results and events streams and the job
	// records bucket, which must exist (jobs.New creates them).
	JetStream jetstream.JetStream
	// Keys refunds the expired jobs.
	Keys   Keys
	Logger *slog.Logger
	// Margin is added to the jobs stream's MaxAge before a queued record
	// counts as expired: at least 0, with Interval under an hour.
	Margin time.Duration
	// Interval is the time between two sweeps of Run, positive.
	Interval time.Duration
	// Now is the clock; nil is time.Now.
	Now func() time.Time
}

// Sweeper finds expired jobs, refunds them and marks them failed.
type Sweeper struct {
	cfg     Config
	records jetstream.KeyValue
	// mu serialises sweeps; cursor is the stream sequence of the last
	// record a sweep settled or passed over.
	mu     sync.Mutex
	cursor uint64
}

// New returns a Sweeper over cfg.JetStream's job records.
func New(ctx context.Context, cfg Config) (*Sweeper, error) {
	var errs []error
	if cfg.JetStream == nil || cfg.Keys == nil || cfg.Logger == nil {
		errs = append(errs, errors.New("expiry: JetStream, Keys and Logger are required"))
	}
	if cfg.Margin < 0 {
		errs = append(errs, fmt.Errorf("expiry: margin %s is negative", cfg.Margin))
	}
	if cfg.Interval <= 0 {
		errs = append(errs, fmt.Errorf("expiry: interval %s is not positive", cfg.Interval))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	records, err := cfg.JetStream.KeyValue(ctx, contracts.JobsBucket)
	if err != nil {
		return nil, fmt.Errorf("expiry: bind bucket %s: %w", contracts.JobsBucket, err)
	}
	s := &Sweeper{cfg: cfg, records: records}
	if err := s.checkRecordsOutlive(ctx); err != nil {
		return nil, err
	}
	return s, nil
}

// checkRecordsOutlive warns when a job record does not outlive its job's
// time on the jobs stream by Margin and Interval: the bucket's TTL would
// remove it before a sweep could see it aged, and its job would go
// unrefunded.
func (s *Sweeper) checkRecordsOutlive(ctx context.Context) error {
	maxAge, err := s.jobsMaxAge(ctx)
	if err != nil {
		return fmt.Errorf("expiry: %w", err)
	}
	cctx, cancel := context.WithTimeout(ctx, callTimeout)
	defer cancel()
	st, err := s.records.Status(cctx)
	if err != nil {
		return fmt.Errorf("expiry: status of bucket %s: %w", contracts.JobsBucket, err)
	}
	if need := maxAge + s.cfg.Margin + s.cfg.Interval; maxAge > 0 && st.TTL() > 0 && st.TTL() < need {
		s.cfg.Logger.Warn("expiry: job records expire before a sweep can see them aged; jobs that age out of the jobs stream will not be refunded",
			"records_ttl", st.TTL().String(), "jobs_max_age", maxAge.String(), "margin", s.cfg.Margin.String(), "interval", s.cfg.Interval.String())
	}
	return nil
}

// Run sweeps every Interval until ctx is done. A sweep that fails is
// logged and the next one carries on from where it stopped.
func (s *Sweeper) Run(ctx context.Context) {
	t := time.NewTicker(s.cfg.Interval)
	defer t.Stop()
	for {
		if _, err := s.Sweep(ctx); err != nil && ctx.Err() == nil {
			s.cfg.Logger.Warn("expiry: sweep stopped; the next one carries on", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Sweep settles every job whose record aged past the jobs stream's MaxAge
// plus Margin while still queued or running, and returns how many this
// call marked failed (a job another replica marked first is not counted).
// A record says running from when a worker took the job; one older than
// MaxAge plus Margin without a result names a job whose worker died after
// its message aged out, so no worker will ever take it again.
func (s *Sweeper) Sweep(ctx context.Context) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	maxAge, err := s.jobsMaxAge(ctx)
	if err != nil || maxAge <= 0 {
		return 0, err // a stream without MaxAge loses no job to age
	}
	cutoff := s.cfg.Now().Add(-maxAge - s.cfg.Margin)
	cctx, cancel := context.WithTimeout(ctx, callTimeout)
	records, err := s.cfg.JetStream.Stream(cctx, recordsStream)
	cancel()
	if err != nil {
		return 0, fmt.Errorf("bind stream %s: %w", recordsStream, err)
	}
	expired := 0
	for {
		// One direct get per record, next by subject from the cursor: no
		// consumer to create, and in the usual sweep a single get that
		// finds the next record too young.
		cctx, cancel := context.WithTimeout(ctx, callTimeout)
		msg, err := records.GetMsg(cctx, s.cursor+1, jetstream.WithGetMsgSubject(recordsPrefix+">"))
		cancel()
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			return expired, nil
		}
		if err != nil {
			return expired, fmt.Errorf("read records of %s: %w", contracts.JobsBucket, err)
		}
		if msg.Time.After(cutoff) {
			return expired, nil // this record and every later one are too young
		}
		done, err := s.settle(ctx, msg, maxAge)
		if err != nil {
			return expired, err
		}
		if done {
			expired++
		}
		s.cursor = msg.Sequence
	}
}

// settle handles one record, read at its revision: a queued job without a
// result gets a failed usage event and result, and its record is marked
// failed. It says whether this call marked it.
func (s *Sweeper) settle(ctx context.Context, msg *jetstream.RawStreamMsg, maxAge time.Duration) (bool, error) {
	if msg.Header.Get(kvOperation) != "" {
		return false, nil // a delete or purge marker
	}
	key := strings.TrimPrefix(msg.Subject, recordsPrefix)
	rev := msg.Sequence
	rec, members, err := decodeRecord(msg.Data)
	if err != nil {
		s.cfg.Logger.Warn("expiry: unreadable job record left alone", "job_id", key, "err", err)
		return false, nil
	}
	if rec.Status != contracts.JobQueued && rec.Status != contracts.JobRunning {
		return false, nil
	}
	has, err := s.hasResult(ctx, key)
	if err != nil || has {
		return false, err // a worker ran it after all and settled it
	}
	if err := s.publishFailure(ctx, key, rec, maxAge); err != nil {
		return false, err
	}
	members[contracts.RecordStatusMember], _ = json.Marshal(contracts.JobFailed)
	data, err := json.Marshal(members)
	if err != nil {
		return false, fmt.Errorf("encode record of job %s: %w", key, err)
	}
	cctx, cancel := context.WithTimeout(ctx, callTimeout)
	defer cancel()
	if _, err := s.records.Update(cctx, key, data, rev); err != nil {
		if errors.Is(err, jetstream.ErrKeyExists) {
			return false, nil // another replica marked it first
		}
		return false, fmt.Errorf("mark job %s failed: %w", key, err)
	}
	s.cfg.Logger.Info("expired job failed and refunded", "job_id", key, "request_id", rec.RequestID, "key_id", rec.KeyID,
		"error_code", contracts.CodeTimeout)
	return true, nil
}

// publishFailure refunds the job, then publishes its failed result: the
// result is what tells a later sweep the job is settled, so it goes last. A
// refund keyservice refuses as a bad request (nothing charged under the job
// id, or too late) is logged and not retried.
func (s *Sweeper) publishFailure(ctx context.Context, jobID string, rec contracts.JobRecord, maxAge time.Duration) error {
	now := s.cfg.Now().UnixMilli()
	if rec.KeyID != "" {
		cctx, cancel := context.WithTimeout(ctx, callTimeout)
		_, err := s.cfg.Keys.Refund(cctx, contracts.RefundRequest{KeyID: rec.KeyID, IdempotencyKey: jobID, Reason: "job expired: " + string(contracts.CodeTimeout)})
		cancel()
		var ce *contracts.Error
		switch {
		case errors.As(err, &ce) && ce.Code == contracts.CodeBadRequest:
			s.cfg.Logger.Warn("expiry: refund refused", "job_id", jobID, "key_id", rec.KeyID, "err", err)
		case err != nil:
			return fmt.Errorf("refund job %s: %w", jobID, err)
		}
	}
	result := contracts.OCRResult{
		JobID: jobID, RequestID: rec.RequestID, Status: contracts.JobFailed, CompletedAt: now,
		Error: &contracts.Error{Code: contracts.CodeTimeout, Message: fmt.Sprintf(
			"no worker started the job within %s of its submission; it was not run and its credit is refunded", maxAge)},
	}
	return s.publish(ctx, contracts.ResultSubject(jobID), contracts.ResultsStream, jobID+".result", jobID, rec.RequestID, result)
}

func (s *Sweeper) publish(ctx context.Context, subject, stream, msgID, jobID, requestID string, v any) error {
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
	cctx, cancel := context.WithTimeout(ctx, callTimeout)
	defer cancel()
	if _, err := s.cfg.JetStream.PublishMsg(cctx, m, jetstream.WithExpectStream(stream)); err != nil {
		return fmt.Errorf("publish to %s for job %s: %w", subject, jobID, err)
	}
	return nil
}

// hasResult says whether the job's result is on the results stream.
func (s *Sweeper) hasResult(ctx context.Context, jobID string) (bool, error) {
	cctx, cancel := context.WithTimeout(ctx, callTimeout)
	defer cancel()
	results, err := s.cfg.JetStream.Stream(cctx, contracts.ResultsStream)
	if err != nil {
		return false, fmt.Errorf("bind stream %s: %w", contracts.ResultsStream, err)
	}
	_, err = results.GetLastMsgForSubject(cctx, contracts.ResultSubject(jobID))
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, jetstream.ErrMsgNotFound):
		return false, nil
	default:
		return false, fmt.Errorf("get result of job %s: %w", jobID, err)
	}
}

// jobsMaxAge is the jobs stream's MaxAge as configured now.
func (s *Sweeper) jobsMaxAge(ctx context.Context) (time.Duration, error) {
	cctx, cancel := context.WithTimeout(ctx, callTimeout)
	defer cancel()
	st, err := s.cfg.JetStream.Stream(cctx, contracts.JobsStream)
	if err != nil {
		return 0, fmt.Errorf("bind stream %s: %w", contracts.JobsStream, err)
	}
	return st.CachedInfo().Config.MaxAge, nil
}

// decodeRecord reads a job record, keeping its members as they are (a
// member this ingress does not know survives the update), and refuses what
// is not one.
func decodeRecord(data []byte) (contracts.JobRecord, map[string]json.RawMessage, error) {
	var rec contracts.JobRecord
	var members map[string]json.RawMessage
	if err := json.Unmarshal(data, &members); err != nil {
		return rec, nil, fmt.Errorf("not a JSON object: %w", err)
	}
	if members == nil {
		return rec, nil, errors.New("not a JSON object")
	}
	if err := json.Unmarshal(data, &rec); err != nil {
		return rec, nil, fmt.Errorf("not a job record: %w", err)
	}
	if rec.JobID == "" || rec.Status == "" {
		return rec, nil, errors.New("no job id or status")
	}
	return rec, members, nil
}
