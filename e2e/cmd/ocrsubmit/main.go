// Command ocrsubmit is how a service inside the network gets text out of an
// image or PDF without HTTP: it publishes one contracts.OCRJob to
// ocr.v1.jobs and prints the contracts.OCRResult that arrives on
// ocr.v1.results.<jobId>. It is the runnable example of the README's
// "Internal producers" section; read it as such.
//
//	go run ./e2e/cmd/ocrsubmit -producer billing-batch scan.pdf
package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/ocrstack/ocrstack/contracts"
)

func main() {
	if err := run(context.Background(), os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "ocrsubmit:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("ocrsubmit", flag.ContinueOnError)
	url := fs.String("url", nats.DefaultURL, "NATS URL")
	producer := fs.String("producer", "", "who submits the job: usage is recorded under this name (required)")
	langs := fs.String("lang", "", "Tesseract languages joined with +, such as eng+spa; empty for the workers' default")
	wait := fs.Duration("wait", 2*time.Minute, "how long to wait for the result")
	inbox := fs.String("inbox", contracts.ProducerInboxPrefix, "reply inbox prefix: the one nats.conf lets this NATS user subscribe to")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *producer == "" || fs.NArg() != 1 {
		return errors.New("usage: ocrsubmit -producer NAME [-url nats://...] [-lang eng+spa] FILE")
	}
	img, err := os.ReadFile(fs.Arg(0))
	if err != nil {
		return err
	}
	// Replies (JetStream API answers, the object store's chunks) come to
	// a private inbox: nats.conf's producer user may subscribe to
	// _INBOX_producer.> only, not to the services' inboxes.
	nc, err := nats.Connect(*url, nats.Name(*producer), nats.CustomInboxPrefix(*inbox))
	if err != nil {
		return err
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, *wait)
	defer cancel()

	id := make([]byte, 12)
	_, _ = rand.Read(id)
	job := contracts.OCRJob{JobID: "job_" + hex.EncodeToString(id), Producer: *producer, SubmittedAt: time.Now().UnixMilli()}
	if *langs != "" {
		job.Languages = strings.Split(*langs, "+")
	}
	// 1. Subscribe to the result before publishing, so it cannot be missed.
	results, err := nc.SubscribeSync(contracts.ResultSubject(job.JobID))
	if err != nil {
		return err
	}
	// 2. Small images ride in the job; larger ones go to the object store
	// (NATS messages are at most 1 MiB) and the job names them.
	if len(img) <= contracts.InlineImageMax {
		job.Image = img
	} else {
		store, err := js.ObjectStore(ctx, contracts.ImagesBucket)
		if err != nil {
			return fmt.Errorf("image store (is a worker running?): %w", err)
		}
		if _, err := store.Put(ctx, jetstream.ObjectMeta{Name: job.JobID}, bytes.NewReader(img)); err != nil {
			return err
		}
		job.ImageRef = job.JobID
	}
	// 3. Publish with Nats-Msg-Id = job id: a retried publish is queued once.
	data, err := json.Marshal(job)
	if err != nil {
		return err
	}
	msg := nats.NewMsg(contracts.SubjectJobs)
	msg.Data = data
	msg.Header.Set(contracts.HeaderMsgID, job.JobID)
	if _, err := js.PublishMsg(ctx, msg); err != nil {
		return fmt.Errorf("publish job: %w", err)
	}
	// 4. Wait for the result. It also stays on stream OCR_RESULTS for 24 h,
	// so a producer that restarted can read it there by subject.
	m, err := results.NextMsgWithContext(ctx)
	if err != nil {
		return fmt.Errorf("wait for the result of %s: %w", job.JobID, err)
	}
	var res contracts.OCRResult
	if err := json.Unmarshal(m.Data, &res); err != nil {
		return fmt.Errorf("decode result: %w", err)
	}
	out, _ := json.MarshalIndent(res, "", "  ")
	fmt.Fprintln(stdout, string(out))
	if res.Status != contracts.JobSucceeded {
		return fmt.Errorf("job %s failed: %s", job.JobID, res.Error)
	}
	return nil
}
