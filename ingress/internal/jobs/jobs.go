// Package jobs submits OCR jobs to JetStream, waits for their results, and
// looks up a job's state later.
//
// Every job gets a contracts.JobRecord in contracts.JobsBucket before it is
// published, so any job can be polled; the final state is the result, which
// the worker keeps on the results stream for contracts.ResultsMaxAge. The
// submitter subscribes to the job's result subject before publishing the
// job, so the result cannot slip past it. Images larger than
// contracts.InlineImageMax go to the Object Store and the job carries a
// reference.
//
// A caller that streams a request body can store the image itself first
// (StoreImage, reading it chunk by chunk, never whole in memory) and hand
// the job over with OCRJob.ImageRef set. From Submit or Enqueue on, the
// Submitter owns that object: it deletes it when the job cannot be queued
// and once a result has come; a job whose result is late keeps it for the
// worker, and the bucket's TTL (contracts.ImagesMaxAge) removes the rest.
package jobs

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/ocrstack/ocrstack/contracts"
	"github.com/ocrstack/ocrstack/ops"
	"github.com/ocrstack/ocrstack/ops/jsetup"
)

// Errors of Submit.
var (
	// ErrUnavailable means the job could not be queued.
	ErrUnavailable = errors.New("job queue unavailable")
	// ErrTimeout means the job was queued but no result came in time; the
	// job goes on and its result lands on the results stream.
	ErrTimeout = errors.New("no result in time")
	// ErrNotFound means no record of the job exists: it was never submitted
	// through a Submitter, or is older than contracts.JobsBucketMaxAge.
	ErrNotFound = errors.New("no such job")
)

// Submitter queues jobs and waits for their results.
type Submitter struct {
	nc     *nats.Conn
	js     jetstream.JetStream
	images jetstream.ObjectStore
	// imageStream is the images bucket's stream, read chunk by chunk by
	// OpenImage.
	imageStream jetstream.Stream
	records     jetstream.KeyValue
	results     jetstream.Stream
}

// Option configures New.
type Option func(*options)

type options struct{ replicas int }

// WithReplicas sets the least JetStream replicas, 1 to 5, of the streams
// and buckets New creates or updates (1 when not given); see package
// jsetup.
func WithReplicas(n int) Option { return func(o *options) { o.replicas = n } }

// New creates the jobs stream, the images bucket and the job records bucket
// if needed (the ingress writes to all three), and the results and events
// streams (it reads results back and refunds from usage events), and
// returns a Submitter.
func New(ctx context.Context, nc *nats.Conn, js jetstream.JetStream, opts ...Option) (*Submitter, error) {
	o := options{replicas: 1}
	for _, opt := range opts {
		opt(&o)
	}
	for _, spec := range []contracts.StreamSpec{contracts.JobsStreamSpec, contracts.ResultsStreamSpec, contracts.EventsStreamSpec} {
		if err := ensureStream(ctx, js, spec, o.replicas); err != nil {
			return nil, err
		}
	}
	results, err := js.Stream(ctx, contracts.ResultsStream)
	if err != nil {
		return nil, fmt.Errorf("bind stream %s: %w", contracts.ResultsStream, err)
	}
	// Several ingress replicas may create the bucket at once: creating it
	// with the same configuration succeeds for each (jsetup.KeyValue).
	n, err := jsetup.Floor(ctx, js, "KV_"+contracts.JobsBucket, o.replicas)
	if err != nil {
		return nil, fmt.Errorf("ensure key-value bucket %s: %w", contracts.JobsBucket, err)
	}
	kvCfg := jetstream.KeyValueConfig{Bucket: contracts.JobsBucket, TTL: contracts.JobsBucketMaxAge, History: 1, Storage: jetstream.FileStorage, Replicas: n}
	var records jetstream.KeyValue
	err = jsetup.Retry(ctx, func(ctx context.Context) (err error) {
		records, err = jsetup.KeyValue(ctx, js, kvCfg)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("ensure key-value bucket %s: %w", contracts.JobsBucket, err)
	}
	// The worker creates the same bucket at start-up. The configuration must
	// be identical to the worker's (no description), or whichever starts
	// second updates it to its own.
	if n, err = jsetup.Floor(ctx, js, "OBJ_"+contracts.ImagesBucket, o.replicas); err != nil {
		return nil, fmt.Errorf("ensure object store %s: %w", contracts.ImagesBucket, err)
	}
	cfg := jetstream.ObjectStoreConfig{Bucket: contracts.ImagesBucket, TTL: contracts.ImagesMaxAge, Storage: jetstream.FileStorage, Replicas: n}
	var images jetstream.ObjectStore
	err = jsetup.Retry(ctx, func(ctx context.Context) (err error) {
		images, err = jsetup.ObjectStore(ctx, js, cfg)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("ensure object store %s: %w", contracts.ImagesBucket, err)
	}
	imageStream, err := js.Stream(ctx, "OBJ_"+contracts.ImagesBucket)
	if err != nil {
		return nil, fmt.Errorf("bind stream OBJ_%s: %w", contracts.ImagesBucket, err)
	}
	return &Submitter{nc: nc, js: js, images: images, imageStream: imageStream, records: records, results: results}, nil
}

// Submit queues job with image and waits up to wait for its result. On
// ErrTimeout the job goes on and can be looked up. When job.ImageRef names
// an image stored with StoreImage, image is nil and the object is the
// Submitter's from now on (see the package doc).
func (s *Submitter) Submit(ctx context.Context, job contracts.OCRJob, image []byte, wait time.Duration) (contracts.OCRResult, error) {
	ref := job.ImageRef
	if ref == "" && len(image) > contracts.InlineImageMax {
		ref = job.JobID
	}
	sub, err := s.nc.SubscribeSync(contracts.ResultSubject(job.JobID))
	if err != nil {
		s.deleteImage(ctx, job.ImageRef)
		return contracts.OCRResult{}, fmt.Errorf("%w: subscribe: %w", ErrUnavailable, err)
	}
	defer func() { _ = sub.Unsubscribe() }()
	if err := s.queue(ctx, job, image, ""); err != nil {
		return contracts.OCRResult{}, err
	}

	waitCtx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	m, err := sub.NextMsgWithContext(waitCtx)
	if err != nil {
		// The image stays for the worker that has yet to read it; the
		// bucket's TTL removes it.
		return contracts.OCRResult{}, fmt.Errorf("job %s: %w", job.JobID, ErrTimeout)
	}
	s.deleteImage(ctx, ref)
	var res contracts.OCRResult
	if err := json.Unmarshal(m.Data, &res); err != nil {
		return contracts.OCRResult{}, fmt.Errorf("decode result of job %s: %w", job.JobID, err)
	}
	return res, nil
}

// StoreImage streams r into the images bucket as the object name, one
// chunk at a time, for a job that will carry ImageRef = name. When r
// fails, nothing is left behind and its error is returned as it is; a
// failure of the store is ErrUnavailable.
func (s *Submitter) StoreImage(ctx context.Context, name string, r io.Reader) error {
	src := &errReader{r: r}
	if _, err := s.images.Put(ctx, jetstream.ObjectMeta{Name: name}, src); err != nil {
		// Put purges the chunks it sent when it fails part way; an object
		// completed by a retry of ours cannot exist, so there is nothing
		// else to delete.
		if src.err != nil {
			return src.err
		}
		return fmt.Errorf("%w: store image: %w", ErrUnavailable, err)
	}
	return nil
}

// OpenImage reads back an image stored with StoreImage. It gets the
// object's chunks one by one from the bucket's stream (direct gets) rather
// than through ObjectStore.Get, whose consumer the ingress's NATS user may
// not create (nats.conf). Errors are ErrUnavailable.
func (s *Submitter) OpenImage(ctx context.Context, name string) (io.ReadCloser, error) {
	info, err := s.images.GetInfo(ctx, name)
	if err != nil {
		return nil, fmt.Errorf("%w: get image %s: %w", ErrUnavailable, name, err)
	}
	return &chunkReader{ctx: ctx, stream: s.imageStream, subject: "$O." + contracts.ImagesBucket + ".C." + info.NUID, left: info.Chunks}, nil
}

// chunkReader reads an object's chunks in order.
type chunkReader struct {
	ctx     context.Context
	stream  jetstream.Stream
	subject string
	// seq is where the next chunk is looked for; left is how many remain.
	seq  uint64
	left uint32
	buf  []byte
}

func (r *chunkReader) Read(p []byte) (int, error) {
	for len(r.buf) == 0 {
		if r.left == 0 {
			return 0, io.EOF
		}
		m, err := r.stream.GetMsg(r.ctx, r.seq, jetstream.WithGetMsgSubject(r.subject))
		if err != nil {
			return 0, fmt.Errorf("%w: get image chunk: %w", ErrUnavailable, err)
		}
		r.buf, r.seq, r.left = m.Data, m.Sequence+1, r.left-1
	}
	n := copy(p, r.buf)
	r.buf = r.buf[n:]
	return n, nil
}

func (r *chunkReader) Close() error { return nil }

// DeleteImage removes an image stored with StoreImage that no job took.
func (s *Submitter) DeleteImage(ctx context.Context, name string) error {
	err := s.images.Delete(ctx, name)
	if err != nil && !errors.Is(err, jetstream.ErrObjectNotFound) {
		return fmt.Errorf("%w: delete image: %w", ErrUnavailable, err)
	}
	return nil
}

// deleteImage removes the object name, if any, even when ctx is over; a
// failure leaves it to the bucket's TTL.
func (s *Submitter) deleteImage(ctx context.Context, name string) {
	if name != "" {
		_ = s.images.Delete(context.WithoutCancel(ctx), name)
	}
}

// errReader remembers the error of the reader it wraps, so StoreImage
// tells a failing source from a failing store.
type errReader struct {
	r   io.Reader
	err error
}

func (e *errReader) Read(p []byte) (int, error) {
	n, err := e.r.Read(p)
	if err != nil && err != io.EOF {
		e.err = err
	}
	return n, err
}

// Await waits up to wait for the result of a job queued earlier (by
// another request, or another replica), returning it at once when it is
// already stored. It is ErrTimeout when it does not come in time.
func (s *Submitter) Await(ctx context.Context, jobID string, wait time.Duration) (contracts.OCRResult, error) {
	sub, err := s.nc.SubscribeSync(contracts.ResultSubject(jobID))
	if err != nil {
		return contracts.OCRResult{}, fmt.Errorf("%w: subscribe: %w", ErrUnavailable, err)
	}
	defer func() { _ = sub.Unsubscribe() }()
	raw, err := s.results.GetLastMsgForSubject(ctx, contracts.ResultSubject(jobID))
	var data []byte
	switch {
	case err == nil:
		data = raw.Data
	case !errors.Is(err, jetstream.ErrMsgNotFound):
		return contracts.OCRResult{}, fmt.Errorf("%w: get result of job %s: %w", ErrUnavailable, jobID, err)
	default:
		waitCtx, cancel := context.WithTimeout(ctx, wait)
		defer cancel()
		m, err := sub.NextMsgWithContext(waitCtx)
		if err != nil {
			return contracts.OCRResult{}, fmt.Errorf("job %s: %w", jobID, ErrTimeout)
		}
		data = m.Data
	}
	var res contracts.OCRResult
	if err := json.Unmarshal(data, &res); err != nil {
		return contracts.OCRResult{}, fmt.Errorf("decode result of job %s: %w", jobID, err)
	}
	return res, nil
}

// Enqueue queues job with image without waiting for its result, recording
// callbackURL (empty for none) for whoever delivers callbacks. It returns
// once the job is stored on the jobs stream. A stored image (job.ImageRef)
// is the Submitter's from now on, as with Submit.
func (s *Submitter) Enqueue(ctx context.Context, job contracts.OCRJob, image []byte, callbackURL string) error {
	return s.queue(ctx, job, image, callbackURL)
}

// Lookup returns the job's record and, once the job is over, its result
// (nil before). Errors are ErrNotFound or ErrUnavailable.
func (s *Submitter) Lookup(ctx context.Context, jobID string) (contracts.JobRecord, *contracts.OCRResult, error) {
	rec, err := s.Record(ctx, jobID)
	if err != nil {
		return rec, nil, err
	}
	raw, err := s.results.GetLastMsgForSubject(ctx, contracts.ResultSubject(jobID))
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return rec, nil, nil
	}
	if err != nil {
		return rec, nil, fmt.Errorf("%w: get result of job %s: %w", ErrUnavailable, jobID, err)
	}
	var res contracts.OCRResult
	if err := json.Unmarshal(raw.Data, &res); err != nil {
		return rec, nil, fmt.Errorf("decode result of job %s: %w", jobID, err)
	}
	return rec, &res, nil
}

// Record returns the job's record. Errors are ErrNotFound or ErrUnavailable.
func (s *Submitter) Record(ctx context.Context, jobID string) (contracts.JobRecord, error) {
	var rec contracts.JobRecord
	e, err := s.records.Get(ctx, jobID)
	if errors.Is(err, jetstream.ErrKeyNotFound) || errors.Is(err, jetstream.ErrInvalidKey) {
		return rec, fmt.Errorf("job %s: %w", jobID, ErrNotFound)
	}
	if err != nil {
		return rec, fmt.Errorf("%w: get record of job %s: %w", ErrUnavailable, jobID, err)
	}
	if err := json.Unmarshal(e.Value(), &rec); err != nil {
		return rec, fmt.Errorf("decode record of job %s: %w", jobID, err)
	}
	return rec, nil
}

// queue records the job as queued, stores a large image in the Object
// Store unless job.ImageRef names one stored already, and publishes the
// job. An image it stored, or was handed, is deleted when the job is not
// published.
func (s *Submitter) queue(ctx context.Context, job contracts.OCRJob, image []byte, callbackURL string) (err error) {
	defer func() {
		if err != nil && !errors.Is(err, errPublished) {
			s.deleteImage(ctx, job.ImageRef)
		}
	}()
	rec, err := json.Marshal(contracts.JobRecord{
		JobID: job.JobID, RequestID: job.RequestID, KeyID: job.KeyID, OwnerID: job.OwnerID,
		Status: contracts.JobQueued, SubmittedAt: job.SubmittedAt, CallbackURL: callbackURL,
	})
	if err != nil {
		return fmt.Errorf("encode record: %w", err)
	}
	// The record goes out first on this connection, but its
	// acknowledgement is awaited only after the job's: one round trip fewer
	// on every request. The server stores it on the bucket's stream, apart
	// from the job's, so a worker may get the job before the record is
	// stored; it reads a missing record again for a while (ocr-worker's
	// readRecord).
	recAck, err := s.js.PublishMsgAsync(&nats.Msg{Subject: "$KV." + contracts.JobsBucket + "." + job.JobID, Data: rec})
	if err != nil {
		return fmt.Errorf("%w: put record: %w", ErrUnavailable, err)
	}
	switch {
	case job.ImageRef != "":
	case len(image) > contracts.InlineImageMax:
		if _, err := s.images.Put(ctx, jetstream.ObjectMeta{Name: job.JobID}, bytes.NewReader(image)); err != nil {
			return fmt.Errorf("%w: store image: %w", ErrUnavailable, err)
		}
		job.ImageRef = job.JobID
	default:
		job.Image = image
	}
	b, err := json.Marshal(job)
	if err != nil {
		return fmt.Errorf("encode job: %w", err)
	}
	msg := &nats.Msg{Subject: contracts.SubjectJobs, Data: b, Header: nats.Header{}}
	msg.Header.Set(contracts.HeaderMsgID, job.JobID)
	msg.Header.Set(contracts.HeaderJobID, job.JobID)
	if job.RequestID != "" {
		msg.Header.Set(contracts.HeaderRequestID, job.RequestID)
	}
	if tp := ops.TraceparentFrom(ctx); tp != "" {
		msg.Header.Set(ops.HeaderTraceparent, tp)
	}
	if _, err := s.js.PublishMsg(ctx, msg); err != nil {
		return fmt.Errorf("%w: publish job: %w", ErrUnavailable, err)
	}
	// A record that was not stored fails the request although its job is
	// queued: the caller refunds it, and the job runs for free, rather than
	// leaving a job nobody can poll. The job's image stays for the worker.
	select {
	case <-recAck.Ok():
		return nil
	case err := <-recAck.Err():
		return fmt.Errorf("%w: %w: put record: %w", ErrUnavailable, errPublished, err)
	case <-ctx.Done():
		return fmt.Errorf("%w: %w: put record: %w", ErrUnavailable, errPublished, ctx.Err())
	}
}

// errPublished marks a queue error that came after the job was published:
// its image must stay.
var errPublished = errors.New("job published")

func ensureStream(ctx context.Context, js jetstream.JetStream, spec contracts.StreamSpec, least int) error {
	cfg := jetstream.StreamConfig{
		Name: spec.Name, Subjects: spec.Subjects, Storage: jetstream.FileStorage,
		Retention: jetstream.LimitsPolicy, MaxAge: spec.MaxAge, MaxMsgsPerSubject: -1,
		Duplicates: spec.Duplicates,
	}
	if spec.WorkQueue {
		cfg.Retention = jetstream.WorkQueuePolicy
	}
	if spec.MaxMsgsPerSubject > 0 {
		cfg.MaxMsgsPerSubject = spec.MaxMsgsPerSubject
	}
	cfg.MaxMsgs = -1
	if spec.MaxMsgs > 0 {
		cfg.MaxMsgs = spec.MaxMsgs
	}
	var err error
	if cfg.Replicas, err = jsetup.Floor(ctx, js, spec.Name, least); err != nil {
		return fmt.Errorf("ensure stream %s: %w", spec.Name, err)
	}
	err = jsetup.Retry(ctx, func(ctx context.Context) error {
		_, err := jsetup.Stream(ctx, js, cfg)
		return err
	})
	if err != nil {
		return fmt.Errorf("ensure stream %s: %w", spec.Name, err)
	}
	return nil
}
