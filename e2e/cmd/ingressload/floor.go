package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/ocrstack/ocrstack/e2e/internal/textimage"
)

// The floor phase measures, with bare clients and none of the services'
// code, the hops any OCR request of this design must make one after the
// other, on this machine and this stack's nats-server:
//
//   - HTTP: the measured upload's body posted to the ingress and refused
//     at once (401, no key), the client's round trip;
//   - echo: a NATS request and its reply from another process, the shape
//     of the key verification;
//   - kv write: a compare-and-set on a file-backed JetStream key-value
//     entry, what keyservice must store before it admits a request (the
//     credits it spends);
//   - job and result: a job-sized message published to a file-backed
//     work-queue stream, taken by a pull consumer in another process,
//     which answers on core NATS as a worker's result reaches the ingress.
//
// Their sum is a floor under what the ingress, keyservice, NATS and the
// worker can add to recognition on this machine: the overhead phase's
// figure can come close to it, never under it.

// floorHelperEnv, set to a NATS URL, makes this program the floor phase's
// other process: the echo responder and the consumer of the job stream.
const floorHelperEnv = "INGRESSLOAD_FLOOR_HELPER"

const (
	floorEcho    = "floor.echo"
	floorJobs    = "floor.jobs"
	floorDone    = "floor.done"
	floorStream  = "FLOOR_JOBS"
	floorBucket  = "floor_kv"
	floorSamples = 100
)

// floorHelper serves the floor phase until its stdin closes.
func floorHelper(url string) error {
	nc, err := nats.Connect(url, nats.Name("ingressload-floor"))
	if err != nil {
		return err
	}
	defer nc.Close()
	if _, err := nc.Subscribe(floorEcho, func(m *nats.Msg) { _ = m.Respond(m.Data) }); err != nil {
		return err
	}
	js, err := jetstream.New(nc)
	if err != nil {
		return err
	}
	ctx := context.Background()
	cons, err := js.CreateOrUpdateConsumer(ctx, floorStream, jetstream.ConsumerConfig{Durable: "floor", AckPolicy: jetstream.AckExplicitPolicy})
	if err != nil {
		return err
	}
	// One message at a time, as a worker's slot pulls.
	it, err := cons.Messages(jetstream.PullMaxMessages(1))
	if err != nil {
		return err
	}
	defer it.Stop()
	go func() {
		for {
			m, err := it.Next()
			if err != nil {
				return
			}
			_ = nc.Publish(floorDone, []byte(m.Headers().Get("Floor-Id")))
			_ = m.Ack()
		}
	}()
	if err := nc.Flush(); err != nil {
		return err
	}
	fmt.Println("ready")
	_, _ = io.Copy(io.Discard, os.Stdin)
	return nil
}

// floor runs the floor phase against the stack's ingress and nats-server:
// each hop with the stack idle, its samples 2 ms apart and 50 ms apart (a
// process asleep for longer takes longer to wake), then beside clients
// uploading as the overhead phase does (post is one of their uploads).
func floor(ctx context.Context, s *stack, clients int, post func() (measured, error), stdout io.Writer) error {
	page, err := textimage.PagePNG(640, 480, pageLines, 28)
	if err != nil {
		return err
	}
	body, ctype, err := multipartBody("sampleFile", "page.png", page)
	if err != nil {
		return err
	}
	// The job as the ingress publishes it carries the image in base64.
	job := bytes.Repeat([]byte("A"), len(page)*4/3+200)

	if _, err := s.js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{Name: floorStream, Subjects: []string{floorJobs},
		Retention: jetstream.WorkQueuePolicy, Storage: jetstream.FileStorage}); err != nil {
		return err
	}
	defer func() { _ = s.js.DeleteStream(context.WithoutCancel(ctx), floorStream) }()
	kv, err := s.js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: floorBucket, History: 1, Storage: jetstream.FileStorage})
	if err != nil {
		return err
	}
	defer func() { _ = s.js.DeleteKeyValue(context.WithoutCancel(ctx), floorBucket) }()

	helper := exec.CommandContext(ctx, os.Args[0])
	helper.Env = append(os.Environ(), floorHelperEnv+"="+s.nc.ConnectedUrl())
	stdin, err := helper.StdinPipe()
	if err != nil {
		return err
	}
	out, err := helper.StdoutPipe()
	if err != nil {
		return err
	}
	helper.Stderr = os.Stderr
	if err := helper.Start(); err != nil {
		return err
	}
	defer func() {
		_ = stdin.Close()
		_ = helper.Wait()
	}()
	ready := make([]byte, len("ready\n"))
	if _, err := io.ReadFull(out, ready); err != nil || string(ready) != "ready\n" {
		return fmt.Errorf("floor helper did not start: %q %v", ready, err)
	}

	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 4, DisableCompression: true}, Timeout: time.Minute}
	defer client.CloseIdleConnections()
	httpRT := func() error {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.url+"/upload", bytes.NewReader(body))
		if err != nil {
			return err
		}
		req.Header.Set("Content-Type", ctype)
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			return fmt.Errorf("POST /upload without a key: %d, want 401", resp.StatusCode)
		}
		return nil
	}
	verify := bytes.Repeat([]byte("v"), 200)
	echo := func() error {
		_, err := s.nc.Request(floorEcho, verify, 5*time.Second)
		return err
	}
	rev, err := kv.Put(ctx, "doc", verify)
	if err != nil {
		return err
	}
	kvWrite := func() (err error) {
		rev, err = kv.Update(ctx, "doc", verify, rev)
		return err
	}
	done, err := s.nc.SubscribeSync(floorDone)
	if err != nil {
		return err
	}
	defer func() { _ = done.Unsubscribe() }()
	var n int
	jobRT := func() error {
		n++
		id := strconv.Itoa(n)
		m := nats.NewMsg(floorJobs)
		m.Data = job
		m.Header.Set("Floor-Id", id)
		ack, err := s.js.PublishMsgAsync(m)
		if err != nil {
			return err
		}
		got, err := done.NextMsg(5 * time.Second)
		if err != nil {
			return err
		}
		if string(got.Data) != id {
			return fmt.Errorf("floor job %s: done %q", id, got.Data)
		}
		select {
		case <-ack.Ok():
			return nil
		case err := <-ack.Err():
			return err
		case <-time.After(5 * time.Second):
			return errors.New("floor job: no acknowledgement")
		}
	}

	hops := []struct {
		name string
		op   func() error
	}{
		{"HTTP: the upload, refused at once (401)", httpRT},
		{"NATS request/reply to another process", echo},
		{"JetStream key-value compare-and-set", kvWrite},
		{"job published, pulled by another process, its answer back", jobRT},
	}
	// measure samples each hop floorSamples times, gap apart.
	measure := func(gap time.Duration) ([][]time.Duration, error) {
		out := make([][]time.Duration, len(hops))
		for h, hop := range hops {
			for i := range floorSamples + 20 {
				start := time.Now()
				if err := hop.op(); err != nil {
					return nil, fmt.Errorf("floor, %s: %w", hop.name, err)
				}
				if i >= 20 { // warm-up
					out[h] = append(out[h], time.Since(start))
				}
				time.Sleep(gap)
			}
		}
		return out, nil
	}
	type condition struct {
		name string
		ds   [][]time.Duration
	}
	var conds []condition
	for _, gap := range []time.Duration{2 * time.Millisecond, 50 * time.Millisecond} {
		ds, err := measure(gap)
		if err != nil {
			return err
		}
		conds = append(conds, condition{fmt.Sprintf("idle, %s apart", gap), ds})
	}
	// Beside the overhead phase's load: o.clients clients uploading, so
	// the CPUs are as busy with recognition as when it measures.
	loadCtx, stopLoad := context.WithCancel(ctx)
	loadErr := make(chan error, clients)
	for range clients {
		go func() {
			for loadCtx.Err() == nil {
				if _, err := post(); err != nil && loadCtx.Err() == nil {
					loadErr <- err
					return
				}
			}
			loadErr <- nil
		}()
	}
	time.Sleep(time.Second) // the recognitions under way
	ds, err := measure(2 * time.Millisecond)
	stopLoad()
	for range clients {
		err = errors.Join(err, <-loadErr)
	}
	if err != nil {
		return err
	}
	conds = append(conds, condition{fmt.Sprintf("beside %d clients' recognitions, 2ms apart", clients), ds})

	fmt.Fprintf(stdout, "\nfloor: the hops a request makes one after the other, with bare clients (ms, p50 / p99, %d each)\n", floorSamples)
	fmt.Fprintf(stdout, "%-60s", "")
	for _, c := range conds {
		fmt.Fprintf(stdout, " %-22s", c.name)
	}
	fmt.Fprintln(stdout)
	sums := make([]time.Duration, len(conds))
	for h, hop := range hops {
		fmt.Fprintf(stdout, "%-60s", hop.name)
		for i, c := range conds {
			fmt.Fprintf(stdout, " %-22s", pcts(c.ds[h]))
			sums[i] += p50(c.ds[h])
		}
		fmt.Fprintln(stdout)
	}
	fmt.Fprintf(stdout, "%-60s", "sum of the p50s: the least the overhead's p50 can be")
	for _, sum := range sums {
		fmt.Fprintf(stdout, " %-22.1f", float64(sum)/float64(time.Millisecond))
	}
	fmt.Fprintln(stdout)
	return nil
}

func p50(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return percentile(s, 50)
}
