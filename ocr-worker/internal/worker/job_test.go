package worker

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/ocrstack/ocrstack/contracts"
	"github.com/stretchr/testify/require"
)

// TestDecodeJob checks which messages are jobs, which are jobs that can
// only be answered with a failure, and which cannot be answered at all.
func TestDecodeJob(t *testing.T) {
	id64 := strings.Repeat("a", 64)
	cases := []struct {
		name    string
		data    string
		wantErr error
		wantID  string
	}{
		{"inline", `{"jobId":"job_1","image":"iVBORw0KGgo=","producer":"ingress"}`, nil, "job_1"},
		{"reference", `{"jobId":"J-2","imageRef":"J-2"}`, nil, "J-2"},
		{"unknown fields are kept for later versions", `{"jobId":"j","imageRef":"r","priority":[1]}`, nil, "j"},
		{"64-character id", `{"jobId":"` + id64 + `","imageRef":"r"}`, nil, id64},
		{"both image and ref", `{"jobId":"j","image":"AA==","imageRef":"r"}`, ErrInvalidJob, "j"},
		{"neither", `{"jobId":"j"}`, ErrInvalidJob, "j"},
		{"empty image", `{"jobId":"j","image":""}`, ErrInvalidJob, "j"},
		{"ref too long", `{"jobId":"j","imageRef":"` + strings.Repeat("r", 256) + `"}`, ErrInvalidJob, "j"},
		{"options", `{"jobId":"j","imageRef":"r","pageSegMode":7,"whitelist":"0123456789.,€"}`, nil, "j"},
		{"page segmentation mode 2 (not implemented)", `{"jobId":"j","imageRef":"r","pageSegMode":2}`, ErrInvalidJob, "j"},
		{"page segmentation mode 14", `{"jobId":"j","imageRef":"r","pageSegMode":14}`, ErrInvalidJob, "j"},
		{"negative page segmentation mode", `{"jobId":"j","imageRef":"r","pageSegMode":-1}`, ErrInvalidJob, "j"},
		{"whitelist with a control character", `{"jobId":"j","imageRef":"r","whitelist":"0\n1"}`, ErrInvalidJob, "j"},
		{"pages", `{"jobId":"j","imageRef":"r","pages":"1-3,7","detectOrientation":false}`, nil, "j"},
		{"pages out of bounds", `{"jobId":"j","imageRef":"r","pages":"0-3"}`, ErrInvalidJob, "j"},
		{"outputs unknown", `{"jobId":"j","imageRef":"r","outputs":["pdf"]}`, ErrInvalidJob, "j"},
		{"outputs twice", `{"jobId":"j","imageRef":"r","outputs":["words","words"]}`, ErrInvalidJob, "j"},
		{"whitelist too long", `{"jobId":"j","imageRef":"r","whitelist":"` + strings.Repeat("x", 257) + `"}`, ErrInvalidJob, "j"},
		{"not json", `{"jobId":`, ErrMalformedJob, ""},
		{"trailing garbage", `{"jobId":"j","imageRef":"r"} x`, ErrMalformedJob, ""},
		{"array", `[]`, ErrMalformedJob, ""},
		{"image not base64", `{"jobId":"j","image":"%%%"}`, ErrMalformedJob, ""},
		{"no id", `{"imageRef":"r"}`, ErrMalformedJob, ""},
		{"65-character id", `{"jobId":"` + id64 + `a","imageRef":"r"}`, ErrMalformedJob, ""},
		{"id with a dot", `{"jobId":"a.b","imageRef":"r"}`, ErrMalformedJob, ""},
		{"id with a wildcard", `{"jobId":"a>","imageRef":"r"}`, ErrMalformedJob, ""},
		{"id with unicode", `{"jobId":"jöb","imageRef":"r"}`, ErrMalformedJob, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			job, err := DecodeJob([]byte(tc.data))
			if tc.wantErr == nil {
				require.NoError(t, err)
			} else {
				require.ErrorIs(t, err, tc.wantErr)
			}
			require.Equal(t, tc.wantID, job.JobID)
		})
	}
}

// FuzzDecodeJob checks DecodeJob on arbitrary bytes: it never panics, and
// every job it does not call malformed has an id that is safe in a subject
// and a Nats-Msg-Id; every job it accepts has exactly one image source.
func FuzzDecodeJob(f *testing.F) {
	seeds := []contracts.OCRJob{
		{JobID: "job_1", Producer: "ingress", Image: []byte{0x89, 'P', 'N', 'G'}, Languages: []string{"eng"}},
		{JobID: "job_2", ImageRef: "job_2"},
		{JobID: "bad id", ImageRef: "r"},
		{JobID: "job_3"},
	}
	for _, s := range seeds {
		data, err := json.Marshal(s)
		require.NoError(f, err)
		f.Add(data)
	}
	f.Add([]byte(`{"jobId":"a","image":"AA==","imageRef":"b"}`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, data []byte) {
		job, err := DecodeJob(data)
		switch {
		case errors.Is(err, ErrMalformedJob):
			return
		case err != nil && !errors.Is(err, ErrInvalidJob):
			t.Fatalf("error is neither malformed nor invalid: %v", err)
		}
		if !ValidJobID(job.JobID) || strings.ContainsAny(job.JobID, ". *>\x00") {
			t.Fatalf("answerable job has unsafe id %q", job.JobID)
		}
		if err == nil && (len(job.Image) > 0) == (job.ImageRef != "") {
			t.Fatalf("accepted job without exactly one image source: %+v", job)
		}
	})
}
