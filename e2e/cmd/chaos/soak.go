package main

import (
	"context"
	"fmt"
	"io"
	"text/tabwriter"
	"time"
)

// rssTrack is one process's resident memory over a soak, in KiB. Growth
// is judged from warm, the first sample after the warm-up (caches and
// pools filled), not from start.
type rssTrack struct {
	name                   string
	start, warm, peak, end int64
	samples                int
}

// add records a sample; warmedUp says the warm-up is over.
func (t *rssTrack) add(kib int64, warmedUp bool) {
	if t.samples == 0 {
		t.start = kib
	}
	if warmedUp && t.warm == 0 {
		t.warm = kib
	}
	t.samples++
	t.peak = max(t.peak, kib)
	t.end = kib
}

// warmup is how long a soak runs before RSS growth is measured.
func warmup(soak time.Duration) time.Duration { return min(time.Minute, soak/4) }

// soak runs the load, with no fault, for -soak, sampling every process's
// RSS every -sample, and returns the tracks.
func (h *harness) soak(ctx context.Context) ([]rssTrack, error) {
	procs := append([]*proc{h.s.nats}, h.s.procs...)
	tracks := make([]rssTrack, len(procs))
	start := time.Now()
	sample := func() {
		warmedUp := time.Since(start) >= warmup(h.o.soak)
		for i, p := range procs {
			tracks[i].name = p.name
			if kib, err := p.rssKiB(); err == nil {
				tracks[i].add(kib, warmedUp)
			}
		}
	}
	sample()
	end := time.After(h.o.soak)
	tick := time.NewTicker(h.o.sample)
	defer tick.Stop()
	lastSay := time.Now()
	for {
		select {
		case <-ctx.Done():
			return tracks, ctx.Err()
		case <-end:
			sample()
			return tracks, nil
		case <-tick.C:
			sample()
			if len(h.s.crashed()) > 0 {
				return tracks, fmt.Errorf("a process crashed during the soak")
			}
			if time.Since(lastSay) >= time.Minute {
				lastSay = time.Now()
				phases, _ := h.l.snapshot()
				p := phases[len(phases)-1]
				h.say("soak: %d requests, %d errors, %d jobs accepted; RSS MiB %s", p.requests, p.errors, p.accepted, rssLine(tracks))
			}
		}
	}
}

func rssLine(tracks []rssTrack) string {
	s := ""
	for _, t := range tracks {
		s += fmt.Sprintf(" %s=%.0f", t.name, float64(t.end)/1024)
	}
	return s[min(1, len(s)):]
}

// printRSS writes each process's RSS at the start, after the warm-up, at
// its peak and at the end, and the growth from warm-up to end.
func printRSS(w io.Writer, tracks []rssTrack, warm time.Duration) {
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "process\tsamples\tstart MiB\tat %s MiB\tpeak MiB\tend MiB\tend/at %s\t\n", warm, warm)
	mib := func(kib int64) string { return fmt.Sprintf("%.1f", float64(kib)/1024) }
	for _, t := range tracks {
		growth := "-"
		if t.warm > 0 {
			growth = fmt.Sprintf("%.2f", float64(t.end)/float64(t.warm))
		}
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t%s\t%s\t\n", t.name, t.samples, mib(t.start), mib(t.warm), mib(t.peak), mib(t.end), growth)
	}
	tw.Flush()
}
