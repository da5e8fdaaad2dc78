package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// options are what the flags set.
type options struct {
	// bin holds prebuilt service binaries; empty builds them.
	bin string
	// ingress overrides bin's ingress binary, to compare builds.
	ingress    string
	natsServer string
	ingressEnv []string
	slots      int
	clients    int
	requests   int
	warmup     int
	// credits are the key's credits; 0 means none.
	credits int64
	// flood
	floodClients int
	floodBytes   int
	floodFor     time.Duration
	floodKey     string
	// floodRoute is the route flooded, one of floodRoutes.
	floodRoute string
	phases     map[string]bool
}

// envList is a repeatable KEY=VALUE flag.
type envList []string

func (e *envList) String() string { return strings.Join(*e, " ") }

func (e *envList) Set(v string) error {
	if k, _, ok := strings.Cut(v, "="); !ok || k == "" {
		return fmt.Errorf("%q: want KEY=VALUE", v)
	}
	*e = append(*e, v)
	return nil
}

func parse(args []string) (options, error) {
	var o options
	fs := flag.NewFlagSet("ingressload", flag.ContinueOnError)
	fs.StringVar(&o.bin, "bin", "", "directory holding built keyservice, ocr-worker and ingress (make build's .bin); empty builds them")
	fs.StringVar(&o.ingress, "ingress", "", "ingress binary to measure instead of the one in -bin")
	fs.StringVar(&o.natsServer, "nats-server", "", "nats-server binary to run; empty runs NATS inside this process")
	fs.Var((*envList)(&o.ingressEnv), "ingress-env", "KEY=VALUE added to the ingress's environment (repeatable)")
	fs.IntVar(&o.slots, "slots", 0, "the worker's OCR_WORKER_CONCURRENCY; 0 is as many as -clients, so no job waits for a slot")
	fs.IntVar(&o.clients, "clients", 4, "overhead: concurrent clients (with -slots below it, a second run uses -slots clients, so no request queues behind another)")
	fs.IntVar(&o.requests, "requests", 200, "overhead: requests per run")
	fs.Int64Var(&o.credits, "credits", 1_000_000_000, "the API key's credits, spent one per request as a user's are; 0 makes a key without credits, whose verification writes nothing")
	fs.IntVar(&o.warmup, "warmup", 10, "overhead: requests before the first run, not counted")
	fs.IntVar(&o.floodClients, "flood-clients", 32, "flood: concurrent clients")
	fs.IntVar(&o.floodBytes, "flood-bytes", 20_000_000, "flood: bytes of each uploaded file")
	fs.DurationVar(&o.floodFor, "flood-for", 20*time.Second, "flood: how long clients start new uploads")
	fs.StringVar(&o.floodKey, "flood-key", "valid", "flood: the API key sent, valid or invalid (then each upload is read in full and refused with 401)")
	fs.StringVar(&o.floodRoute, "flood-route", "/upload", "flood: the route posted to: /upload, /api/v1/ocr or /v1/ocr (a multipart file part), "+
		"/uploadBase64 (the file in base64 JSON), or /signup (the multipart body, to a route that reads it whole and refuses it with 400)")
	phases := fs.String("phases", "floor,overhead,flood", "phases to run, comma-separated")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	var errs []error
	if fs.NArg() > 0 {
		errs = append(errs, fmt.Errorf("unexpected arguments %q", fs.Args()))
	}
	o.phases = map[string]bool{}
	for p := range strings.SplitSeq(*phases, ",") {
		switch p = strings.TrimSpace(p); p {
		case "floor", "overhead", "flood":
			o.phases[p] = true
		default:
			errs = append(errs, fmt.Errorf("-phases: unknown phase %q", p))
		}
	}
	for _, c := range []struct {
		name string
		v    int
		min  int
	}{{"-slots", o.slots, 0}, {"-clients", o.clients, 1}, {"-requests", o.requests, 1}, {"-warmup", o.warmup, 0},
		{"-flood-clients", o.floodClients, 1}, {"-flood-bytes", o.floodBytes, 1024}} {
		if c.v < c.min {
			errs = append(errs, fmt.Errorf("%s must be at least %d", c.name, c.min))
		}
	}
	if o.slots == 0 {
		o.slots = o.clients
	}
	if o.floodFor <= 0 {
		errs = append(errs, errors.New("-flood-for must be positive"))
	}
	if _, ok := floodRoutes[o.floodRoute]; !ok {
		errs = append(errs, fmt.Errorf("-flood-route %q: want /upload, /api/v1/ocr, /v1/ocr, /uploadBase64 or /signup", o.floodRoute))
	}
	if o.floodKey != "valid" && o.floodKey != "invalid" {
		errs = append(errs, fmt.Errorf("-flood-key %q: want valid or invalid", o.floodKey))
	}
	return o, errors.Join(errs...)
}

func run(ctx context.Context, args []string, stdout io.Writer) error {
	o, err := parse(args)
	if err != nil {
		return err
	}
	bin, cleanup, err := binaries(ctx, o, stdout)
	if err != nil {
		return err
	}
	defer cleanup()
	fmt.Fprintf(stdout, "starting nats, keyservice, ocr-worker (%d slots) and ingress (%s)\n", o.slots, bin["ingress"])
	s, err := startStack(ctx, o, bin)
	if err != nil {
		return err
	}
	defer s.stop()
	key, err := s.createKey(ctx, o.credits)
	if err != nil {
		return err
	}
	if o.phases["floor"] {
		_, post, done, err := uploader(ctx, s, key)
		if err != nil {
			return err
		}
		err = floor(ctx, s, o.clients, post, stdout)
		done()
		if err != nil {
			return err
		}
	}
	if o.phases["overhead"] {
		if err := overhead(ctx, s, o, key, stdout); err != nil {
			return err
		}
	}
	if o.phases["flood"] {
		if o.floodKey == "invalid" {
			key = "load_notakey0000000000000000"
		}
		if err := flood(ctx, s, o, key, stdout); err != nil {
			return err
		}
	}
	return s.exited()
}

// binaries returns the path of each service binary, building those not
// given into a temporary directory that cleanup removes.
func binaries(ctx context.Context, o options, stdout io.Writer) (map[string]string, func(), error) {
	bin := map[string]string{}
	cleanup := func() {}
	dir := o.bin
	if dir == "" {
		root, err := repoRoot()
		if err != nil {
			return nil, nil, err
		}
		if dir, err = os.MkdirTemp("", "ingressload-bin-"); err != nil {
			return nil, nil, err
		}
		cleanup = func() { os.RemoveAll(dir) }
		for _, name := range services {
			fmt.Fprintf(stdout, "building %s\n", name)
			cmd := exec.CommandContext(ctx, "go", "build", "-o", filepath.Join(dir, name), "./"+name)
			cmd.Dir = root
			if out, err := cmd.CombinedOutput(); err != nil {
				cleanup()
				return nil, nil, fmt.Errorf("build %s: %w\n%s", name, err, out)
			}
		}
	}
	for _, name := range services {
		bin[name] = filepath.Join(dir, name)
	}
	if o.ingress != "" {
		bin["ingress"] = o.ingress
	}
	return bin, cleanup, nil
}

// repoRoot is the nearest directory upwards holding go.work.
func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.work")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.work above the working directory: run from inside the repository or pass -bin")
		}
		dir = parent
	}
}
