package worker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/ocrstack/ocrstack/contracts"
	"github.com/ocrstack/ocrstack/ocr-worker/internal/cer"
	"github.com/ocrstack/ocrstack/ocr-worker/internal/config"
	"github.com/ocrstack/ocrstack/ocr-worker/internal/natstest"
	"github.com/ocrstack/ocrstack/ocr-worker/internal/ocr"
	"github.com/ocrstack/ocrstack/ocr-worker/internal/ompenv"
	"github.com/ocrstack/ocrstack/ocr-worker/internal/streams"
	"github.com/ocrstack/ocrstack/ocr-worker/internal/testimage"
	"github.com/otiai10/gosseract/v2"
)

// benchLangs are the worker's default languages, used by every
// sub-benchmark so they all do the same recognition.
var benchLangs = []string{"eng", "spa"}

// pooledRate is the images/s of the latest "pooled" sub-benchmark, kept so
// that "worker" can report its ratio to it; 0 when pooled has not run (it
// was filtered out with -bench). With -count, each sub-benchmark repeats
// before the next starts, so every worker run is compared with the last
// pooled one: repeat the whole command instead for interleaved runs.
var pooledRate, gosseractRate float64

// BenchmarkThroughput compares, on one page of text, the worker with the
// limit it could reach in process (one engine per CPU, recognising in a
// loop: "pooled"), with the same loop of gosseract clients, the wrapper
// the worker's engine replaced ("gosseract"), and with the tesseract
// program run once per image ("cli"). Only ratios
// within one run mean anything, and on a shared machine images/s varies
// from run to run far more than cpu-ms/image does.
//
//	go test -run '^$' -bench BenchmarkThroughput -benchtime 40x ./internal/worker/
func BenchmarkThroughput(b *testing.B) {
	page := benchPage(b)
	slots := runtime.NumCPU()
	b.Run("gosseract", func(b *testing.B) { gosseractRate = benchGosseract(b, page, slots) })
	b.Run("pooled", func(b *testing.B) { pooledRate = benchPooled(b, page, slots) })
	b.Run("worker", func(b *testing.B) {
		rate := benchWorker(b, page, slots)
		if pooledRate > 0 {
			b.ReportMetric(rate/pooledRate, "x-pooled")
		}
		if gosseractRate > 0 {
			b.ReportMetric(rate/gosseractRate, "x-gosseract")
		}
	})
	b.Run("cli", func(b *testing.B) { benchCLI(b, page, slots) })
}

// benchPage is the phototest-like page: 640x480, eight lines of English.
func benchPage(b *testing.B) []byte {
	page, err := testimage.Page()
	if err != nil {
		b.Fatal(err)
	}
	return page
}

// checkText catches a path that returns quickly because it recognised
// nothing.
func checkText(text string) error {
	if !strings.Contains(cer.Normalize(text), "quick brown dog") {
		return fmt.Errorf("page misread: %q", text)
	}
	return nil
}

// benchPooled recognises the page b.N times with one engine per slot and
// returns images/s.
func benchPooled(b *testing.B, page []byte, slots int) float64 {
	engines := make([]*ocr.Engine, slots)
	for i := range engines {
		e, err := ocr.New(benchLangs)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { _ = e.Close() })
		engines[i] = e
	}
	stop := measure(b, syscall.RUSAGE_SELF)
	spread(b, slots, func(slot int) error {
		text, err := engines[slot].Recognize(page, benchLangs)
		if err != nil {
			return err
		}
		return checkText(text)
	})
	return stop()
}

// benchGosseract is benchPooled with gosseract clients, set up as the
// engine sets Tesseract up (automatic page segmentation, quiet), each
// asked for the text once per image.
func benchGosseract(b *testing.B, page []byte, slots int) float64 {
	clients := make([]*gosseract.Client, slots)
	for i := range clients {
		c := gosseract.NewClient()
		b.Cleanup(func() { _ = c.Close() })
		if err := errors.Join(c.SetLanguage(benchLangs...), c.SetVariable("tessedit_pageseg_mode", "3"), c.DisableOutput()); err != nil {
			b.Fatal(err)
		}
		clients[i] = c
	}
	stop := measure(b, syscall.RUSAGE_SELF)
	spread(b, slots, func(slot int) error {
		if err := clients[slot].SetImageFromBytes(page); err != nil {
			return err
		}
		text, err := clients[slot].Text()
		if err != nil {
			return err
		}
		return checkText(text)
	})
	return stop()
}

// benchWorker runs a worker with one slot per CPU against an in-process
// NATS server, publishes b.N jobs carrying the page and returns images/s,
// timed from the first publish until the last result has arrived. The
// server shares the CPUs, as it would on a one-machine deployment.
func benchWorker(b *testing.B, page []byte, slots int) float64 {
	s := natstest.Start(b)
	nc, js := natstest.Connect(b, s)
	ctx := b.Context()
	cons, images, err := streams.Ensure(ctx, js, config.DefaultAckWait)
	if err != nil {
		b.Fatal(err)
	}
	installed, err := ocr.Installed()
	if err != nil {
		b.Fatal(err)
	}

	var got atomic.Int64
	done := make(chan struct{})
	failed := make(chan error, 1)
	_, err = nc.Subscribe(contracts.SubjectResultsAll, func(m *nats.Msg) {
		var res contracts.OCRResult
		err := json.Unmarshal(m.Data, &res)
		if err == nil && res.Status != contracts.JobSucceeded {
			err = fmt.Errorf("job %s %s: %+v", res.JobID, res.Status, res.Error)
		}
		if err == nil {
			err = checkText(res.Text)
		}
		if err != nil {
			select {
			case failed <- err:
			default:
			}
		}
		if got.Add(1) == int64(b.N) {
			close(done)
		}
	})
	if err != nil {
		b.Fatal(err)
	}
	if err := nc.Flush(); err != nil {
		b.Fatal(err)
	}

	w, err := New(Config{
		JetStream: js, Consumer: cons, Images: images, Concurrency: slots,
		Languages: benchLangs, Installed: installed, Logger: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		b.Fatal(err)
	}
	runCtx, cancel := context.WithCancel(context.Background())
	stopped := make(chan error, 1)
	go func() { stopped <- w.Run(runCtx) }()
	b.Cleanup(func() {
		cancel()
		if err := <-stopped; err != nil {
			b.Error(err)
		}
	})
	// Every slot asks the server for a job once its engine has loaded its
	// models; the clock starts when all of them are waiting.
	for deadline := time.Now().Add(waitFor); ; time.Sleep(10 * time.Millisecond) {
		info, err := cons.Info(ctx)
		if err != nil {
			b.Fatal(err)
		}
		if info.NumWaiting >= slots {
			break
		}
		if time.Now().After(deadline) {
			b.Fatalf("%d of %d slots pulling after %v", info.NumWaiting, slots, waitFor)
		}
	}
	jobs := make([][]byte, b.N)
	for i := range jobs {
		jobs[i], err = json.Marshal(contracts.OCRJob{JobID: fmt.Sprintf("bench_%d", i), Producer: "bench", Image: page})
		if err != nil {
			b.Fatal(err)
		}
	}

	stop := measure(b, syscall.RUSAGE_SELF)
	for _, job := range jobs {
		if _, err := js.Publish(ctx, contracts.SubjectJobs, job); err != nil {
			b.Fatal(err)
		}
	}
	// A page takes well under a second; this only stops a stuck run.
	timeout := time.After(time.Duration(b.N) * 10 * time.Second)
	select {
	case <-done:
	case err := <-failed:
		b.Fatal(err)
	case <-timeout:
		b.Fatalf("%d of %d results after the timeout", got.Load(), b.N)
	}
	rate := stop()
	select {
	case err := <-failed:
		b.Fatal(err)
	default:
	}
	return rate
}

// benchCLI runs the tesseract program on the page b.N times, slots at once,
// each with OMP_THREAD_LIMIT=1 as the worker has.
func benchCLI(b *testing.B, page []byte, slots int) {
	bin, err := exec.LookPath("tesseract")
	if err != nil {
		b.Skipf("tesseract program not found (Debian package tesseract-ocr): %v", err)
	}
	in := filepath.Join(b.TempDir(), "page.png")
	if err := os.WriteFile(in, page, 0o600); err != nil {
		b.Fatal(err)
	}
	env := ompenv.WithLimit(os.Environ())
	stop := measure(b, syscall.RUSAGE_CHILDREN)
	spread(b, slots, func(int) error {
		cmd := exec.Command(bin, in, "stdout", "-l", strings.Join(benchLangs, "+"))
		cmd.Env = env
		out, err := cmd.Output()
		var exitErr *exec.ExitError
		if errors.As(err, &exitErr) {
			return fmt.Errorf("tesseract: %w: %s", err, exitErr.Stderr)
		}
		if err != nil {
			return fmt.Errorf("tesseract: %w", err)
		}
		return checkText(string(out))
	})
	stop()
}

// spread makes b.N calls of do from slots goroutines, each taking the next
// call as soon as its last one returns (as the worker's slots take jobs),
// and fails b on the first error.
func spread(b *testing.B, slots int, do func(slot int) error) {
	var next atomic.Int64
	errs := make([]error, slots)
	var wg sync.WaitGroup
	for slot := range slots {
		wg.Go(func() {
			for next.Add(1) <= int64(b.N) {
				if errs[slot] = do(slot); errs[slot] != nil {
					return
				}
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		b.Fatal(err)
	}
}

// measure resets b's timer and returns a function that stops it, reports
// images/s and the CPU time per image, and returns images/s. CPU time is
// that of this process (who is syscall.RUSAGE_SELF; for the worker it
// includes the NATS server) or of its finished children
// (syscall.RUSAGE_CHILDREN). Unlike images/s it hardly depends on what else
// runs on the machine, so it shows where a difference in throughput comes
// from.
func measure(b *testing.B, who int) (stop func() float64) {
	cpu0 := cpuTime(b, who)
	b.ResetTimer()
	return func() float64 {
		b.StopTimer()
		cpu := cpuTime(b, who) - cpu0
		rate := float64(b.N) / b.Elapsed().Seconds()
		b.ReportMetric(rate, "images/s")
		b.ReportMetric(float64(cpu.Microseconds())/1e3/float64(b.N), "cpu-ms/image")
		return rate
	}
}

// cpuTime returns the user and system CPU time used so far by who.
func cpuTime(b *testing.B, who int) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(who, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
