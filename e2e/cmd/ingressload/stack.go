package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/ocrstack/ocrstack/contracts"
)

// services are started in this order and stopped in the reverse one.
var services = []string{"keyservice", "ocr-worker", "ingress"}

const (
	// rootKey is the administrator's key the ingress runs with, to create
	// an unlimited key (signup keys allow 6 requests a minute).
	rootKey = "root_load_0123456789abcdef0123"
	// readyTimeout bounds the start: every worker slot loads its models.
	readyTimeout = time.Minute
	// stopTimeout is above the services' own bounds on finishing work.
	stopTimeout = 45 * time.Second
)

// stack is the running pipeline: NATS, keyservice, one worker, the ingress.
type stack struct {
	dir      string
	url      string // the ingress, http://host:port
	nc       *nats.Conn
	js       jetstream.JetStream
	embedded *server.Server
	procs    []*proc // started order, nats-server first when spawned
}

// proc is a child process; its output goes to a log file in the stack's
// directory.
type proc struct {
	name   string
	cmd    *exec.Cmd
	log    string
	exited chan struct{}
	err    error
}

// pid is the process to measure: the worker re-executes itself keeping its
// pid, and the others do not fork.
func (p *proc) pid() int { return p.cmd.Process.Pid }

func (s *stack) proc(name string) *proc {
	for _, p := range s.procs {
		if p.name == name {
			return p
		}
	}
	return nil
}

// startStack runs NATS (the binary natsServer, or in-process when empty),
// then the services from binaries in bin, and waits until all are ready.
func startStack(ctx context.Context, o options, bin map[string]string) (_ *stack, err error) {
	dir, err := os.MkdirTemp("", "ingressload-")
	if err != nil {
		return nil, err
	}
	s := &stack{dir: dir}
	defer func() {
		if err != nil {
			s.stop()
		}
	}()
	natsURL, err := s.startNATS(o.natsServer)
	if err != nil {
		return nil, err
	}
	if s.nc, err = nats.Connect(natsURL, nats.Name("ingressload")); err != nil {
		return nil, err
	}
	if s.js, err = jetstream.New(s.nc); err != nil {
		return nil, err
	}
	httpAddr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	s.url = "http://" + httpAddr
	// A free ops port each (127.0.0.1:0): the defaults would collide with a
	// stack already running on this host.
	env := append(os.Environ(), "OCR_NATS_URL="+natsURL, "OCR_LOG_LEVEL=warn", "OMP_THREAD_LIMIT=1", "OCR_OPS_ADDR=127.0.0.1:0")
	for _, name := range services {
		penv := env
		switch name {
		case "ocr-worker":
			penv = append(penv, "OCR_WORKER_CONCURRENCY="+strconv.Itoa(o.slots))
		case "ingress":
			penv = append(penv, "OCR_HTTP_ADDR="+httpAddr, "OCR_ROOT_KEY="+rootKey)
			penv = append(penv, o.ingressEnv...)
		}
		if err := s.spawn(name, bin[name], nil, penv); err != nil {
			return nil, err
		}
	}
	return s, s.waitReady(ctx, o.slots)
}

func (s *stack) startNATS(binary string) (string, error) {
	store := filepath.Join(s.dir, "nats")
	if binary == "" {
		srv, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: -1, JetStream: true, StoreDir: store, NoLog: true, NoSigs: true})
		if err != nil {
			return "", err
		}
		srv.Start()
		s.embedded = srv
		if !srv.ReadyForConnections(10 * time.Second) {
			return "", errors.New("embedded nats server did not start")
		}
		return srv.ClientURL(), nil
	}
	addr, err := freeAddr()
	if err != nil {
		return "", err
	}
	host, port, _ := net.SplitHostPort(addr)
	if err := s.spawn("nats-server", binary, []string{"-a", host, "-p", port, "-js", "-sd", store}, os.Environ()); err != nil {
		return "", err
	}
	url := "nats://" + addr
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if nc, err := nats.Connect(url); err == nil {
			nc.Close()
			return url, nil
		}
	}
	return "", fmt.Errorf("nats-server did not start; see %s", s.procs[len(s.procs)-1].log)
}

func (s *stack) spawn(name, path string, args, env []string) error {
	p := &proc{name: name, log: filepath.Join(s.dir, name+".log"), exited: make(chan struct{})}
	f, err := os.Create(p.log)
	if err != nil {
		return err
	}
	p.cmd = exec.Command(path, args...)
	p.cmd.Env, p.cmd.Stdout, p.cmd.Stderr = env, f, f
	if err := p.cmd.Start(); err != nil {
		f.Close()
		return fmt.Errorf("start %s: %w", name, err)
	}
	go func() {
		p.err = p.cmd.Wait()
		f.Close()
		close(p.exited)
	}()
	s.procs = append(s.procs, p)
	return nil
}

// waitReady waits for keyservice to answer, for every worker slot to pull,
// and for the ingress to serve.
func (s *stack) waitReady(ctx context.Context, slots int) error {
	ctx, cancel := context.WithTimeout(ctx, readyTimeout)
	defer cancel()
	check := map[string]func() bool{
		"keyservice": func() bool {
			_, err := s.nc.RequestWithContext(ctx, "$SRV.PING."+contracts.KeyServiceName, nil)
			return err == nil
		},
		"ocr-worker": func() bool {
			c, err := s.js.Consumer(ctx, contracts.JobsStream, contracts.JobsConsumer)
			if err != nil {
				return false
			}
			info, err := c.Info(ctx)
			return err == nil && info.NumWaiting >= slots
		},
		"ingress": func() bool {
			resp, err := http.Get(s.url + "/livez")
			if err != nil {
				return false
			}
			resp.Body.Close()
			return resp.StatusCode == http.StatusOK
		},
	}
	for _, name := range services {
		for !check[name]() {
			if err := s.exited(); err != nil {
				return err
			}
			select {
			case <-ctx.Done():
				return fmt.Errorf("%s not ready after %v; see %s", name, readyTimeout, s.proc(name).log)
			case <-time.After(50 * time.Millisecond):
			}
		}
	}
	return nil
}

// exited returns an error naming a child that is no longer running.
func (s *stack) exited() error {
	for _, p := range s.procs {
		select {
		case <-p.exited:
			return fmt.Errorf("%s exited (%v); its log:\n%s", p.name, p.err, tail(p.log))
		default:
		}
	}
	return nil
}

// createKey makes an API key with credits (none when 0) and no rate
// limits, through the ingress's Unkey v2 API.
func (s *stack) createKey(ctx context.Context, credits int64) (string, error) {
	body := `{"apiId":"api_ocr","prefix":"load","name":"ingressload"}`
	if credits > 0 {
		body = fmt.Sprintf(`{"apiId":"api_ocr","prefix":"load","name":"ingressload","credits":{"remaining":%d}}`, credits)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.url+"/v2/keys.createKey", bytes.NewBufferString(body))
	if err != nil {
		return "", err
	}
	req.Header.Set("Authorization", "Bearer "+rootKey)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	var env struct {
		Data struct {
			Key string `json:"key"`
		} `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&env); err != nil || env.Data.Key == "" {
		return "", fmt.Errorf("create key: status %d, %v", resp.StatusCode, err)
	}
	return env.Data.Key, nil
}

// stop stops the services in reverse order of start (SIGTERM, then kill
// after stopTimeout), then NATS, and removes the directory.
func (s *stack) stop() {
	if s.nc != nil {
		s.nc.Close()
	}
	for i := len(s.procs) - 1; i >= 0; i-- {
		p := s.procs[i]
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.exited:
		case <-time.After(stopTimeout):
			_ = p.cmd.Process.Kill()
			<-p.exited
		}
	}
	if s.embedded != nil {
		s.embedded.Shutdown()
		s.embedded.WaitForShutdown()
	}
	_ = os.RemoveAll(s.dir)
}

func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// tail is the end of a log file.
func tail(path string) string {
	b, _ := os.ReadFile(path)
	if len(b) > 3000 {
		b = b[len(b)-3000:]
	}
	return string(b)
}
