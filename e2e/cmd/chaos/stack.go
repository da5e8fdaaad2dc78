package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/ocrstack/ocrstack/contracts"
)

// services are the four binaries, in start order.
var services = []string{"keyservice", "ocr-worker", "analytics", "ingress"}

// replicas of each service: two keyservices share the verification load
// and the key state, two workers share the jobs consumer.
var replicas = map[string]int{"keyservice": 2, "ocr-worker": 2, "analytics": 1, "ingress": 1}

const (
	// rootKey is the administrator's key the ingress runs with.
	rootKey = "root_chaos_0123456789abcdef0123"
	// database is the ClickHouse database analytics writes.
	database = "chaos"
	// ackWait is every worker's OCR_WORKER_ACK_WAIT: how soon a killed
	// worker's job goes to another (the default is 2 minutes).
	ackWait = 5 * time.Second
	// readyTimeout bounds a start or a restart: a worker loads its models.
	readyTimeout = 90 * time.Second
	// stopTimeout is above every service's own bound on a graceful drain.
	stopTimeout = 45 * time.Second
)

// stack is the running pipeline.
type stack struct {
	dir      string
	url      string // the ingress, http://host:port
	natsURL  string
	chAddr   string
	chDir    string
	chScript string
	nc       *nats.Conn
	js       jetstream.JetStream

	nats  *proc
	procs []*proc // the services' instances, in start order

	mu      sync.Mutex
	crashes []string
}

// startStack starts ClickHouse, NATS and every service instance, and waits
// until all are ready.
func startStack(ctx context.Context, o options, dir string, say func(string, ...any)) (_ *stack, err error) {
	s := &stack{dir: dir, chDir: filepath.Join(dir, "clickhouse"), chScript: o.chScript}
	defer func() {
		if err != nil {
			s.stop()
		}
	}()
	chPort, err := freePort()
	if err != nil {
		return nil, err
	}
	s.chAddr = "127.0.0.1:" + strconv.Itoa(chPort)
	say("starting ClickHouse on %s", s.chAddr)
	if err := s.clickhouse(ctx, "start"); err != nil {
		return nil, err
	}

	natsPort, err := freePort()
	if err != nil {
		return nil, err
	}
	s.natsURL = "nats://127.0.0.1:" + strconv.Itoa(natsPort)
	s.nats = s.newProc("nats-server", "nats-server", o.natsServer,
		[]string{"-a", "127.0.0.1", "-p", strconv.Itoa(natsPort), "-js", "-sd", filepath.Join(dir, "nats")}, os.Environ())
	say("starting nats-server on %s (JetStream store %s)", s.natsURL, filepath.Join(dir, "nats"))
	if err := s.startNATS(ctx); err != nil {
		return nil, err
	}
	s.nc, err = nats.Connect(s.natsURL, nats.Name("chaos"), nats.MaxReconnects(-1),
		nats.ReconnectWait(250*time.Millisecond), nats.RetryOnFailedConnect(true))
	if err != nil {
		return nil, err
	}
	if s.js, err = jetstream.New(s.nc); err != nil {
		return nil, err
	}

	httpPort, err := freePort()
	if err != nil {
		return nil, err
	}
	httpAddr := "127.0.0.1:" + strconv.Itoa(httpPort)
	s.url = "http://" + httpAddr
	env := append(os.Environ(), "OCR_NATS_URL="+s.natsURL, "OMP_THREAD_LIMIT=1", "OCR_OPS_ADDR=127.0.0.1:0", "OCR_LOG_LEVEL=info")
	for _, name := range services {
		// A copy: appending to env itself would let one service's
		// settings overwrite another's in the shared array.
		penv := slices.Clone(env)
		switch name {
		case "ocr-worker":
			// debug logs "job started", which the kill phase waits for.
			penv = append(penv, "OCR_WORKER_CONCURRENCY=1", "OCR_WORKER_ACK_WAIT="+ackWait.String(), "OCR_LOG_LEVEL=debug")
		case "analytics":
			penv = append(penv, "OCR_CLICKHOUSE_ADDR="+s.chAddr, "OCR_CLICKHOUSE_DATABASE="+database, "OCR_ANALYTICS_FLUSH_INTERVAL=200ms")
		case "ingress":
			penv = append(penv, "OCR_HTTP_ADDR="+httpAddr, "OCR_ROOT_KEY="+rootKey)
		}
		for i := 1; i <= replicas[name]; i++ {
			instance := name
			if replicas[name] > 1 {
				instance += "-" + strconv.Itoa(i)
			}
			p := s.newProc(instance, name, filepath.Join(o.bin, name), nil, penv)
			s.procs = append(s.procs, p)
			if err := p.start(); err != nil {
				return nil, err
			}
		}
		// Start in order: the worker creates the streams the ingress and
		// analytics use.
		if err := s.waitReady(ctx, name); err != nil {
			return nil, err
		}
	}
	say("stack ready: %s", s.url)
	return s, nil
}

func (s *stack) newProc(name, service, path string, args, env []string) *proc {
	return &proc{
		name: name, service: service, path: path, args: args, env: env,
		log: filepath.Join(s.dir, name+".log"),
		onCrash: func(p *proc, err error) {
			s.mu.Lock()
			defer s.mu.Unlock()
			s.crashes = append(s.crashes, fmt.Sprintf("%s exited on its own (%v) at %s; its log:\n%s",
				p.name, err, time.Now().Format(time.TimeOnly), tail(p.log, 2000)))
		},
	}
}

// crashed lists the processes that exited without being asked.
func (s *stack) crashed() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.crashes...)
}

// instance is the process of that name.
func (s *stack) instance(name string) *proc {
	for _, p := range s.procs {
		if p.name == name {
			return p
		}
	}
	if name == "nats-server" {
		return s.nats
	}
	return nil
}

// startNATS starts the server and waits until it takes connections.
func (s *stack) startNATS(ctx context.Context) error {
	if err := s.nats.start(); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	for {
		if nc, err := nats.Connect(s.natsURL); err == nil {
			nc.Close()
			return nil
		}
		if !s.nats.running() {
			return fmt.Errorf("nats-server exited at start; its log:\n%s", tail(s.nats.log, 2000))
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("nats-server does not take connections; see %s", s.nats.log)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// clickhouse runs `clickhouse.sh start|stop`.
func (s *stack) clickhouse(ctx context.Context, verb string) error {
	args := []string{s.chScript, verb}
	if verb == "start" {
		_, port, _ := net.SplitHostPort(s.chAddr)
		args = append(args, port)
	}
	cmd := exec.CommandContext(ctx, "bash", append(args, s.chDir)...)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("clickhouse.sh %s: %w\n%s", verb, err, out)
	}
	return nil
}

// waitReady waits until every instance of service answers: keyservice,
// the workers and analytics by their NATS micro pings, the ingress by
// /readyz (which also needs NATS and every service).
func (s *stack) waitReady(ctx context.Context, service string) error {
	ctx, cancel := context.WithTimeout(ctx, readyTimeout)
	defer cancel()
	for {
		if s.ready(ctx, service) {
			return nil
		}
		for _, p := range s.procs {
			if p.service == service && !p.running() {
				return fmt.Errorf("%s exited while starting; its log:\n%s", p.name, tail(p.log, 3000))
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s not ready after %s; see the logs in %s", service, readyTimeout, s.dir)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func (s *stack) ready(ctx context.Context, service string) bool {
	if service == "ingress" {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, s.url+"/readyz", nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	}
	name := map[string]string{"keyservice": contracts.KeyServiceName, "ocr-worker": contracts.WorkerName, "analytics": contracts.AnalyticsName}[service]
	return s.pingCount(name) >= replicas[service]
}

// pingCount is how many distinct instances of a micro service answer a
// ping within a short window.
func (s *stack) pingCount(name string) int {
	inbox := nats.NewInbox()
	sub, err := s.nc.SubscribeSync(inbox)
	if err != nil {
		return 0
	}
	defer sub.Unsubscribe()
	if err := s.nc.PublishRequest("$SRV.PING."+name, inbox, nil); err != nil {
		return 0
	}
	ids := map[string]bool{}
	for {
		m, err := sub.NextMsg(300 * time.Millisecond)
		if err != nil {
			return len(ids)
		}
		var ping struct {
			ID string `json:"id"`
		}
		if json.Unmarshal(m.Data, &ping) == nil && ping.ID != "" {
			ids[ping.ID] = true
		}
	}
}

// stop stops the services in reverse order of start, then NATS and
// ClickHouse. It is safe to call on a stack that started in part.
func (s *stack) stop() {
	for i := len(s.procs) - 1; i >= 0; i-- {
		if p := s.procs[i]; p.running() {
			_, _ = p.stop(stopTimeout)
		}
	}
	if s.nc != nil {
		s.nc.Close()
	}
	if s.nats != nil && s.nats.running() {
		_, _ = s.nats.stop(30 * time.Second)
	}
	if s.chAddr != "" {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := s.clickhouse(ctx, "stop"); err != nil {
			fmt.Fprintln(os.Stderr, "chaos:", err)
		}
	}
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// findScript finds deploy/scripts/clickhouse.sh in the nearest directory
// upwards holding go.work.
func findScript() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.work")); err == nil {
			return filepath.Join(dir, "deploy", "scripts", "clickhouse.sh"), nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.work above the working directory: run from inside the repository or pass -clickhouse-script")
		}
		dir = parent
	}
}
