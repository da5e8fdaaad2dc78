package priority

import (
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// childVar makes a copy of this test binary run TestChild: nice values
// cannot be lowered back without privilege, so threads are reniced in a
// child process.
const childVar = "PRIORITY_TEST_CHILD"

// init keeps the main goroutine on the main thread. A goroutine that ends
// locked to the main thread does not end the thread (Linux would leave the
// process a zombie): the runtime parks it for good, with whatever nice value
// it was given. The tests' goroutines therefore never run there.
func init() { runtime.LockOSThread() }

// TestLowerThread checks the guarantee the worker relies on: the thread a
// goroutine locked and lowered runs at the nice value (or above, when it
// already was), every other thread of the process keeps its priority, and
// the thread is gone once its goroutine ends.
func TestLowerThread(t *testing.T) {
	cmd := exec.Command(os.Args[0], "-test.run=^TestChild$", "-test.v")
	cmd.Env = append(os.Environ(), childVar+"=1")
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "child output:\n%s", out)
	require.Contains(t, string(out), "--- PASS: TestChild")
}

// TestChild runs only as the child of TestLowerThread.
func TestChild(t *testing.T) {
	if os.Getenv(childVar) == "" {
		t.Skip("runs only as the child of TestLowerThread")
	}
	pid := os.Getpid()
	cases := []struct {
		name     string
		first    int // a LowerThread before the one tested, 0 for none
		nice     int
		wantNice int
	}{
		{name: "raised to the value", nice: 10, wantNice: 10},
		{name: "the top value", nice: 19, wantNice: 19},
		{name: "zero leaves it alone", nice: 0, wantNice: 0},
		{name: "a nicer thread keeps its value", first: 15, nice: 10, wantNice: 15},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tids := make(chan int)
			release := make(chan struct{})
			errs := make(chan error, 2)
			go func() {
				runtime.LockOSThread() // never unlocked: the thread ends with the goroutine
				if tc.first != 0 {
					errs <- LowerThread(tc.first)
				}
				errs <- LowerThread(tc.nice)
				tids <- syscall.Gettid()
				<-release
			}()
			tid := <-tids
			close(errs)
			for err := range errs {
				require.NoError(t, err)
			}
			got, err := Nice(pid, tid)
			require.NoError(t, err)
			require.Equal(t, tc.wantNice, got, "the lowered thread")
			all, err := Threads(pid)
			require.NoError(t, err)
			require.Greater(t, len(all), 1)
			for _, other := range all {
				if other == tid {
					continue
				}
				got, err := Nice(pid, other)
				require.NoError(t, err)
				require.Zero(t, got, "thread %d kept its priority", other)
			}
			close(release)
			require.Eventually(t, func() bool {
				all, err := Threads(pid)
				return err == nil && !slices.Contains(all, tid)
			}, 5*time.Second, 10*time.Millisecond, "the lowered thread ends with its goroutine")
		})
	}
}

// TestLowerThreadRange checks that a value outside 0..19 is refused before
// anything changes.
func TestLowerThreadRange(t *testing.T) {
	for _, n := range []int{-1, 20, -20} {
		require.ErrorContains(t, LowerThread(n), "is not between 0 and 19")
	}
	got, err := Nice(os.Getpid(), syscall.Gettid())
	require.NoError(t, err)
	require.Equal(t, 0, got)
}

// TestParseStatNice checks the reading of /proc stat lines, whose command
// name may hold spaces and parentheses.
func TestParseStatNice(t *testing.T) {
	// stat is a stat line of command name with nice value nice.
	stat := func(name string, nice int) string {
		return fmt.Sprintf("42 (%s) S 1 2 3 4 5 6 7 8 9 10 11 12 13 14 30 %d 1 0\n", name, nice)
	}
	cases := []struct {
		name    string
		stat    string
		want    int
		wantErr string
	}{
		{name: "plain", stat: stat("ocr-worker", 0), want: 0},
		{name: "nice 10", stat: stat("ocr-worker", 10), want: 10},
		{name: "negative", stat: stat("x", -5), want: -5},
		{name: "name with ) and spaces", stat: stat("a) b (c", 7), want: 7},
		{name: "no name", stat: "42 x S", wantErr: "no command name"},
		{name: "short", stat: "42 (x) S 1 2", wantErr: "want at least 17"},
		{name: "not a number", stat: "42 (x) S 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 n 0", wantErr: `nice "n"`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseStatNice(tc.stat)
			if tc.wantErr != "" {
				require.ErrorContains(t, err, tc.wantErr)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.want, got)
		})
	}
}
