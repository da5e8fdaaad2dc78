// Package priority lowers the CPU priority of the threads that run
// Tesseract, so that recognition yields to latency work sharing its CPUs.
//
// OCR is batch work: a page takes hundreds of milliseconds, and a few more
// do not matter. The API path (the ingress, keyservice, NATS, and the
// worker's own fetching and publishing of jobs) answers in about a
// millisecond when it gets a CPU, and waits a whole scheduler slice when
// Tesseract holds every core. On one machine (`make run`, a small host) the
// recognitions should therefore run at a higher nice value than the rest.
//
// Linux keeps a nice value per thread, and a thread may raise its own but
// not lower it back without privilege. So a recognition runs on an OS thread
// of its own: its goroutine locks itself to a thread (runtime.LockOSThread),
// raises that thread's nice value with LowerThread, and never unlocks it, so
// the thread ends with the goroutine and the Go runtime never hands it to
// other work. Lowering the whole process instead was measured to slow the
// worker's handling of jobs around recognition (fetch, decode, publish) as
// much as it sped up the ingress.
package priority

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
)

// Bounds of a nice value a worker may ask for: 0 (normal) to 19 (the
// lowest priority Linux has).
const (
	MinNice = 0
	MaxNice = 19
)

// LowerThread raises the nice value of the calling OS thread to nice (0 to
// 19), or leaves it when it is already there or above; 0 changes nothing.
// The caller must have locked its goroutine to the thread
// (runtime.LockOSThread) and keep it locked until the goroutine ends, or the
// thread, niced for good, would go on to run other goroutines.
func LowerThread(nice int) error {
	if nice < MinNice || nice > MaxNice {
		return fmt.Errorf("nice %d is not between %d and %d", nice, MinNice, MaxNice)
	}
	if nice == 0 {
		return nil
	}
	tid := syscall.Gettid()
	cur, err := Nice(os.Getpid(), tid)
	if err != nil {
		return fmt.Errorf("read nice of thread %d: %w", tid, err)
	}
	if cur >= nice {
		return nil
	}
	// With PRIO_PROCESS, Linux takes a thread id and changes that thread
	// alone.
	if err := syscall.Setpriority(syscall.PRIO_PROCESS, tid, nice); err != nil {
		return fmt.Errorf("set nice %d on thread %d: %w", nice, tid, err)
	}
	return nil
}

// Nice returns the nice value of thread tid of process pid, read from
// /proc/<pid>/task/<tid>/stat.
func Nice(pid, tid int) (int, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/stat", pid, tid))
	if err != nil {
		return 0, err
	}
	return parseStatNice(string(b))
}

// Threads lists the thread ids of process pid.
func Threads(pid int) ([]int, error) {
	entries, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
	if err != nil {
		return nil, err
	}
	tids := make([]int, 0, len(entries))
	for _, e := range entries {
		if tid, err := strconv.Atoi(e.Name()); err == nil {
			tids = append(tids, tid)
		}
	}
	return tids, nil
}

// parseStatNice reads the nice field (the 19th) of a /proc stat line. The
// second field, the command name in parentheses, may hold spaces and
// parentheses itself, so fields are counted after its last ')'.
func parseStatNice(stat string) (int, error) {
	i := strings.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, errors.New("stat: no command name")
	}
	// After ")": state is field 3, so nice (field 19) is the 17th.
	fields := strings.Fields(stat[i+1:])
	if len(fields) < 17 {
		return 0, fmt.Errorf("stat: %d fields after the command name, want at least 17", len(fields))
	}
	n, err := strconv.Atoi(fields[16])
	if err != nil {
		return 0, fmt.Errorf("stat: nice %q: %w", fields[16], err)
	}
	return n, nil
}
