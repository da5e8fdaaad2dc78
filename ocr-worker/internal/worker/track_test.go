package worker

import (
	"encoding/json"
	"slices"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/ocrstack/ocrstack/contracts"
	"github.com/ocrstack/ocrstack/ocr-worker/internal/testimage"
	"github.com/stretchr/testify/require"
)

// TestJobRecordTracked checks that a worker marks a job's record running,
// with when it started, before the job's result arrives, then records the
// pages done, changing nothing else in the record (a member it does not
// know included); and that a job without a record gets none.
func TestJobRecordTracked(t *testing.T) {
	h := startWorker(t, 1)
	// The bucket as the ingress creates it.
	kv, err := h.js.CreateOrUpdateKeyValue(t.Context(), jetstream.KeyValueConfig{
		Bucket: contracts.JobsBucket, TTL: contracts.JobsBucketMaxAge, History: 1, Storage: jetstream.FileStorage,
	})
	require.NoError(t, err)
	queued := `{"jobId":"job_tracked","keyId":"key_1","ownerId":"ada","status":"queued","submittedAt":1,"callbackUrl":"https://example.com/h","future":{"a":1}}`
	_, err = kv.Put(t.Context(), "job_tracked", []byte(queued))
	require.NoError(t, err)
	watch, err := kv.Watch(t.Context(), "job_tracked", jetstream.UpdatesOnly())
	require.NoError(t, err)
	defer func() { _ = watch.Stop() }()

	before := time.Now().UnixMilli()
	pdf := testimage.PDF(t,
		testimage.PDFPage{Scan: testimage.Render(t, "Page one is a scan")},
		testimage.PDFPage{Scan: testimage.Render(t, "Page two is a scan")},
	)
	h.submit(t, contracts.OCRJob{JobID: "job_tracked", Producer: "ingress", Image: pdf}, "req_tracked")
	h.submit(t, contracts.OCRJob{JobID: "job_untracked", Producer: "ingress", Image: pdf}, "req_untracked")
	res, _ := h.result(t, "job_tracked")
	require.Equal(t, contracts.JobSucceeded, res.Status, "error: %+v", res.Error)
	st, err := h.js.Stream(t.Context(), contracts.ResultsStream)
	require.NoError(t, err)
	raw, err := st.GetLastMsgForSubject(t.Context(), contracts.ResultSubject("job_tracked"))
	require.NoError(t, err)

	var updates []map[string]json.RawMessage
	var times []time.Time
	timeout := time.After(waitFor)
	for len(updates) == 0 || updates[len(updates)-1]["progress"] == nil {
		select {
		case e := <-watch.Updates():
			var rec map[string]json.RawMessage
			require.NoError(t, json.Unmarshal(e.Value(), &rec))
			updates, times = append(updates, rec), append(times, e.Created())
		case <-timeout:
			t.Fatalf("no progress recorded; updates: %v", updates)
		}
	}
	first := updates[0]
	require.JSONEq(t, `"running"`, string(first["status"]))
	var started int64
	require.NoError(t, json.Unmarshal(first["startedAt"], &started))
	require.GreaterOrEqual(t, started, before)
	require.Nil(t, first["progress"], "running is recorded before any page")
	require.False(t, times[0].After(raw.Time), "the record went running after the result was stored")
	last := updates[len(updates)-1]
	var p contracts.RecordProgress
	require.NoError(t, json.Unmarshal(last["progress"], &p))
	require.Equal(t, 2, p.Pages)
	require.Positive(t, p.Page)
	for _, rec := range updates {
		require.JSONEq(t, `"running"`, string(rec["status"]))
		require.JSONEq(t, `{"a":1}`, string(rec["future"]))
		require.JSONEq(t, `"https://example.com/h"`, string(rec["callbackUrl"]))
		require.JSONEq(t, `"key_1"`, string(rec["keyId"]))
	}

	h.result(t, "job_untracked")
	h.requireQueueEmpty(t)
	_, err = kv.Get(t.Context(), "job_untracked")
	require.ErrorIs(t, err, jetstream.ErrKeyNotFound, "the worker created a record")
}

// TestJobRecordStoredLate checks that a record stored after its job was
// delivered (its producer stores it on another stream just before the job,
// and the server may deliver the job first) is still marked running.
func TestJobRecordStoredLate(t *testing.T) {
	h := startWorker(t, 1)
	kv, err := h.js.CreateOrUpdateKeyValue(t.Context(), jetstream.KeyValueConfig{
		Bucket: contracts.JobsBucket, TTL: contracts.JobsBucketMaxAge, History: 1, Storage: jetstream.FileStorage,
	})
	require.NoError(t, err)
	watch, err := kv.Watch(t.Context(), "job_late", jetstream.UpdatesOnly())
	require.NoError(t, err)
	defer func() { _ = watch.Stop() }()
	pages := make([]testimage.PDFPage, 3)
	for i := range pages {
		pages[i] = testimage.PDFPage{Scan: testimage.Render(t, "A page long enough to read for a while")}
	}
	h.submit(t, contracts.OCRJob{JobID: "job_late", Producer: "ingress", Image: testimage.PDF(t, pages...)}, "req_late")
	// The job delivered, its record not yet stored.
	require.Eventually(t, func() bool {
		info, err := h.cons.Info(t.Context())
		return err == nil && info.NumAckPending == 1
	}, waitFor, time.Millisecond)
	time.Sleep(20 * time.Millisecond)
	_, err = kv.Put(t.Context(), "job_late", []byte(`{"jobId":"job_late","status":"queued","submittedAt":1}`))
	require.NoError(t, err)
	// The watch may or may not deliver the put itself; what matters is
	// that the record goes running.
	var statuses []string
	timeout := time.After(waitFor)
	for !slices.Contains(statuses, string(contracts.JobRunning)) {
		select {
		case e := <-watch.Updates():
			var rec contracts.JobRecord
			require.NoError(t, json.Unmarshal(e.Value(), &rec))
			statuses = append(statuses, string(rec.Status))
		case <-timeout:
			t.Fatalf("the late record was not marked running; statuses: %v", statuses)
		}
	}
	h.result(t, "job_late")
}
