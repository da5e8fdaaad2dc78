package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

const (
	// sampleEvery is how often the ingress's RSS is read.
	sampleEvery = 200 * time.Millisecond
	// floodGrace is how long uploads started before the end may take to
	// be answered; those still waiting then count as timeouts.
	floodGrace = 30 * time.Second
	// settle is how long after the flood the RSS is read again.
	settle = 3 * time.Second
)

// pngSignature starts each upload, so the ingress takes it for a PNG and
// reads, copies and queues it in full, as it would a real one: what the
// flood loads is the reading and holding of bodies, not Tesseract (the
// worker refuses the rest of the bytes at once).
var pngSignature = []byte("\x89PNG\r\n\x1a\n")

// flood has o.floodClients clients upload o.floodBytes each, one upload
// after another, for o.floodFor, while the ingress's RSS is sampled, and
// prints the RSS and what the clients got back.
func flood(ctx context.Context, s *stack, o options, key string, stdout io.Writer) error {
	pid := s.proc("ingress").pid()
	file := make([]byte, o.floodBytes)
	copy(file, pngSignature)
	_, _ = rand.NewChaCha8([32]byte{}).Read(file[len(pngSignature):])
	body, ctype, err := floodBody(o.floodRoute, file)
	if err != nil {
		return err
	}
	file = nil
	baseline, err := procStatus(pid, "VmRSS")
	if err != nil {
		return err
	}

	sampled := make(chan []int64)
	stopSampling := make(chan struct{})
	go func() {
		var rss []int64
		t := time.NewTicker(sampleEvery)
		defer t.Stop()
		for {
			select {
			case <-stopSampling:
				sampled <- rss
				return
			case <-t.C:
				if kib, err := procStatus(pid, "VmRSS"); err == nil {
					rss = append(rss, kib)
				}
			}
		}
	}()

	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: o.floodClients, DisableCompression: true}}
	defer client.CloseIdleConnections()
	start := time.Now()
	stopAt := start.Add(o.floodFor)
	reqCtx, cancel := context.WithDeadline(ctx, stopAt.Add(floodGrace))
	defer cancel()
	var (
		mu       sync.Mutex
		outcomes = map[string]int{}
		example  = map[string]string{}
		answered = make([]int, o.floodClients)
		latency  []time.Duration
	)
	var wg sync.WaitGroup
	for c := range o.floodClients {
		wg.Go(func() {
			for time.Now().Before(stopAt) && reqCtx.Err() == nil {
				t0 := time.Now()
				outcome, detail := upload(reqCtx, client, s.url+o.floodRoute, key, ctype, body)
				mu.Lock()
				outcomes[outcome]++
				if _, ok := example[outcome]; !ok {
					example[outcome] = detail
				}
				if !strings.HasPrefix(outcome, "error") {
					answered[c]++
					latency = append(latency, time.Since(t0))
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	close(stopSampling)
	rss := <-sampled
	select {
	case <-time.After(settle):
	case <-ctx.Done():
		return ctx.Err()
	}
	after, err := procStatus(pid, "VmRSS")
	if err != nil {
		return err
	}
	hwm, err := procStatus(pid, "VmHWM")
	if err != nil {
		return err
	}

	fmt.Fprintf(stdout, "\nflood: %d clients uploading %.1f MB each to %s (key %s), one after another, for %v (all answered after %v)\n",
		o.floodClients, float64(o.floodBytes)/1e6, o.floodRoute, o.floodKey, o.floodFor, elapsed.Round(100*time.Millisecond))
	fmt.Fprintf(stdout, "%-28s %8.0f MiB\n", "ingress RSS before", mib(baseline))
	fmt.Fprintf(stdout, "%-28s %8.0f MiB (%d samples every %v)\n", "ingress RSS peak, sampled", mib(slices.Max(append(rss, baseline))), len(rss), sampleEvery)
	fmt.Fprintf(stdout, "%-28s %8.0f MiB (VmHWM, since start)\n", "ingress RSS peak, kernel", mib(hwm))
	fmt.Fprintf(stdout, "%-28s %8.0f MiB\n", "ingress RSS "+settle.String()+" after", mib(after))
	total := 0
	for _, n := range answered {
		total += n
	}
	fmt.Fprintf(stdout, "answered %d uploads, response time p50 / p99 %s ms, per client min %d max %d\n",
		total, pcts(latency), slices.Min(answered), slices.Max(answered))
	keys := make([]string, 0, len(outcomes))
	for k := range outcomes {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Fprintf(stdout, "  %-22s %6d   %s\n", k, outcomes[k], example[k])
	}
	return nil
}

// floodRoutes are the routes -flood-route takes, with the multipart field
// their file goes in ("" for a base64 JSON body).
var floodRoutes = map[string]string{"/upload": "sampleFile", "/api/v1/ocr": "image", "/v1/ocr": "image", "/signup": "sampleFile", "/uploadBase64": ""}

// floodBody is the body posted to route with file, and its Content-Type.
func floodBody(route string, file []byte) ([]byte, string, error) {
	field := floodRoutes[route]
	if field == "" {
		b, err := json.Marshal(map[string]string{"imageBase64": base64.StdEncoding.EncodeToString(file)})
		return b, "application/json", err
	}
	return multipartBody(field, "big.png", file)
}

// upload posts body once and returns the outcome's class ("200", "503",
// "error: reset", ...) and, for the first of a class, a detail to print.
func upload(ctx context.Context, client *http.Client, url, key, ctype string, body []byte) (string, string) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return "error: request", err.Error()
	}
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Content-Type", ctype)
	resp, err := client.Do(req)
	if err != nil {
		return errorClass(err), err.Error()
	}
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	detail := string(b)
	if ra := resp.Header.Get("Retry-After"); ra != "" {
		detail = "Retry-After " + ra + " " + detail
	}
	return strconv.Itoa(resp.StatusCode), detail
}

func errorClass(err error) string {
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return "error: timeout"
	case errors.Is(err, syscall.ECONNRESET):
		return "error: reset"
	case errors.Is(err, syscall.EPIPE):
		return "error: broken pipe"
	case errors.Is(err, syscall.ECONNREFUSED):
		return "error: refused"
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "error: eof"
	}
	return "error: other"
}
