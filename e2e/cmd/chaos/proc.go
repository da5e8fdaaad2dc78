package main

import (
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// proc is one process of the stack, which the harness may kill, stop and
// start again with the same command line. Its output is appended to one
// log file across restarts.
type proc struct {
	name    string // instance: keyservice-1, ocr-worker-2, ingress...
	service string // binary: keyservice, ocr-worker, ...
	path    string
	args    []string
	env     []string
	log     string

	mu  sync.Mutex
	cmd *exec.Cmd
	// exited is closed when the current run ends; waitErr is then its
	// exit error.
	exited  chan struct{}
	waitErr error
	// stopping is set before the harness signals the process, so its exit
	// is not taken for a crash.
	stopping bool
	starts   int
	// onCrash is told of an exit the harness did not ask for.
	onCrash func(p *proc, err error)
}

// start runs the process once more.
func (p *proc) start() error {
	f, err := os.OpenFile(p.log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.starts++
	fmt.Fprintf(f, "---- chaos: start %d of %s at %s\n", p.starts, p.name, time.Now().Format(time.RFC3339Nano))
	cmd := exec.Command(p.path, p.args...)
	cmd.Env, cmd.Stdout, cmd.Stderr = p.env, f, f
	if err := cmd.Start(); err != nil {
		f.Close()
		return fmt.Errorf("start %s: %w", p.name, err)
	}
	exited := make(chan struct{})
	p.cmd, p.exited, p.stopping = cmd, exited, false
	go func() {
		err := cmd.Wait()
		f.Close()
		p.mu.Lock()
		p.waitErr = err
		crashed := !p.stopping
		p.mu.Unlock()
		close(exited)
		if crashed && p.onCrash != nil {
			p.onCrash(p, err)
		}
	}()
	return nil
}

// pid is the running process's id; the worker re-executes itself keeping
// it, and the others do not fork.
func (p *proc) pid() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.cmd.Process.Pid
}

// running reports whether the process was started and its current run
// has not ended.
func (p *proc) running() bool {
	p.mu.Lock()
	exited := p.exited
	p.mu.Unlock()
	if exited == nil {
		return false
	}
	select {
	case <-exited:
		return false
	default:
		return true
	}
}

// kill sends SIGKILL and waits for the end.
func (p *proc) kill() error {
	_, err := p.signal(syscall.SIGKILL, 10*time.Second)
	return err
}

// stop sends SIGTERM and waits up to timeout for the process to exit,
// then kills it. It returns how long the exit took and an error when the
// exit was not clean (a non-zero status, or the kill).
func (p *proc) stop(timeout time.Duration) (time.Duration, error) {
	return p.signal(syscall.SIGTERM, timeout)
}

func (p *proc) signal(sig syscall.Signal, timeout time.Duration) (time.Duration, error) {
	if !p.running() {
		return 0, fmt.Errorf("%s was not running", p.name)
	}
	p.mu.Lock()
	cmd, exited := p.cmd, p.exited
	p.stopping = true
	p.mu.Unlock()
	start := time.Now()
	if err := cmd.Process.Signal(sig); err != nil {
		return 0, fmt.Errorf("signal %s: %w", p.name, err)
	}
	select {
	case <-exited:
	case <-time.After(timeout):
		_ = cmd.Process.Kill()
		<-exited
		return time.Since(start), fmt.Errorf("%s still running %s after %s: killed", p.name, timeout, sig)
	}
	took := time.Since(start)
	p.mu.Lock()
	err := p.waitErr
	p.mu.Unlock()
	if sig == syscall.SIGKILL {
		return took, nil
	}
	if err != nil {
		return took, fmt.Errorf("%s exited after %s with %v", p.name, sig, err)
	}
	return took, nil
}

// rssKiB is the process's resident set size, from /proc.
func (p *proc) rssKiB() (int64, error) {
	return procStatus(p.pid(), "VmRSS")
}

// procStatus reads a "kB" field of /proc/<pid>/status.
func procStatus(pid int, field string) (int64, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0, err
	}
	for line := range strings.Lines(string(b)) {
		if rest, ok := strings.CutPrefix(line, field+":"); ok {
			return strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
		}
	}
	return 0, fmt.Errorf("no %s in /proc/%d/status", field, pid)
}

// tail is the end of a log file.
func tail(path string, n int) string {
	b, _ := os.ReadFile(path)
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return string(b)
}

// logErrors counts a process's ERROR log records by message and error,
// most frequent first: "12× verify key: keys.v1.verify: keyservice
// unavailable: context deadline exceeded".
func logErrors(path string) []string {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil
	}
	counts := map[string]int{}
	for line := range strings.Lines(string(b)) {
		if !strings.Contains(line, `"level":"ERROR"`) {
			continue
		}
		var e struct {
			Msg string `json:"msg"`
			Err string `json:"err"`
		}
		if json.Unmarshal([]byte(line), &e) != nil {
			continue
		}
		key := e.Msg
		if e.Err != "" {
			key += ": " + e.Err
		}
		counts[key]++
	}
	keys := slices.SortedFunc(maps.Keys(counts), func(a, b string) int {
		if c := counts[b] - counts[a]; c != 0 {
			return c
		}
		return strings.Compare(a, b)
	})
	out := make([]string, len(keys))
	for i, k := range keys {
		out[i] = fmt.Sprintf("%d× %s", counts[k], k)
	}
	return out
}
