package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nats.go/micro"
	"github.com/ocrstack/ocrstack/contracts"
	"github.com/ocrstack/ocrstack/keyservice/internal/service"
	"github.com/ocrstack/ocrstack/keyservice/internal/store"
	"github.com/ocrstack/ocrstack/keyservice/internal/streams"
)

const echoSubject = "ksbench.echo"

// conflicts counts, over the replicas run in process, the verification
// groups that found their budget written by another replica: by the read
// of their idempotency records, or by a failed compare-and-set.
var conflicts struct{ read, write atomic.Int64 }

// config is what the flags set.
type config struct {
	url         string
	replicas    int
	concurrency int
	keys        int
	duration    time.Duration
	// idem gives every verification an idempotency key of its own, as
	// the ingress does (the job id).
	idem bool
}

func parse(args []string) (config, error) {
	var c config
	fs := flag.NewFlagSet("ksbench", flag.ContinueOnError)
	fs.StringVar(&c.url, "url", "", "NATS URL; empty starts an embedded JetStream server on loopback")
	fs.IntVar(&c.replicas, "replicas", 1, "keyservice replicas to run in process, each on its own connection; 0 uses those already serving -url")
	fs.IntVar(&c.concurrency, "concurrency", 8, "requests in flight, at least 1")
	fs.IntVar(&c.keys, "keys", 1, "keys to spread the requesters over, at least 1")
	fs.DurationVar(&c.duration, "duration", 5*time.Second, "how long each phase runs")
	fs.BoolVar(&c.idem, "idem", false, "give every verification an idempotency key of its own, as the ingress does")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	var errs []error
	if c.concurrency < 1 || c.keys < 1 || c.duration <= 0 {
		errs = append(errs, errors.New("-concurrency and -keys must be at least 1, -duration positive"))
	}
	if c.url == "" && c.replicas < 1 {
		errs = append(errs, errors.New("-replicas must be at least 1 with the embedded server"))
	}
	return c, errors.Join(errs...)
}

func run(ctx context.Context, args []string, stdout io.Writer) error {
	cfg, err := parse(args)
	if err != nil {
		return err
	}
	url := cfg.url
	var srv *server.Server
	if url == "" {
		dir, err := os.MkdirTemp("", "ksbench")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		srv, err = server.NewServer(&server.Options{Host: "127.0.0.1", Port: -1, JetStream: true, StoreDir: dir, NoSigs: true})
		if err != nil {
			return err
		}
		srv.Start()
		defer srv.Shutdown()
		if !srv.ReadyForConnections(10 * time.Second) {
			return errors.New("embedded server did not start")
		}
		url = srv.ClientURL()
	}
	var conns []*nats.Conn
	defer func() {
		for _, nc := range slices.Backward(conns) {
			nc.Close()
		}
	}()
	connect := func(name string) (*nats.Conn, error) {
		nc, err := nats.Connect(url, nats.Name(name))
		if err == nil {
			conns = append(conns, nc)
		}
		return nc, err
	}
	for i := range cfg.replicas {
		nc, err := connect(fmt.Sprintf("%s-%d", contracts.KeyServiceName, i))
		if err != nil {
			return err
		}
		if err := startReplica(ctx, nc); err != nil {
			return err
		}
	}
	echo, err := connect("ksbench-echo")
	if err != nil {
		return err
	}
	if _, err := echo.Subscribe(echoSubject, func(m *nats.Msg) { _ = m.Respond(m.Data) }); err != nil {
		return err
	}
	if err := echo.Flush(); err != nil {
		return err
	}
	client, err := connect("ksbench")
	if err != nil {
		return err
	}
	keys, err := createKeys(client, cfg.keys)
	if err != nil {
		return err
	}
	payloads := requests(keys, cfg.idem)

	fmt.Fprintf(stdout, "replicas=%d concurrency=%d keys=%d idem=%v duration=%v\n", cfg.replicas, cfg.concurrency, cfg.keys, cfg.idem, cfg.duration)
	// phase runs one load and, on the embedded server, counts the messages
	// the server received and sent per operation.
	phase := func(name, subject string, ok func(req, reply []byte) bool) (result, error) {
		before := msgCounts(srv)
		read0, write0 := conflicts.read.Load(), conflicts.write.Load()
		r, err := load(ctx, client, subject, payloads, cfg, ok)
		if err != nil {
			return r, fmt.Errorf("%s: %w", name, err)
		}
		after := msgCounts(srv)
		fmt.Fprintf(stdout, "%-6s %v", name, r)
		if srv != nil {
			fmt.Fprintf(stdout, " server_msgs_in/op=%.2f server_msgs_out/op=%.2f",
				float64(after[0]-before[0])/float64(r.ops), float64(after[1]-before[1])/float64(r.ops))
		}
		if cfg.replicas > 1 {
			fmt.Fprintf(stdout, " conflicts/op: by_read=%.3f by_failed_write=%.3f",
				float64(conflicts.read.Load()-read0)/float64(r.ops), float64(conflicts.write.Load()-write0)/float64(r.ops))
		}
		fmt.Fprintln(stdout)
		return r, nil
	}
	raw, err := phase("raw", echoSubject, func(req, reply []byte) bool { return bytes.Equal(req, reply) })
	if err != nil {
		return err
	}
	ver, err := phase("verify", contracts.SubjectKeysVerify, func(_, reply []byte) bool {
		return bytes.HasPrefix(reply, []byte(`{"valid":true,`))
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "ratios: p50 %.2fx (target <= 2 at -concurrency 1), throughput %.3fx (target >= 0.5 at -concurrency 8)\n",
		float64(ver.p50)/float64(raw.p50), ver.opsPerSec/raw.opsPerSec)
	return nil
}

// startReplica serves keyservice on nc, as run.go does, until nc closes.
func startReplica(ctx context.Context, nc *nats.Conn) error {
	js, err := jetstream.New(nc)
	if err != nil {
		return err
	}
	if err := streams.Ensure(ctx, js, contracts.EventsStreamSpec); err != nil {
		return err
	}
	st, err := store.Open(ctx, js, store.WithConflictObserver(func(failedWrite bool) {
		if failedWrite {
			conflicts.write.Add(1)
		} else {
			conflicts.read.Add(1)
		}
	}))
	if err != nil {
		return err
	}
	svc := service.New(service.Config{Store: st, JS: js, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	_, err = svc.Register(nc)
	return err
}

// createKeys creates n keys with credits and a rate limit no run exhausts
// and returns them.
func createKeys(nc *nats.Conn, n int) ([]string, error) {
	lots := int64(1 << 50)
	body, err := json.Marshal(contracts.CreateKeyRequest{
		APIID: "api_ksbench", Credits: &contracts.Credits{Remaining: lots},
		Ratelimits: []contracts.Ratelimit{{Name: "requests", Limit: lots, Duration: 60_000, AutoApply: true}},
	})
	if err != nil {
		return nil, err
	}
	var out []string
	for range n {
		msg, err := nc.Request(contracts.SubjectKeysCreate, body, 10*time.Second)
		if err != nil {
			return nil, fmt.Errorf("create key: %w", err)
		}
		if c := msg.Header.Get(micro.ErrorCodeHeader); c != "" {
			return nil, fmt.Errorf("create key: %s: %s", c, msg.Header.Get(micro.ErrorHeader))
		}
		var created contracts.CreateKeyResponse
		if err := json.Unmarshal(msg.Data, &created); err != nil {
			return nil, err
		}
		out = append(out, created.Key)
	}
	return out, nil
}

// requests makes the payloads of requester w: its request n verifies
// keys[w % len(keys)], with an idempotency key of its own when idem. Raw
// echoes the same payloads.
func requests(keys []string, idem bool) func(w, n int) []byte {
	return func(w, n int) []byte {
		if idem {
			return fmt.Appendf(nil, `{"key":%q,"idempotencyKey":"job_%d_%d"}`, keys[w%len(keys)], w, n)
		}
		return fmt.Appendf(nil, `{"key":%q}`, keys[w%len(keys)])
	}
}

// result is one phase's figures.
type result struct {
	ops       int
	p50, p99  time.Duration
	opsPerSec float64
}

func (r result) String() string {
	return fmt.Sprintf("ops=%d p50=%.1fus p99=%.1fus ops/s=%.0f", r.ops,
		float64(r.p50.Nanoseconds())/1e3, float64(r.p99.Nanoseconds())/1e3, r.opsPerSec)
}

// load keeps cfg.concurrency requests to subject in flight for
// cfg.duration, requester w sending payloads(w, n) as its request n.
func load(ctx context.Context, nc *nats.Conn, subject string, payloads func(w, n int) []byte, cfg config, ok func(req, reply []byte) bool) (result, error) {
	ctx, cancel := context.WithTimeout(ctx, cfg.duration)
	defer cancel()
	lat := make([][]time.Duration, cfg.concurrency)
	errs := make([]error, cfg.concurrency)
	var wg sync.WaitGroup
	began := time.Now()
	for w := range cfg.concurrency {
		wg.Go(func() {
			for n := 0; ctx.Err() == nil; n++ {
				p := payloads(w, n)
				t0 := time.Now()
				msg, err := nc.Request(subject, p, 5*time.Second)
				if err == nil && !ok(p, msg.Data) {
					err = fmt.Errorf("unexpected reply %q", msg.Data)
				}
				if err != nil {
					errs[w] = err
					return
				}
				lat[w] = append(lat[w], time.Since(t0))
			}
		})
	}
	wg.Wait()
	wall := time.Since(began)
	if err := errors.Join(errs...); err != nil {
		return result{}, err
	}
	all := slices.Concat(lat...)
	if len(all) == 0 {
		return result{}, errors.New("no request answered")
	}
	slices.Sort(all)
	q := func(f float64) time.Duration { return all[max(int(math.Ceil(f*float64(len(all))))-1, 0)] }
	return result{ops: len(all), p50: q(0.50), p99: q(0.99), opsPerSec: float64(len(all)) / wall.Seconds()}, nil
}

// msgCounts returns the messages srv has received and sent, zero without
// an embedded server.
func msgCounts(srv *server.Server) [2]int64 {
	if srv == nil {
		return [2]int64{}
	}
	v, err := srv.Varz(nil)
	if err != nil {
		return [2]int64{}
	}
	return [2]int64{v.InMsgs, v.OutMsgs}
}
