package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/ocrstack/ocrstack/contracts"
	"github.com/ocrstack/ocrstack/e2e/internal/textimage"
)

// pageLines fill the measured page, a 640x480 scan of typed text.
var pageLines = []string{
	"Invoice 2024-0117",
	"OCR as a service, self-hosted.",
	"The quick brown fox jumps over",
	"the lazy dog, 1234567890 times.",
	"El veloz murcielago hindu",
	"comia feliz cardillo y kiwi.",
	"Total due: 1,234.56 EUR",
}

// measured is one request of the overhead phase.
type measured struct {
	jobID       string
	requestID   string
	start       time.Time
	latency     time.Duration
	recognition time.Duration
	// in is from the request's start to its job's message going by on
	// NATS, as this process sees it; worker is from there to the job's
	// result: the worker's share of the latency.
	in, worker time.Duration
	// toVerify, verify and toJob split in: the request's start to its key
	// verification going by, the verification to its answer, the answer
	// to the job.
	toVerify, verify, toJob time.Duration
}

// overhead runs o.requests uploads of one page from o.clients clients, then
// from o.slots clients, and prints each run's client latency, the worker's
// recognition time (recognitionMs of the job's result) and their
// difference: what the ingress, NATS and the worker's own handling of the
// job add to Tesseract. It splits that difference by watching the job and
// its result go by on NATS: the ingress's part before the job (HTTP, the
// form, the key check, publishing the job), the worker's (job message to
// result, less recognition: waiting for a slot, fetching, decoding,
// publishing) and the ingress's after the result (the reply).
func overhead(ctx context.Context, s *stack, o options, key string, stdout io.Writer) error {
	seen, err := s.watchJobs()
	if err != nil {
		return err
	}
	defer seen.stop()
	page, post, done, err := uploader(ctx, s, key)
	if err != nil {
		return err
	}
	defer done()
	for range o.warmup {
		if _, err := post(); err != nil {
			return fmt.Errorf("warm-up: %w", err)
		}
	}
	runs := []int{o.clients}
	if o.slots != o.clients {
		runs = append(runs, o.slots)
	}
	fmt.Fprintf(stdout, "\noverhead: POST /upload of a 640x480 PNG page (%d bytes), 1 worker with %d slots, %d requests per run\n",
		len(page), o.slots, o.requests)
	fmt.Fprintln(stdout, "ms, p50 / p99; overhead = latency - recognitionMs = ingress before job + worker (less recognition) + ingress after result")
	fmt.Fprintf(stdout, "%-8s %-7s %-15s %-15s %-15s %-15s %-15s %s\n", "clients", "req/s", "latency", "recognition", "overhead", "ingress before", "worker", "ingress after")
	var splits []string
	for _, clients := range runs {
		start := time.Now()
		ms, err := concurrently(clients, o.requests, post)
		if err != nil {
			return err
		}
		elapsed := time.Since(start)
		if err := s.recognitionTimes(ctx, ms); err != nil {
			return err
		}
		if err := seen.workerTimes(ms); err != nil {
			return err
		}
		var lat, rec, over, in, worker, out, toVerify, verify, toJob []time.Duration
		for _, m := range ms {
			lat, rec, over = append(lat, m.latency), append(rec, m.recognition), append(over, m.latency-m.recognition)
			in, worker, out = append(in, m.in), append(worker, m.worker-m.recognition), append(out, m.latency-m.in-m.worker)
			toVerify, verify, toJob = append(toVerify, m.toVerify), append(verify, m.verify), append(toJob, m.toJob)
		}
		fmt.Fprintf(stdout, "%-8d %-7.1f %-15s %-15s %-15s %-15s %-15s %s\n", clients, float64(len(ms))/elapsed.Seconds(),
			pcts(lat), pcts(rec), pcts(over), pcts(in), pcts(worker), pcts(out))
		splits = append(splits, fmt.Sprintf("%-8d %-23s %-23s %s", clients, pcts(toVerify), pcts(verify), pcts(toJob)))
	}
	fmt.Fprintln(stdout, "\ningress before, split by the key verification going by on NATS (ms, p50 / p99)")
	fmt.Fprintf(stdout, "%-8s %-23s %-23s %s\n", "clients", "request to verification", "verification (answer)", "answer to job")
	for _, line := range splits {
		fmt.Fprintln(stdout, line)
	}
	fmt.Fprintln(stdout, "recognitionMs is whole milliseconds. With more clients than worker slots, jobs wait for a slot: the worker column.")
	return nil
}

// uploader returns the measured page and post, which uploads it once with
// key and measures the request; done closes its connections.
func uploader(ctx context.Context, s *stack, key string) (page []byte, post func() (measured, error), done func(), err error) {
	page, err = textimage.PagePNG(640, 480, pageLines, 28)
	if err != nil {
		return nil, nil, nil, err
	}
	body, ctype, err := multipartBody("sampleFile", "page.png", page)
	if err != nil {
		return nil, nil, nil, err
	}
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64, DisableCompression: true}, Timeout: 2 * time.Minute}
	var sent atomic.Uint64
	post = func() (measured, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.url+"/upload", bytes.NewReader(body))
		if err != nil {
			return measured{}, err
		}
		req.Header.Set("Authorization", "Bearer "+key)
		req.Header.Set("Content-Type", ctype)
		req.Header.Set("X-Request-Id", "req_load_"+strconv.FormatUint(sent.Add(1), 10))
		start := time.Now()
		resp, err := client.Do(req)
		if err != nil {
			return measured{}, err
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		m := measured{start: start, latency: time.Since(start), jobID: resp.Header.Get("X-Job-Id"), requestID: req.Header.Get("X-Request-Id")}
		if err == nil && (resp.StatusCode != http.StatusOK || m.jobID == "") {
			err = fmt.Errorf("POST /upload: %d %s", resp.StatusCode, b)
		}
		return m, err
	}
	return page, post, client.CloseIdleConnections, nil
}

// concurrently runs n calls of f from clients goroutines and returns their
// results; the first error stops it.
func concurrently(clients, n int, f func() (measured, error)) ([]measured, error) {
	out := make([]measured, n)
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, clients)
	for range clients {
		wg.Go(func() {
			for i := int(next.Add(1)) - 1; i < n; i = int(next.Add(1)) - 1 {
				m, err := f()
				if err != nil {
					errs <- err
					next.Store(int64(n))
					return
				}
				out[i] = m
			}
		})
	}
	wg.Wait()
	close(errs)
	return out, <-errs
}

// jobTimes records when each job's message and its result go by on NATS,
// and each key verification and its answer.
type jobTimes struct {
	mu     sync.Mutex
	job    map[string]time.Time
	result map[string]time.Time
	// verify is by request id; answered by the verification's reply
	// subject, which replyOf maps to its request id.
	verify, answered map[string]time.Time
	replyOf          map[string]string
	subs             []*nats.Subscription
}

// watchJobs subscribes to every job and every result.
func (s *stack) watchJobs() (*jobTimes, error) {
	j := &jobTimes{job: map[string]time.Time{}, result: map[string]time.Time{},
		verify: map[string]time.Time{}, answered: map[string]time.Time{}, replyOf: map[string]string{}}
	// The ingress's verification (a request on the keyservice's subject,
	// carrying the HTTP request's id) and its answer, on the reply subject
	// that request named.
	verified, err := s.nc.Subscribe(contracts.SubjectKeysVerify, func(m *nats.Msg) {
		at := time.Now()
		id := m.Header.Get(contracts.HeaderRequestID)
		j.mu.Lock()
		if _, ok := j.verify[id]; !ok && id != "" && m.Reply != "" {
			j.verify[id], j.replyOf[m.Reply] = at, id
		}
		j.mu.Unlock()
	})
	if err != nil {
		return nil, err
	}
	j.subs = append(j.subs, verified)
	answers, err := s.nc.Subscribe(contracts.IngressInboxPrefix+".>", func(m *nats.Msg) {
		at := time.Now()
		j.mu.Lock()
		if _, ok := j.answered[m.Subject]; !ok {
			j.answered[m.Subject] = at
		}
		j.mu.Unlock()
	})
	if err != nil {
		j.stop()
		return nil, err
	}
	j.subs = append(j.subs, answers)
	for subject, into := range map[string]map[string]time.Time{contracts.SubjectJobs: j.job, contracts.SubjectResultsAll: j.result} {
		sub, err := s.nc.Subscribe(subject, func(m *nats.Msg) {
			at := time.Now()
			id := m.Header.Get(contracts.HeaderJobID)
			if id == "" {
				id = strings.TrimPrefix(m.Subject, contracts.SubjectResultsPrefix)
			}
			j.mu.Lock()
			into[id] = at
			j.mu.Unlock()
		})
		if err != nil {
			j.stop()
			return nil, err
		}
		j.subs = append(j.subs, sub)
	}
	return j, s.nc.Flush()
}

func (j *jobTimes) stop() {
	for _, sub := range j.subs {
		_ = sub.Unsubscribe()
	}
}

// workerTimes sets each request's in and worker times.
func (j *jobTimes) workerTimes(ms []measured) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	for i, m := range ms {
		job, ok1 := j.job[m.jobID]
		res, ok2 := j.result[m.jobID]
		if !ok1 || !ok2 {
			return fmt.Errorf("job %s: its message or result did not go by", m.jobID)
		}
		ms[i].in, ms[i].worker = job.Sub(m.start), res.Sub(job)
		asked, ok := j.verify[m.requestID]
		var answered time.Time
		for reply, id := range j.replyOf {
			if id == m.requestID {
				answered = j.answered[reply]
			}
		}
		if !ok || answered.IsZero() {
			return fmt.Errorf("request %s: its key verification or answer did not go by", m.requestID)
		}
		ms[i].toVerify, ms[i].verify, ms[i].toJob = asked.Sub(m.start), answered.Sub(asked), job.Sub(answered)
	}
	return nil
}

// recognitionTimes reads each job's result from the results stream, the
// last message on its subject, and sets its recognition time.
func (s *stack) recognitionTimes(ctx context.Context, ms []measured) error {
	results, err := s.js.Stream(ctx, contracts.ResultsStream)
	if err != nil {
		return err
	}
	for i := range ms {
		msg, err := results.GetLastMsgForSubject(ctx, contracts.ResultSubject(ms[i].jobID))
		if err != nil {
			return fmt.Errorf("result of %s: %w", ms[i].jobID, err)
		}
		var res contracts.OCRResult
		if err := json.Unmarshal(msg.Data, &res); err != nil {
			return fmt.Errorf("result of %s: %w", ms[i].jobID, err)
		}
		ms[i].recognition = time.Duration(res.RecognitionMs) * time.Millisecond
	}
	return nil
}

// multipartBody is a multipart/form-data body with one file part.
func multipartBody(field, filename string, data []byte) ([]byte, string, error) {
	var buf bytes.Buffer
	w := multipart.NewWriter(&buf)
	part, err := w.CreateFormFile(field, filename)
	if err == nil {
		_, err = part.Write(data)
	}
	if err == nil {
		err = w.Close()
	}
	return buf.Bytes(), w.FormDataContentType(), err
}
