package service

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nats.go/micro"
	"github.com/ocrstack/ocrstack/contracts"
	"github.com/ocrstack/ocrstack/keyservice/internal/keys"
	"github.com/ocrstack/ocrstack/keyservice/internal/natstest"
	"github.com/ocrstack/ocrstack/keyservice/internal/store"
	"github.com/ocrstack/ocrstack/keyservice/internal/streams"
	"github.com/ocrstack/ocrstack/ops/emit"
	"github.com/stretchr/testify/require"
)

// rtEchoSubject is served by a plain responder that echoes the request;
// rtEchoWriteSubject by one that first writes a KV entry, as rt.cas does,
// on its own connection; rtMicroSubject by a micro endpoint echoing it,
// and rtMicroEmitSubject by one that also emits an event.
const (
	rtEchoSubject      = "bench.echo"
	rtEchoWriteSubject = "bench.echowrite"
	rtMicroSubject     = "bench.micro"
	rtMicroEmitSubject = "bench.microemit"
)

// rtValidPrefix starts every VALID verification reply (Valid is the first
// field of contracts.VerifyKeyResponse), so a reply is checked without the
// client decoding it, as cheaply as the echo's reply is.
var rtValidPrefix = []byte(`{"valid":true,`)

// BenchmarkRoundTrip sets a verification over NATS beside the floor every
// NATS request/reply pays: a plain nc.Subscribe responder echoing the same
// payload, on the same embedded server over TCP loopback, asked by the same
// client connection. The keyservice replica and the echo responder each
// have a connection of their own, as separate processes would; the replica
// does its JetStream work on its connection, as run.go does. The key has
// credits and a rate limit, both far more than a run spends.
//
// verifies/write is how many verifications the replica decided per group
// (one compare-and-set each, when they spend).
//
// verify-8-keys spreads the verifications over eight keys, so none waits
// for another's write. verify-idem gives each verification an idempotency
// key of its own, as the ingress does for every OCR request (the job id):
// its record commits inside the Doc and is copied to its own entry in the
// background (store's pending.go), and each group of verifications reads
// those entries first, all in one direct get. verify-uncounted verifies a key with neither
// credits nor a rate limit, which writes nothing: the whole verification
// path without its write. echo+cas is the floor under a verification that
// must store what it spends before it answers: the echo responder doing
// one KV compare-and-set (over eight entries, on its own connection, each
// request on a goroutine of its own) before each reply, and nothing else:
// no decoding, no event. Its ratio to raw bounds what verify-8-keys, one
// write per verification, can reach. cas is the cost of the durable write alone: a KV
// compare-and-set from the client, spread over eight entries, with no
// request to a responder; a verification pays one per group of
// verifications of its key, plus its event's JetStream publish.
//
// micro and micro+emit are the floors the design sets under a
// verification that stores nothing: a micro service endpoint echoing the
// request inline (micro's own cost over raw), and the same endpoint
// emitting a verification-sized event through ops/emit before it answers,
// as every verification must.
//
// serial sends one request at a time, parallel-8 keeps 8 in flight. Each
// reports p50-us and p99-us from every operation's latency and ops/s from
// the operations over the wall time, including the last ones in flight.
// path splits the verification in process: hashing the key, hashing and
// reading its record (one JetStream direct get), hashing and finding it in
// the replica's cache (what a verification does), and the whole handler
// (the request's trip through the server left out).
//
// allocs/op and cpu-us/op (CPU time, user and system) count the whole
// process: client, embedded server and the replica; cpu-us/op holds
// steadier than the wall-clock figures when the machine is shared. Compare runs with benchstat; targets: verify p50 at most 2x raw
// p50, verify throughput at least 0.5x raw throughput.
func BenchmarkRoundTrip(b *testing.B) {
	rt := startRoundTrip(b)
	request := func(subject string, check func([]byte) error) func() error {
		return func() error {
			msg, err := rt.client.Request(subject, rt.payload, 5*time.Second)
			if err != nil {
				return err
			}
			if c := msg.Header.Get(micro.ErrorCodeHeader); c != "" {
				return fmt.Errorf("error reply %s: %s", c, msg.Header.Get(micro.ErrorHeader))
			}
			return check(msg.Data)
		}
	}
	verifyOf := func(payload func() []byte) func() error {
		return func() error {
			msg, err := rt.client.Request(contracts.SubjectKeysVerify, payload(), 5*time.Second)
			if err != nil {
				return err
			}
			return rtCheckValid(msg.Data)
		}
	}
	isEcho := func(got []byte) error {
		if !bytes.Equal(got, rt.payload) {
			return fmt.Errorf("echo: got %q", got)
		}
		return nil
	}
	ops := []struct {
		name string
		op   func() error
	}{
		{"raw", request(rtEchoSubject, isEcho)},
		{"verify", request(contracts.SubjectKeysVerify, rtCheckValid)},
		{"verify-8-keys", verifyOf(func() []byte { return rt.many[rt.next.Add(1)%uint64(len(rt.many))] })},
		{"verify-idem", verifyOf(func() []byte {
			return fmt.Appendf(nil, `{"key":%q,"idempotencyKey":"job_%d"}`, rt.key, rt.next.Add(1))
		})},
		{"verify-uncounted", verifyOf(func() []byte { return rt.uncounted })},
		{"cas", rt.cas},
		{"micro", request(rtMicroSubject, isEcho)},
		{"micro+emit", request(rtMicroEmitSubject, isEcho)},
		{"echo+cas", request(rtEchoWriteSubject, isEcho)},
	}
	for _, o := range ops {
		b.Run(o.name, func(b *testing.B) {
			for _, w := range []struct {
				name    string
				workers int
			}{{"serial", 1}, {"parallel-8", 8}} {
				b.Run(w.name, func(b *testing.B) {
					groups0, asks0 := rt.groups.Load(), rt.asks.Load()
					rtRun(b, w.workers, o.op)
					if g := rt.groups.Load() - groups0; g > 0 {
						b.ReportMetric(float64(rt.asks.Load()-asks0)/float64(g), "verifies/write")
					}
				})
			}
		})
	}
	b.Run("path", func(b *testing.B) {
		ctx := context.Background()
		b.Run("hash", func(b *testing.B) {
			rtRun(b, 1, func() error {
				if len(keys.Hash(rt.key)) != 64 {
					return errors.New("short hash")
				}
				return nil
			})
		})
		b.Run("hash+lookup", func(b *testing.B) {
			rtRun(b, 1, func() error {
				_, err := rt.store.KeyByHash(ctx, keys.Hash(rt.key), time.Now().UnixMilli())
				return err
			})
		})
		b.Run("hash+cached lookup", func(b *testing.B) {
			rtRun(b, 1, func() error {
				_, err := rt.store.KeyByHashCached(ctx, keys.Hash(rt.key), time.Now().UnixMilli())
				return err
			})
		})
		b.Run("handler", func(b *testing.B) {
			rtRun(b, 1, func() error {
				req := &rtRequest{data: rt.payload}
				rt.svc.handleVerify(req)
				if req.code != "" {
					return fmt.Errorf("error reply %s: %s", req.code, req.reply)
				}
				return rtCheckValid(req.reply)
			})
		})
	})
}

// roundTrip is what BenchmarkRoundTrip measures against.
type roundTrip struct {
	client  *nats.Conn
	svc     *Service
	store   *store.Store
	key     string
	payload []byte
	// many are verify requests for eight more keys like key; uncounted
	// one for a key with neither credits nor a rate limit.
	many      [][]byte
	uncounted []byte
	next      atomic.Uint64
	// casKV, casMu and casRev serve the cas operation.
	casKV  jetstream.KeyValue
	casMu  [8]sync.Mutex
	casRev [8]uint64
	// groups and asks count the verification groups the replica decided
	// and the verifications in them.
	groups, asks atomic.Int64
}

// cas writes one of eight entries of casKV with a compare-and-set.
func (rt *roundTrip) cas() error {
	i := rt.next.Add(1) % uint64(len(rt.casRev))
	rt.casMu[i].Lock()
	defer rt.casMu[i].Unlock()
	rev, err := rt.casKV.Update(context.Background(), "e"+strconv.FormatUint(i, 10), rt.payload, rt.casRev[i])
	if err != nil {
		return err
	}
	rt.casRev[i] = rev
	return nil
}

// startRoundTrip runs one keyservice replica and the echo responder, each
// on its own connection to one embedded server, and creates the key.
func startRoundTrip(b *testing.B) *roundTrip {
	b.Helper()
	srv, client := natstest.Start(b)
	connect := func(name string) *nats.Conn {
		nc, err := nats.Connect(srv.ClientURL(), nats.Name(name))
		require.NoError(b, err)
		b.Cleanup(nc.Close)
		return nc
	}
	ctx := context.Background()
	svcConn := connect(contracts.KeyServiceName)
	js, err := jetstream.New(svcConn)
	require.NoError(b, err)
	require.NoError(b, streams.Ensure(ctx, js, contracts.EventsStreamSpec))
	rt := &roundTrip{client: client}
	st, err := store.Open(ctx, js, store.WithGroupObserver(func(size int, _ bool) {
		rt.groups.Add(1)
		rt.asks.Add(int64(size))
	}))
	require.NoError(b, err)
	svc := New(Config{Store: st, JS: js, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	m, err := svc.Register(svcConn)
	require.NoError(b, err)
	b.Cleanup(func() { _ = m.Stop() })

	echoConn := connect("echo")
	_, err = echoConn.Subscribe(rtEchoSubject, func(m *nats.Msg) { _ = m.Respond(m.Data) })
	require.NoError(b, err)
	echoJS, err := jetstream.New(echoConn)
	require.NoError(b, err)
	echoKV, err := echoJS.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: "bench_echo_cas", History: 1, Storage: jetstream.FileStorage})
	require.NoError(b, err)
	var echoMu [8]sync.Mutex
	var echoRev [8]uint64
	var echoNext atomic.Uint64
	_, err = echoConn.Subscribe(rtEchoWriteSubject, func(m *nats.Msg) {
		go func() {
			i := echoNext.Add(1) % uint64(len(echoRev))
			echoMu[i].Lock()
			rev, err := echoKV.Update(context.Background(), "e"+strconv.FormatUint(i, 10), m.Data, echoRev[i])
			if err == nil {
				echoRev[i] = rev
			}
			echoMu[i].Unlock()
			if err != nil {
				_ = m.Respond([]byte(err.Error()))
				return
			}
			_ = m.Respond(m.Data)
		}()
	})
	require.NoError(b, err)
	require.NoError(b, echoConn.Flush())

	microConn := connect("micro")
	ms, err := micro.AddService(microConn, micro.Config{Name: "benchmicro", Version: "0.0.1", QueueGroup: "benchmicro"})
	require.NoError(b, err)
	b.Cleanup(func() { _ = ms.Stop() })
	require.NoError(b, ms.AddEndpoint("echo", micro.HandlerFunc(func(r micro.Request) { _ = r.Respond(r.Data()) }), micro.WithEndpointSubject(rtMicroSubject)))
	em, err := emit.New(emit.Config{Conn: microConn})
	require.NoError(b, err)
	evBody, err := json.Marshal(contracts.VerificationEvent{EventID: "ver_0123456789abcdef0123456789abcdef", Time: time.Now().UnixMilli(),
		KeyID: "key_0123456789abcdef", APIID: "api_bench", OwnerID: "", Outcome: contracts.VerifyValid, Cost: 1, CreditsRemaining: 1 << 50, LatencyUs: 100})
	require.NoError(b, err)
	require.NoError(b, ms.AddEndpoint("emit", micro.HandlerFunc(func(r micro.Request) {
		h := nats.Header{}
		h.Set(contracts.HeaderMsgID, keys.NewID("ver"))
		_ = em.Emit(contracts.SubjectEventsVerification, evBody, h)
		_ = r.Respond(r.Data())
	}), micro.WithEndpointSubject(rtMicroEmitSubject)))
	require.NoError(b, microConn.Flush())

	lots := int64(1 << 50)
	newKey := func() (string, []byte) {
		created := must[contracts.CreateKeyResponse](b, &fixture{nc: client}, contracts.SubjectKeysCreate, contracts.CreateKeyRequest{
			APIID: "api_bench", Credits: &contracts.Credits{Remaining: lots},
			Ratelimits: []contracts.Ratelimit{{Name: "requests", Limit: lots, Duration: 60_000, AutoApply: true}},
		})
		payload, err := json.Marshal(contracts.VerifyKeyRequest{Key: created.Key})
		require.NoError(b, err)
		return created.Key, payload
	}
	key, payload := newKey()
	rt.svc, rt.store, rt.key, rt.payload = svc, st, key, payload
	for range 8 {
		_, p := newKey()
		rt.many = append(rt.many, p)
	}
	plain := must[contracts.CreateKeyResponse](b, &fixture{nc: client}, contracts.SubjectKeysCreate, contracts.CreateKeyRequest{APIID: "api_bench"})
	rt.uncounted, err = json.Marshal(contracts.VerifyKeyRequest{Key: plain.Key})
	require.NoError(b, err)
	clientJS, err := jetstream.New(client)
	require.NoError(b, err)
	rt.casKV, err = clientJS.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: "bench_cas", History: 1, Storage: jetstream.FileStorage})
	require.NoError(b, err)
	return rt
}

// rtRun runs op once per b.Loop iteration, with at most `workers` in
// flight, and reports the latency percentiles and the throughput. One
// worker runs op in the loop itself; more are goroutines, to which the loop
// hands one token per iteration, so exactly b.N ops run either way.
func rtRun(b *testing.B, workers int, op func() error) {
	b.ReportAllocs()
	var all []time.Duration
	var wall time.Duration
	cpu0 := cpuTime(b)
	if workers == 1 {
		began := time.Now()
		for b.Loop() {
			t0 := time.Now()
			if err := op(); err != nil {
				b.Fatal(err)
			}
			all = append(all, time.Since(t0))
		}
		wall = time.Since(began)
	} else {
		lat := make([][]time.Duration, workers)
		errs := make([]error, workers)
		tokens := make(chan struct{})
		var wg sync.WaitGroup
		for w := range workers {
			wg.Go(func() {
				for range tokens {
					if errs[w] != nil {
						continue // drain: b.Loop only stops when asked
					}
					t0 := time.Now()
					errs[w] = op()
					lat[w] = append(lat[w], time.Since(t0))
				}
			})
		}
		began := time.Now()
		for b.Loop() {
			tokens <- struct{}{}
		}
		close(tokens)
		wg.Wait()
		wall = time.Since(began)
		if err := errors.Join(errs...); err != nil {
			b.Fatal(err)
		}
		all = slices.Concat(lat...)
	}
	slices.Sort(all)
	quantile := func(q float64) float64 {
		i := max(int(math.Ceil(q*float64(len(all))))-1, 0)
		return float64(all[i].Nanoseconds()) / 1e3
	}
	b.ReportMetric(quantile(0.50), "p50-us")
	b.ReportMetric(quantile(0.99), "p99-us")
	b.ReportMetric(float64(len(all))/wall.Seconds(), "ops/s")
	b.ReportMetric(float64((cpuTime(b)-cpu0).Microseconds())/float64(len(all)), "cpu-us/op")
}

// cpuTime is the CPU time (user and system) the process has used: all of
// a round trip's work (client, server, responder) runs in it, so its
// growth per operation is what an operation costs, whatever else the
// machine runs at the same time (which wall-clock figures are not).
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func rtCheckValid(reply []byte) error {
	if !bytes.HasPrefix(reply, rtValidPrefix) {
		return fmt.Errorf("verify: not valid: %s", reply)
	}
	return nil
}

// rtRequest is a micro.Request served in process, so the verify handler's
// own cost is measured without the request's trip through the server.
type rtRequest struct {
	data  []byte
	reply []byte
	code  string
}

func (r *rtRequest) Respond(b []byte, _ ...micro.RespondOpt) error { r.reply = b; return nil }

func (r *rtRequest) RespondJSON(v any, _ ...micro.RespondOpt) error {
	b, err := json.Marshal(v)
	r.reply = b
	return err
}

func (r *rtRequest) Error(code, _ string, data []byte, _ ...micro.RespondOpt) error {
	r.code, r.reply = code, data
	return nil
}

func (r *rtRequest) Data() []byte           { return r.data }
func (r *rtRequest) Headers() micro.Headers { return nil }
func (r *rtRequest) Subject() string        { return contracts.SubjectKeysVerify }
func (r *rtRequest) Reply() string          { return "" }
