package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/ocrstack/ocrstack/analytics/internal/config"
)

// Targets of issue 7.
const (
	targetInsertRate = 100_000 // events/s
	targetLagP99     = 2 * time.Second
)

type options struct {
	clickhouse   string
	natsServer   string
	bin          string
	phases       []string
	events       int
	rate         int
	lagFor       time.Duration
	poll         time.Duration
	analyticsEnv []string
	keep         bool
	// batchSize and flushInterval are what the analytics binary will use:
	// its defaults overridden by analyticsEnv.
	batchSize     int
	flushInterval time.Duration
}

type envList []string

func (l *envList) String() string { return strings.Join(*l, " ") }
func (l *envList) Set(v string) error {
	if !strings.Contains(v, "=") {
		return fmt.Errorf("want NAME=value, got %q", v)
	}
	*l = append(*l, v)
	return nil
}

func parseOptions(args []string) (options, error) {
	var o options
	var phases string
	var analyticsEnv envList
	fs := flag.NewFlagSet("analyticsload", flag.ContinueOnError)
	fs.StringVar(&o.clickhouse, "clickhouse", "", "host:port of ClickHouse's native protocol; empty starts a private one with "+clickhouseScript)
	fs.StringVar(&o.natsServer, "nats-server", "", "nats-server binary to run; empty runs NATS in process")
	fs.StringVar(&o.bin, "bin", "", "directory holding the analytics binary; empty builds it")
	fs.StringVar(&phases, "phases", "insert,lag", "phases to run, comma-separated: insert, lag")
	fs.IntVar(&o.events, "events", 1_000_000, "insert phase: events to publish and store")
	fs.IntVar(&o.rate, "rate", 10_000, "lag phase: events published per second (a multiple of 100)")
	fs.DurationVar(&o.lagFor, "lag-for", 30*time.Second, "lag phase: how long to publish")
	fs.DurationVar(&o.poll, "poll", 25*time.Millisecond, "lag phase: ClickHouse poll interval")
	fs.Var(&analyticsEnv, "analytics-env", "NAME=value for the analytics process (repeatable), e.g. OCR_ANALYTICS_BATCH_SIZE=5000")
	fs.BoolVar(&o.keep, "keep", false, "keep the load databases instead of dropping them")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	o.analyticsEnv = analyticsEnv
	for p := range strings.SplitSeq(phases, ",") {
		switch p = strings.TrimSpace(p); p {
		case "insert", "lag":
			o.phases = append(o.phases, p)
		case "":
		default:
			return o, fmt.Errorf("unknown phase %q", p)
		}
	}
	if o.events < 2 || o.rate < 100 || o.rate%100 != 0 || o.lagFor < time.Second || o.poll <= 0 {
		return o, errors.New("want -events >= 2, -rate a multiple of 100, -lag-for >= 1s, -poll > 0")
	}
	cfg, err := config.Load(func(name string) string {
		for _, kv := range o.analyticsEnv {
			if k, v, _ := strings.Cut(kv, "="); k == name {
				return v
			}
		}
		return os.Getenv(name)
	})
	if err != nil {
		return o, fmt.Errorf("analytics configuration: %w", err)
	}
	o.batchSize, o.flushInterval = cfg.BatchSize, cfg.FlushInterval
	return o, nil
}

func run(ctx context.Context, args []string, stdout io.Writer) error {
	o, err := parseOptions(args)
	if err != nil {
		return err
	}
	e, err := startEnv(ctx, o)
	if err != nil {
		return err
	}
	defer e.close()
	runID := time.Now().Unix()
	version, err := e.clickhouseVersion(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "analytics under load: ClickHouse %s at %s, %s, batch size %d, flush interval %s, %s\n\n",
		version, e.chAddr, e.natsKind(), o.batchSize, o.flushInterval, loadAverage())

	for _, phase := range o.phases {
		switch phase {
		case "insert":
			r, err := insertPhase(ctx, e, runID)
			if err != nil {
				return fmt.Errorf("insert phase: %w", err)
			}
			r.print(stdout, o)
		case "lag":
			r, err := lagPhase(ctx, e, runID)
			if err != nil {
				return fmt.Errorf("lag phase: %w", err)
			}
			r.print(stdout, o)
		}
		fmt.Fprintln(stdout)
	}
	return nil
}

func newTable(w io.Writer) *tabwriter.Writer {
	return tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
}

// rate formats events per second with thousands separators.
func rate(n int, d time.Duration) string {
	return group(int64(float64(n) / d.Seconds()))
}

func group(n int64) string {
	s := fmt.Sprint(n)
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}

func verdict(ok bool) string {
	if ok {
		return "met"
	}
	return "NOT met"
}

// loadAverage is /proc/loadavg's first three fields, to tell a reader how
// busy the machine was.
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "load average unknown"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "load average unknown"
	}
	return "load average " + strings.Join(f[:3], " ")
}
