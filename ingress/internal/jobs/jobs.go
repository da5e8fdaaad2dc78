// Package jobs submits OCR jobs to JetStream and waits for their results.
//
// The submitter subscribes to the job's result subject before publishing the
// job, so the result cannot slip past it; the worker also keeps the result
// on the results stream for contracts.ResultsMaxAge. Images larger than
// contracts.InlineImageMax go to the Object Store and the job carries a
// reference.
package jobs

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/ocrstack/ocrstack/contracts"
)

// Errors of Submit.
var (
	// ErrUnavailable means the job could not be queued.
	ErrUnavailable = errors.New("job queue unavailable")
	// ErrTimeout means the job was queued but no result came in time; the
	// job goes on and its result lands on the results stream.
	ErrTimeout = errors.New("no result in time")
)

// Submitter queues jobs and waits for their results.
type Submitter struct {
	nc     *nats.Conn
	js     jetstream.JetStream
	images jetstream.ObjectStore
}

// New creates the jobs stream and the images bucket if needed (the ingress
// publishes to both) and returns a Submitter.
func New(ctx context.Context, nc *nats.Conn, js jetstream.JetStream) (*Submitter, error) {
	if err := ensureStream(ctx, js, contracts.JobsStreamSpec); err != nil {
		return nil, err
	}
	// The worker creates the same bucket at start-up. The configuration must
	// be identical to the worker's (no description), or whichever starts
	// second fails; and two creates racing can still meet "already in use",
	// after which the bucket exists and a second attempt updates it.
	cfg := jetstream.ObjectStoreConfig{Bucket: contracts.ImagesBucket, TTL: contracts.ImagesMaxAge, Storage: jetstream.FileStorage}
	images, err := js.CreateOrUpdateObjectStore(ctx, cfg)
	if errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
		images, err = js.CreateOrUpdateObjectStore(ctx, cfg)
	}
	if err != nil {
		return nil, fmt.Errorf("ensure object store %s: %w", contracts.ImagesBucket, err)
	}
	return &Submitter{nc: nc, js: js, images: images}, nil
}

// Submit queues job with image and waits up to wait for its result.
func (s *Submitter) Submit(ctx context.Context, job contracts.OCRJob, image []byte, wait time.Duration) (contracts.OCRResult, error) {
	sub, err := s.nc.SubscribeSync(contracts.ResultSubject(job.JobID))
	if err != nil {
		return contracts.OCRResult{}, fmt.Errorf("%w: subscribe: %w", ErrUnavailable, err)
	}
	defer func() { _ = sub.Unsubscribe() }()

	if len(image) > contracts.InlineImageMax {
		if _, err := s.images.Put(ctx, jetstream.ObjectMeta{Name: job.JobID}, bytes.NewReader(image)); err != nil {
			return contracts.OCRResult{}, fmt.Errorf("%w: store image: %w", ErrUnavailable, err)
		}
		defer func() { _ = s.images.Delete(context.WithoutCancel(ctx), job.JobID) }()
		job.ImageRef = job.JobID
	} else {
		job.Image = image
	}
	b, err := json.Marshal(job)
	if err != nil {
		return contracts.OCRResult{}, fmt.Errorf("encode job: %w", err)
	}
	msg := &nats.Msg{Subject: contracts.SubjectJobs, Data: b, Header: nats.Header{}}
	msg.Header.Set(contracts.HeaderMsgID, job.JobID)
	msg.Header.Set(contracts.HeaderJobID, job.JobID)
	if job.RequestID != "" {
		msg.Header.Set(contracts.HeaderRequestID, job.RequestID)
	}
	if _, err := s.js.PublishMsg(ctx, msg); err != nil {
		return contracts.OCRResult{}, fmt.Errorf("%w: publish job: %w", ErrUnavailable, err)
	}

	waitCtx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	m, err := sub.NextMsgWithContext(waitCtx)
	if err != nil {
		return contracts.OCRResult{}, fmt.Errorf("job %s: %w", job.JobID, ErrTimeout)
	}
	var res contracts.OCRResult
	if err := json.Unmarshal(m.Data, &res); err != nil {
		return contracts.OCRResult{}, fmt.Errorf("decode result of job %s: %w", job.JobID, err)
	}
	return res, nil
}

func ensureStream(ctx context.Context, js jetstream.JetStream, spec contracts.StreamSpec) error {
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
	if _, err := js.CreateOrUpdateStream(ctx, cfg); err != nil {
		return fmt.Errorf("ensure stream %s: %w", spec.Name, err)
	}
	return nil
}
