package jobs

import (
	"bytes"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/ocrstack/ocrstack/contracts"
	"github.com/ocrstack/ocrstack/ingress/internal/natstest"
	"github.com/stretchr/testify/require"
)

// startJetStream runs a JetStream server for one test and returns a
// Submitter on it with its JetStream handle.
func startJetStream(t *testing.T) (*Submitter, jetstream.JetStream) {
	t.Helper()
	nc, js := natstest.JetStream(t)
	sub, err := New(t.Context(), nc, js)
	require.NoError(t, err)
	// A second replica starting finds everything in place.
	_, err = New(t.Context(), nc, js)
	require.NoError(t, err)
	return sub, js
}

// TestLookupFollowsJob checks that a submitted job is recorded as queued,
// that a synchronous wait that runs out leaves the job's large image for the
// worker, and that Lookup then finds the result.
func TestLookupFollowsJob(t *testing.T) {
	sub, js := startJetStream(t)
	image := bytes.Repeat([]byte{'x'}, contracts.InlineImageMax+1)
	job := contracts.OCRJob{JobID: "job_a", RequestID: "req_a", Producer: "ingress", KeyID: "key_1", OwnerID: "ada", SubmittedAt: 1}

	_, err := sub.Submit(t.Context(), job, image, 50*time.Millisecond)
	require.ErrorIs(t, err, ErrTimeout)
	images, err := js.ObjectStore(t.Context(), contracts.ImagesBucket)
	require.NoError(t, err)
	_, err = images.GetInfo(t.Context(), "job_a")
	require.NoError(t, err, "the image of a job still queued was deleted")

	rec, res, err := sub.Lookup(t.Context(), "job_a")
	require.NoError(t, err)
	require.Nil(t, res)
	require.Equal(t, contracts.JobRecord{JobID: "job_a", RequestID: "req_a", KeyID: "key_1", OwnerID: "ada", Status: contracts.JobQueued, SubmittedAt: 1}, rec)

	b, err := json.Marshal(contracts.OCRResult{JobID: "job_a", Status: contracts.JobSucceeded, Text: "hi"})
	require.NoError(t, err)
	_, err = js.Publish(t.Context(), contracts.ResultSubject("job_a"), b)
	require.NoError(t, err)
	_, res, err = sub.Lookup(t.Context(), "job_a")
	require.NoError(t, err)
	require.Equal(t, "hi", res.Text)

	_, _, err = sub.Lookup(t.Context(), "job_unknown")
	require.True(t, errors.Is(err, ErrNotFound), "%v", err)
}

// TestEnqueueRecordsCallback checks that Enqueue publishes the job at once
// and records its callback URL.
func TestEnqueueRecordsCallback(t *testing.T) {
	sub, js := startJetStream(t)
	job := contracts.OCRJob{JobID: "job_b", Producer: "ingress", KeyID: "key_1", SubmittedAt: 2}
	require.NoError(t, sub.Enqueue(t.Context(), job, []byte("PNG"), "https://example.com/hook"))
	rec, err := sub.Record(t.Context(), "job_b")
	require.NoError(t, err)
	require.Equal(t, "https://example.com/hook", rec.CallbackURL)
	require.Equal(t, contracts.JobQueued, rec.Status)
	st, err := js.Stream(t.Context(), contracts.JobsStream)
	require.NoError(t, err)
	raw, err := st.GetLastMsgForSubject(t.Context(), contracts.SubjectJobs)
	require.NoError(t, err)
	var got contracts.OCRJob
	require.NoError(t, json.Unmarshal(raw.Data, &got))
	require.Equal(t, "job_b", got.JobID)
	require.Equal(t, []byte("PNG"), got.Image)
}

// failAfter yields n bytes, then fails.
type failAfter struct{ n int }

var errSource = errors.New("client went away")

func (f *failAfter) Read(p []byte) (int, error) {
	if f.n == 0 {
		return 0, errSource
	}
	n := min(f.n, len(p))
	f.n -= n
	return n, nil
}

// TestStoredImage checks the life of an image stored ahead of its job:
// a source failing part way leaves no object and no chunk and its error
// comes back as it is; a stored image reads back whole; a job queued with
// it as ImageRef carries no bytes, and Submit deletes the object once the
// result came.
func TestStoredImage(t *testing.T) {
	sub, js := startJetStream(t)
	images, err := js.ObjectStore(t.Context(), contracts.ImagesBucket)
	require.NoError(t, err)
	stream, err := js.Stream(t.Context(), "OBJ_"+contracts.ImagesBucket)
	require.NoError(t, err)

	err = sub.StoreImage(t.Context(), "job_c", &failAfter{n: 300 << 10})
	require.ErrorIs(t, err, errSource)
	require.NotErrorIs(t, err, ErrUnavailable)
	_, err = images.GetInfo(t.Context(), "job_c")
	require.ErrorIs(t, err, jetstream.ErrObjectNotFound)
	info, err := stream.Info(t.Context())
	require.NoError(t, err)
	require.Zero(t, info.State.Msgs, "chunks of a failed upload left")

	image := bytes.Repeat([]byte("0123456789"), 70_000)
	require.NoError(t, sub.StoreImage(t.Context(), "job_d", bytes.NewReader(image)))
	r, err := sub.OpenImage(t.Context(), "job_d")
	require.NoError(t, err)
	var got bytes.Buffer
	_, err = got.ReadFrom(r)
	require.NoError(t, err)
	require.NoError(t, r.Close())
	require.Equal(t, image, got.Bytes())

	job := contracts.OCRJob{JobID: "job_d", ImageRef: "job_d", Producer: "ingress", SubmittedAt: 3}
	queued := make(chan contracts.OCRJob, 1)
	_, err = js.Conn().Subscribe(contracts.SubjectJobs, func(m *nats.Msg) {
		var j contracts.OCRJob
		_ = json.Unmarshal(m.Data, &j)
		queued <- j
		b, _ := json.Marshal(contracts.OCRResult{JobID: j.JobID, Status: contracts.JobSucceeded, Text: "ok"})
		_ = js.Conn().Publish(contracts.ResultSubject(j.JobID), b)
	})
	require.NoError(t, err)
	res, err := sub.Submit(t.Context(), job, nil, 5*time.Second)
	require.NoError(t, err)
	require.Equal(t, "ok", res.Text)
	got2 := <-queued
	require.Equal(t, "job_d", got2.ImageRef)
	require.Nil(t, got2.Image)
	_, err = images.GetInfo(t.Context(), "job_d")
	require.ErrorIs(t, err, jetstream.ErrObjectNotFound, "the image outlived its job's result")
	require.NoError(t, sub.DeleteImage(t.Context(), "job_d"), "deleting what is gone is no error")
}
