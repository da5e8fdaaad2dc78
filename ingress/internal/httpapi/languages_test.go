package httpapi

import (
	"testing"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/micro"
	"github.com/ocrstack/ocrstack/contracts"
	"github.com/ocrstack/ocrstack/ingress/internal/workerinfo"
	"github.com/stretchr/testify/require"
)

// addWorkers registers a micro service named like the OCR worker for each
// installed list ("eng+osd+spa"), as the worker announces itself.
func addWorkers(t *testing.T, nc *nats.Conn, installed ...string) {
	t.Helper()
	for _, langs := range installed {
		svc, err := micro.AddService(nc, micro.Config{
			Name: contracts.WorkerName, Version: "1.0.0", Metadata: map[string]string{workerinfo.InstalledKey: langs},
		})
		require.NoError(t, err)
		t.Cleanup(func() { _ = svc.Stop() })
	}
	require.NoError(t, nc.Flush())
}

// TestLanguagesCheckedAgainstWorkers checks, on the three OCR routes with
// two workers answering over NATS, that a language not every worker has is
// refused with a 400 UNSUPPORTED_LANGUAGE naming the installed ones, before
// the key is verified, while the languages all have pass to the job; and
// that with no worker answering the check is left to the worker.
func TestLanguagesCheckedAgainstWorkers(t *testing.T) {
	nc := startNATS(t)
	addWorkers(t, nc, "deu+eng+osd+spa", "spa+eng")
	keys, jobs := &stubKeys{}, &stubJobs{result: contracts.OCRResult{Status: contracts.JobSucceeded, Text: "x"}}
	cfg := testConfig(keys, jobs)
	cfg.Languages = workerinfo.New(workerinfo.Config{Conn: nc})
	app := New(cfg)

	silent := testConfig(keys, jobs)
	silent.Languages = workerinfo.New(workerinfo.Config{Conn: startNATS(t)})
	noWorkers := New(silent)

	cases := []struct {
		name        string
		app         bool // false: no worker answers
		languages   string
		wantStatus  int
		wantMessage string
	}{
		{"installed on all", true, "eng+spa", 200, ""},
		{"installed on one", true, "deu", 400, `language "deu" is not installed; installed: eng, spa`},
		{"one of several missing", true, "spa+fra", 400, `language "fra" is not installed; installed: eng, spa`},
		{"not a text language", true, "osd", 400, `language "osd" is not installed; installed: eng, spa`},
		{"no workers answer", false, "deu", 200, ""},
	}
	for _, route := range ocrRoutes {
		for _, tc := range cases {
			t.Run(route+"/"+tc.name, func(t *testing.T) {
				a := app
				if !tc.app {
					a = noWorkers
				}
				jobs.job = contracts.OCRJob{}
				charged := keys.verifies.Load()
				r := do(t, a, optionsRequest(t, route, pngBytes, map[string]any{"languages": tc.languages}))
				require.Equal(t, tc.wantStatus, r.status, r.raw)
				if tc.wantStatus == 200 {
					require.Equal(t, charged+1, keys.verifies.Load())
					require.NotEmpty(t, jobs.job.Languages)
					return
				}
				require.Equal(t, "UNSUPPORTED_LANGUAGE", reason(r), r.raw)
				require.Equal(t, tc.wantMessage, errorMessage(t, r))
				require.Equal(t, charged, keys.verifies.Load(), "a refused request was verified")
				require.Empty(t, jobs.job.JobID, "a refused request reached the job queue")
			})
		}
	}
}
