package main

import (
	"errors"
	"flag"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// faultNames are the fault phases, in the order they run. Every run starts
// with a baseline phase without a fault.
var faultNames = []string{
	"kill-worker", "kill-keyservice", "restart-nats", "clickhouse-outage",
	"sigterm-keyservice", "sigterm-ocr-worker", "sigterm-analytics", "sigterm-ingress",
}

// options are what the flags set.
type options struct {
	bin        string
	natsServer string
	// chScript is deploy/scripts/clickhouse.sh; empty finds it above the
	// working directory.
	chScript string
	// phase is the least time each phase runs with load, fault included.
	phase    time.Duration
	chOutage time.Duration
	// settle bounds the wait, after the load, for results and events.
	settle time.Duration
	// timeout bounds the whole run, beyond -soak.
	timeout time.Duration
	faults  []string
	// Load: jobs and verifications per second on the main key, polls per
	// second, and the small budget key's attempts per second.
	clients    int
	jobRate    float64
	verifyRate float64
	pollRate   float64
	hammerRate float64
	budget     int64
	// soak, when positive, replaces the faults by mixed load this long.
	soak   time.Duration
	sample time.Duration
	keep   bool
}

func parse(args []string) (options, error) {
	var o options
	fs := flag.NewFlagSet("chaos", flag.ContinueOnError)
	fs.StringVar(&o.bin, "bin", ".bin", "directory holding the built keyservice, ocr-worker, analytics and ingress (make build's .bin)")
	fs.StringVar(&o.natsServer, "nats-server", "", "nats-server binary; default <bin>/nats-server")
	fs.StringVar(&o.chScript, "clickhouse-script", "", "deploy/scripts/clickhouse.sh; default found above the working directory")
	fs.DurationVar(&o.phase, "phase", 12*time.Second, "least time each phase runs with load, its fault included")
	fs.DurationVar(&o.chOutage, "clickhouse-outage", 60*time.Second, "how long ClickHouse stays stopped")
	fs.DurationVar(&o.settle, "settle", 3*time.Minute, "bound on the wait, after the load, for every job's result and every event to be stored")
	fs.DurationVar(&o.timeout, "timeout", 15*time.Minute, "bound on the whole run (a soak's -soak is added to it)")
	faults := fs.String("faults", strings.Join(faultNames, ","), "fault phases to run, comma-separated, in the default order; \"none\" for the baseline only")
	fs.IntVar(&o.clients, "clients", 3, "concurrent job clients on the main key")
	fs.Float64Var(&o.jobRate, "job-rate", 5, "jobs per second submitted on the main key, across the job clients")
	fs.Float64Var(&o.verifyRate, "verify-rate", 20, "keys.verifyKey calls per second on the main key")
	fs.Float64Var(&o.pollRate, "poll-rate", 4, "GET /v1/jobs/{id} per second of accepted jobs")
	fs.Float64Var(&o.hammerRate, "hammer-rate", 12, "attempts per second (3 verifications to 1 job) on the phase's budget key")
	fs.Int64Var(&o.budget, "budget", 50, "credits of each phase's budget key")
	fs.DurationVar(&o.soak, "soak", 0, "run this long with mixed load and no fault, sampling RSS (e.g. 30m)")
	fs.DurationVar(&o.sample, "sample", 10*time.Second, "soak: how often every process's RSS is read")
	fs.BoolVar(&o.keep, "keep", false, "keep the logs and stores in the work directory even when the run passes")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	var errs []error
	if fs.NArg() > 0 {
		errs = append(errs, fmt.Errorf("unexpected arguments %q", fs.Args()))
	}
	if o.natsServer == "" {
		o.natsServer = filepath.Join(o.bin, "nats-server")
	}
	if *faults != "none" {
		for f := range strings.SplitSeq(*faults, ",") {
			f = strings.TrimSpace(f)
			if !slices.Contains(faultNames, f) {
				errs = append(errs, fmt.Errorf("-faults: unknown fault %q; want some of %s", f, strings.Join(faultNames, ",")))
				continue
			}
			if !slices.Contains(o.faults, f) {
				o.faults = append(o.faults, f)
			}
		}
		// Faults run in the documented order whatever the flag's order.
		slices.SortFunc(o.faults, func(a, b string) int { return slices.Index(faultNames, a) - slices.Index(faultNames, b) })
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"-phase", o.phase}, {"-clickhouse-outage", o.chOutage}, {"-settle", o.settle}, {"-sample", o.sample}, {"-timeout", o.timeout}} {
		if d.v <= 0 {
			errs = append(errs, fmt.Errorf("%s must be positive", d.name))
		}
	}
	for _, r := range []struct {
		name string
		v    float64
	}{{"-job-rate", o.jobRate}, {"-verify-rate", o.verifyRate}, {"-poll-rate", o.pollRate}, {"-hammer-rate", o.hammerRate}} {
		if r.v <= 0 || r.v > 1000 {
			errs = append(errs, fmt.Errorf("%s %g: want more than 0, at most 1000", r.name, r.v))
		}
	}
	if o.clients < 1 {
		errs = append(errs, errors.New("-clients must be at least 1"))
	}
	if o.budget < 1 {
		errs = append(errs, errors.New("-budget must be at least 1"))
	}
	if o.soak < 0 {
		errs = append(errs, errors.New("-soak must not be negative"))
	}
	return o, errors.Join(errs...)
}
