package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/ocrstack/ocrstack/contracts"
	"github.com/ocrstack/ocrstack/ocr-worker/internal/config"
	"github.com/ocrstack/ocrstack/ocr-worker/internal/streams"
	"github.com/ocrstack/ocrstack/ocr-worker/internal/testimage"
	"github.com/ocrstack/ocrstack/ops"
)

// workerPackage is built when -worker is not given.
const workerPackage = "github.com/ocrstack/ocrstack/ocr-worker"

const (
	// backlog bounds the jobs published but not answered. Each worker slot
	// takes one job at a time, so a longer queue would only grow the
	// server's store (in this process), not the worker's memory.
	backlog = 64
	// readyTimeout bounds the worker's start: every engine loads its models.
	readyTimeout = time.Minute
	// stopTimeout is above the worker's own 30 s bound on finishing jobs.
	stopTimeout = 45 * time.Second
)

// options are what the flags set.
type options struct {
	worker      string
	jobs        int
	concurrency int
	// checkpoints are sorted job counts below jobs.
	checkpoints []int
}

func parse(args []string) (options, error) {
	var c options
	fs := flag.NewFlagSet("ocrload", flag.ContinueOnError)
	fs.StringVar(&c.worker, "worker", "", "worker binary; empty builds "+workerPackage+" into a temporary directory")
	fs.IntVar(&c.jobs, "jobs", 5000, "jobs to run, at least 1")
	fs.IntVar(&c.concurrency, "concurrency", runtime.NumCPU(), "the worker's "+config.EnvConcurrency)
	checkpoints := fs.String("checkpoints", "500", "comma-separated job counts after which to sample RSS; those not below -jobs are ignored (the end is always sampled)")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	var errs []error
	if fs.NArg() > 0 {
		errs = append(errs, fmt.Errorf("unexpected arguments %q", fs.Args()))
	}
	if c.jobs < 1 {
		errs = append(errs, errors.New("-jobs must be at least 1"))
	}
	if c.concurrency < 1 || c.concurrency > config.MaxConcurrency {
		errs = append(errs, fmt.Errorf("-concurrency must be between 1 and %d", config.MaxConcurrency))
	}
	for s := range strings.SplitSeq(*checkpoints, ",") {
		if s = strings.TrimSpace(s); s == "" {
			continue
		}
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			errs = append(errs, fmt.Errorf("-checkpoints: %q is not a positive job count", s))
			continue
		}
		if n < c.jobs {
			c.checkpoints = append(c.checkpoints, n)
		}
	}
	slices.Sort(c.checkpoints)
	c.checkpoints = slices.Compact(c.checkpoints)
	return c, errors.Join(errs...)
}

// sample is the worker's RSS after some jobs.
type sample struct {
	jobs int
	kib  int64
}

func run(ctx context.Context, args []string, stdout io.Writer) error {
	cfg, err := parse(args)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	dir, err := os.MkdirTemp("", "ocrload")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	bin := cfg.worker
	if bin == "" {
		bin = filepath.Join(dir, "ocr-worker")
		fmt.Fprintf(stdout, "building %s\n", workerPackage)
		if out, err := exec.CommandContext(ctx, "go", "build", "-o", bin, workerPackage).CombinedOutput(); err != nil {
			return fmt.Errorf("build worker: %w\n%s", err, out)
		}
	}
	page, err := testimage.Page()
	if err != nil {
		return err
	}

	srv, err := server.NewServer(&server.Options{
		Host: "127.0.0.1", Port: -1, JetStream: true, StoreDir: filepath.Join(dir, "nats"), NoLog: true, NoSigs: true,
	})
	if err != nil {
		return err
	}
	srv.Start()
	defer srv.Shutdown()
	if !srv.ReadyForConnections(10 * time.Second) {
		return errors.New("embedded server did not start")
	}
	nc, err := nats.Connect(srv.ClientURL(), nats.Name("ocrload"))
	if err != nil {
		return err
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return err
	}
	// The worker creates the same streams at start; creating them here too
	// lets jobs be published whatever the order.
	cons, _, err := streams.Ensure(ctx, js, config.DefaultAckWait)
	if err != nil {
		return err
	}
	type outcome struct {
		jobID string
		err   error
	}
	results := make(chan outcome)
	sub, err := nc.Subscribe(contracts.SubjectResultsAll, func(m *nats.Msg) {
		o := outcome{jobID: strings.TrimPrefix(m.Subject, contracts.SubjectResultsPrefix)}
		var res contracts.OCRResult
		if o.err = json.Unmarshal(m.Data, &res); o.err == nil && res.Status != contracts.JobSucceeded {
			o.err = fmt.Errorf("job %s %s: %+v", o.jobID, res.Status, res.Error)
		}
		select {
		case results <- o:
		case <-ctx.Done():
		}
	})
	if err != nil {
		return err
	}
	defer sub.Unsubscribe()
	if err := nc.Flush(); err != nil {
		return err
	}

	child := exec.Command(bin)
	child.Env = append(os.Environ(),
		config.EnvNATSURL+"="+srv.ClientURL(),
		config.EnvConcurrency+"="+strconv.Itoa(cfg.concurrency),
		config.EnvLogLevel+"=warn", // one info line per job would drown real problems
		ops.EnvAddr+"=127.0.0.1:0", // never collide with a worker running here
	)
	child.Stdout, child.Stderr = os.Stderr, os.Stderr
	if err := child.Start(); err != nil {
		return fmt.Errorf("start worker: %w", err)
	}
	// The worker re-executes itself to set OMP_THREAD_LIMIT, keeping its
	// pid, so the pid is the process to measure throughout.
	pid := child.Process.Pid
	exited := make(chan struct{})
	var waitErr error
	go func() {
		waitErr = child.Wait()
		close(exited)
	}()
	exitedEarly := func() error {
		if waitErr == nil {
			return errors.New("worker exited early")
		}
		return fmt.Errorf("worker exited early: %w", waitErr)
	}
	// stop shuts the worker down as an orchestrator would and returns how it
	// exited; calling it again returns the same.
	stop := func() error {
		if err := child.Process.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
			return err
		}
		select {
		case <-exited:
			return waitErr
		case <-time.After(stopTimeout):
			_ = child.Process.Kill()
			<-exited
			return fmt.Errorf("worker still running %v after SIGTERM; killed", stopTimeout)
		}
	}
	defer stop()

	// Every slot asks the server for a job once its engine has loaded.
	deadline := time.After(readyTimeout)
	for {
		info, err := cons.Info(ctx)
		if err != nil {
			return err
		}
		if info.NumWaiting >= cfg.concurrency {
			break
		}
		select {
		case <-exited:
			return exitedEarly()
		case <-ctx.Done():
			return ctx.Err()
		case <-deadline:
			return fmt.Errorf("%d of %d worker slots pulling after %v", info.NumWaiting, cfg.concurrency, readyTimeout)
		case <-time.After(50 * time.Millisecond):
		}
	}
	idle, err := rssKiB(pid)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "worker %s: concurrency %d, %d jobs of a %d-byte PNG page\n", bin, cfg.concurrency, cfg.jobs, len(page))
	fmt.Fprintf(stdout, "rss with engines loaded: %.1f MiB\n", mib(idle))

	start := time.Now()
	free := make(chan struct{}, backlog)
	publishErr := make(chan error, 1)
	go func() {
		for i := range cfg.jobs {
			select {
			case free <- struct{}{}:
			case <-ctx.Done():
				return
			}
			data, err := json.Marshal(contracts.OCRJob{JobID: fmt.Sprintf("load_%d", i), Producer: "ocrload", Image: page})
			if err == nil {
				_, err = js.Publish(ctx, contracts.SubjectJobs, data)
			}
			if err != nil {
				publishErr <- fmt.Errorf("publish job %d: %w", i, err)
				return
			}
		}
	}()

	// Growth is measured from the first checkpoint, past the allocator's
	// warm-up, or from the start without one.
	base := sample{0, idle}
	answered := make(map[string]bool, cfg.jobs)
	for len(answered) < cfg.jobs {
		select {
		case o := <-results:
			if o.err != nil {
				return o.err
			}
			if answered[o.jobID] {
				continue // a redelivered job answered twice
			}
			answered[o.jobID] = true
			<-free
			if n := len(answered); slices.Contains(cfg.checkpoints, n) {
				kib, err := rssKiB(pid)
				if err != nil {
					return err
				}
				if n == cfg.checkpoints[0] {
					base = sample{n, kib}
				}
				fmt.Fprintf(stdout, "rss after %d jobs: %.1f MiB\n", n, mib(kib))
			}
		case err := <-publishErr:
			return err
		case <-exited:
			return exitedEarly()
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	elapsed := time.Since(start)
	end, err := rssKiB(pid)
	if err != nil {
		return err
	}
	if err := stop(); err != nil {
		return fmt.Errorf("worker did not stop cleanly: %w", err)
	}

	fmt.Fprintf(stdout, "rss after %d jobs: %.1f MiB; growth %+.1f%% since %d jobs (%.2f KiB per job)\n",
		cfg.jobs, mib(end), 100*float64(end-base.kib)/float64(base.kib), base.jobs,
		float64(end-base.kib)/float64(cfg.jobs-base.jobs))
	fmt.Fprintf(stdout, "throughput: %.2f images/s (%d jobs in %v)\n",
		float64(cfg.jobs)/elapsed.Seconds(), cfg.jobs, elapsed.Round(time.Millisecond))
	return nil
}

// rssKiB returns the resident set size of process pid in KiB (Linux).
func rssKiB(pid int) (int64, error) {
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for line := range strings.Lines(string(status)) {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			if f := strings.Fields(v); len(f) == 2 && f[1] == "kB" {
				return strconv.ParseInt(f[0], 10, 64)
			}
		}
	}
	return 0, fmt.Errorf("no VmRSS in /proc/%d/status", pid)
}

func mib(kib int64) float64 { return float64(kib) / 1024 }
