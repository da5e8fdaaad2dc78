package e2e

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ocrstack/ocrstack/e2e/internal/textimage"
)

// traceparent is the W3C trace context the OCR request below arrives with.
const (
	traceID     = "4bf92f3577b34da6a3ce929d0e0e4736"
	traceparent = "00-" + traceID + "-00f067aa0ba902b7-01"
)

// TestObservability runs the real stack and checks what an operator sees:
// every service's ops server is live and ready, one OCR request moves the
// key series of every service, the request's id and trace id reach the
// worker's and the ingress's log lines, `<binary> healthcheck` exits 0
// against a live service and 1 against none, and every metric the Grafana
// services dashboard queries exists, so the dashboard cannot rot.
func TestObservability(t *testing.T) {
	s := startStack(t)
	for _, name := range services {
		require.Equal(t, http.StatusOK, getStatus(t, "http://"+s.ops[name]+"/livez"), name)
		require.Eventually(t, func() bool { return getStatus(t, "http://"+s.ops[name]+"/readyz") == http.StatusOK },
			30*time.Second, 50*time.Millisecond, "%s never became ready", name)
	}

	status, body := postJSON(t, s.url+"/signup", "", `{"email":"grace@example.com","name":"Grace"}`)
	require.Equal(t, http.StatusOK, status, body)
	var signup struct {
		Keys []struct{ Key string } `json:"keys"`
	}
	require.NoError(t, json.Unmarshal([]byte(body), &signup))
	img, err := textimage.PNG([]string{"Metrics move"}, 40)
	require.NoError(t, err)
	req, err := http.NewRequest(http.MethodPost, s.url+"/uploadBase64",
		strings.NewReader(`{"imageBase64":"`+base64.StdEncoding.EncodeToString(img)+`"}`))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+signup.Keys[0].Key)
	req.Header.Set("X-Request-Id", "req_observe")
	req.Header.Set("traceparent", traceparent)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode, string(b))

	// Each service's key series, as exposed (labels in name order).
	want := map[string][]string{
		"ingress": {
			`ocr_ingress_http_requests_total{method="POST",route="/uploadBase64",status="200"}`,
			`ocr_ingress_verifications_total{outcome="VALID"}`,
			`ocr_ingress_jobs_submitted_total{mode="sync"}`,
			`ocr_ingress_http_request_duration_seconds_count{route="/uploadBase64"}`,
		},
		"keyservice": {
			`ocr_keyservice_verifications_total{outcome="VALID"}`,
			`ocr_keyservice_verify_duration_seconds_count`,
			`ocr_keyservice_credit_decisions_total{decision="spent"}`,
			`ocr_keyservice_verify_group_size_count`,
		},
		"ocr-worker": {
			`ocr_worker_jobs_total{error_code="",outcome="succeeded"}`,
			`ocr_worker_recognition_duration_seconds_count`,
			`ocr_worker_pages_total`,
			`ocr_worker_slots`,
		},
		"analytics": {
			`ocr_analytics_events_inserted_total{table="verifications"}`,
			`ocr_analytics_events_inserted_total{table="usage"}`,
			`ocr_analytics_batch_size_events_count`,
			`ocr_analytics_flush_duration_seconds_count`,
		},
	}
	names := map[string]bool{}
	for _, name := range services {
		var series map[string]float64
		var missing []string
		assert.Eventually(t, func() bool {
			series, missing = scrape(t, "http://"+s.ops[name]+"/metrics"), nil
			for _, w := range want[name] {
				if series[w] < 1 {
					missing = append(missing, w)
				}
			}
			return len(missing) == 0
		}, 30*time.Second, 100*time.Millisecond, "%s: the series did not move", name)
		require.Empty(t, missing, name)
		require.Contains(t, series, "go_goroutines", name)
		for k := range series {
			names[strings.SplitN(k, "{", 2)[0]] = true
		}
	}

	t.Run("request and trace ids in the logs", func(t *testing.T) {
		for name, msg := range map[string]string{"ocr-worker": "job done", "ingress": "request"} {
			line := logLine(t, s.logs[name], msg, "req_observe")
			require.Equal(t, traceID, line["trace_id"], "%s: %v", name, line)
		}
	})

	t.Run("healthcheck subcommand", func(t *testing.T) {
		bin := buildServices(t)
		idle := freeAddr(t) // nothing listens there
		for _, name := range services {
			for addr, wantCode := range map[string]int{s.ops[name]: 0, idle: 1} {
				cmd := exec.Command(filepath.Join(bin, name), "healthcheck")
				cmd.Env = append(os.Environ(), "OCR_OPS_ADDR="+addr)
				out, err := cmd.CombinedOutput()
				code := 0
				if ee, ok := err.(*exec.ExitError); ok {
					code = ee.ExitCode()
				} else {
					require.NoError(t, err)
				}
				require.Equal(t, wantCode, code, "%s healthcheck against %s: %s", name, addr, out)
			}
		}
	})

	t.Run("every metric of the services dashboard exists", func(t *testing.T) {
		raw, err := os.ReadFile("../deploy/grafana/services.json")
		require.NoError(t, err)
		var dash struct {
			Panels []struct {
				Title   string `json:"title"`
				Targets []struct {
					Expr string `json:"expr"`
				} `json:"targets"`
			} `json:"panels"`
		}
		require.NoError(t, json.Unmarshal(raw, &dash))
		metric := regexp.MustCompile(`\b(?:ocr|go|process)_[a-z0-9_]+`)
		checked := 0
		for _, p := range dash.Panels {
			for _, tg := range p.Targets {
				for _, m := range metric.FindAllString(tg.Expr, -1) {
					require.True(t, names[m], "panel %q queries %s, which no service exposes", p.Title, m)
					checked++
				}
			}
		}
		require.Greater(t, checked, 10, "the dashboard queries too little to be the real one")
	})
}

func getStatus(t *testing.T, url string) int {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		return 0
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode
}

// scrape reads a Prometheus text exposition into values by series (the
// name and its labels as written).
func scrape(t *testing.T, url string) map[string]float64 {
	t.Helper()
	resp, err := http.Get(url)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	out := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		require.Positive(t, i, "malformed line %q", line)
		v, err := strconv.ParseFloat(line[i+1:], 64)
		require.NoError(t, err, line)
		out[line[:i]] = v
	}
	require.NoError(t, sc.Err())
	return out
}

// logLine returns the JSON log line of path with message msg about the
// request id, failing when there is none.
func logLine(t *testing.T, path, msg, requestID string) map[string]any {
	t.Helper()
	var found map[string]any
	require.Eventually(t, func() bool {
		raw, err := os.ReadFile(path)
		require.NoError(t, err)
		for _, l := range bytes.Split(raw, []byte("\n")) {
			var rec map[string]any
			if json.Unmarshal(l, &rec) == nil && rec["msg"] == msg && rec["request_id"] == requestID {
				found = rec
				return true
			}
		}
		return false
	}, 10*time.Second, 50*time.Millisecond, "no %q line for %s in %s", msg, requestID, path)
	return found
}
