package worker

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/ocrstack/ocrstack/contracts"
)

// recordTimeout bounds one read or write of a job record.
const recordTimeout = 5 * time.Second

// tracker keeps a job's record (contracts.JobRecord) up to date while the
// job runs: running when it starts, then the pages done. It works beside
// the job, never in its way: the writes happen on a goroutine of their own,
// a page done while a write is in flight only replaces the next write, and
// a failed write ends the tracking with a log line. The job's result, not
// the record, says how the job ended.
type tracker struct {
	mu          sync.Mutex
	page, pages int
	// kick holds a pending progress write; quit ends the tracking.
	kick chan struct{}
	quit chan struct{}
	once sync.Once
}

// track starts tracking job, which a worker has just started.
func (w *Worker) track(job contracts.OCRJob, log *slog.Logger) *tracker {
	t := &tracker{kick: make(chan struct{}, 1), quit: make(chan struct{})}
	go w.runTracker(t, job.JobID, log)
	return t
}

// progress records that page of pages are done.
func (t *tracker) progress(page, pages int) {
	t.mu.Lock()
	t.page, t.pages = page, pages
	t.mu.Unlock()
	select {
	case t.kick <- struct{}{}:
	default:
	}
}

// stop ends the tracking; a write in flight still completes.
func (t *tracker) stop() { t.once.Do(func() { close(t.quit) }) }

// runTracker marks the record running, then writes each progress until
// stopped. A job without a record (its producer keeps none) is left alone.
func (w *Worker) runTracker(t *tracker, jobID string, log *slog.Logger) {
	kv := w.jobRecords()
	if kv == nil {
		return
	}
	e, err := readRecord(t, kv, jobID)
	if errors.Is(err, jetstream.ErrKeyNotFound) || errors.Is(err, errStopped) {
		return
	}
	if err != nil {
		log.Warn("read job record", "err", err)
		return
	}
	// Only the members the worker owns change, so a member it does not
	// know (a newer producer's) survives.
	var rec map[string]json.RawMessage
	if err := json.Unmarshal(e.Value(), &rec); err != nil {
		log.Warn("decode job record", "err", err)
		return
	}
	rec[contracts.RecordStatusMember], _ = json.Marshal(contracts.JobRunning)
	rec[contracts.RecordStartedAtMember] = strconv.AppendInt(nil, w.now().UnixMilli(), 10)
	rev := e.Revision()
	for {
		b, err := json.Marshal(rec)
		if err == nil {
			ctx, cancel := context.WithTimeout(context.Background(), recordTimeout)
			// Update, not Put: a record changed meanwhile (another
			// delivery of the job) is not overwritten with a stale copy.
			rev, err = kv.Update(ctx, jobID, b, rev)
			cancel()
		}
		if err != nil {
			log.Warn("update job record", "err", err)
			return
		}
		select {
		case <-t.quit:
			return
		case <-t.kick:
		}
		t.mu.Lock()
		rec[contracts.RecordProgressMember], _ = json.Marshal(contracts.RecordProgress{Page: t.page, Pages: t.pages})
		t.mu.Unlock()
	}
}

// recordWaits are the pauses before each new read of a job record not
// found: its producer stores it just before the job, but on another stream,
// and the server may deliver the job before it has stored the record. A
// job whose record is still missing after them (315 ms) has none.
var recordWaits = []time.Duration{5 * time.Millisecond, 10 * time.Millisecond, 20 * time.Millisecond,
	40 * time.Millisecond, 80 * time.Millisecond, 160 * time.Millisecond}

// errStopped: the job ended before its record was read.
var errStopped = errors.New("tracking stopped")

// readRecord reads jobID's record, again after each of recordWaits while
// it is not found, until t is stopped.
func readRecord(t *tracker, kv jetstream.KeyValue, jobID string) (jetstream.KeyValueEntry, error) {
	for i := 0; ; i++ {
		ctx, cancel := context.WithTimeout(context.Background(), recordTimeout)
		e, err := kv.Get(ctx, jobID)
		cancel()
		if !errors.Is(err, jetstream.ErrKeyNotFound) || i == len(recordWaits) {
			return e, err
		}
		timer := time.NewTimer(recordWaits[i])
		select {
		case <-t.quit:
			timer.Stop()
			return nil, errStopped
		case <-timer.C:
		}
	}
}

// jobRecords returns the job records bucket, bound on first use. The
// worker never creates it: a producer that keeps records creates it before
// its first job. nil means there is none (yet).
func (w *Worker) jobRecords() jetstream.KeyValue {
	if kv := w.records.Load(); kv != nil {
		return *kv
	}
	ctx, cancel := context.WithTimeout(context.Background(), recordTimeout)
	defer cancel()
	kv, err := w.js.KeyValue(ctx, contracts.JobsBucket)
	if err != nil {
		return nil
	}
	w.records.Store(&kv)
	return kv
}
