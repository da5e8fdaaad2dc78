package ompenv

import (
	"os"
	"os/exec"
	"testing"

	"github.com/stretchr/testify/require"
)

// childMarker tells a copy of this test binary that it was started by
// TestEnsureReexecs.
const childMarker = "OMPENV_TEST_CHILD"

// TestMain calls Ensure the way every Tesseract test package does.
func TestMain(m *testing.M) {
	if err := Ensure(); err != nil {
		panic(err)
	}
	os.Exit(m.Run())
}

// TestEnsureReexecs checks the guarantee main relies on: a process started
// without OMP_THREAD_LIMIT runs its tests (and so its program) with
// OMP_THREAD_LIMIT=1 and its original arguments.
func TestEnsureReexecs(t *testing.T) {
	cmd := exec.Command(os.Args[0], "-test.run=^TestChild$", "-test.v")
	cmd.Env = append(withoutVar(os.Environ()), childMarker+"=1")
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "child output:\n%s", out)
	require.Contains(t, string(out), "--- PASS: TestChild")
}

// TestChild runs only inside the child started by TestEnsureReexecs.
func TestChild(t *testing.T) {
	if os.Getenv(childMarker) == "" {
		t.Skip("runs only as the child of TestEnsureReexecs")
	}
	require.Equal(t, Value, os.Getenv(Var))
	require.Contains(t, os.Args, "-test.run=^TestChild$", "arguments survive the re-exec")
	require.NoError(t, Ensure(), "a second call is a no-op")
}

// TestWithLimit checks that the new environment holds exactly one
// OMP_THREAD_LIMIT entry, set to 1, and keeps everything else in order.
func TestWithLimit(t *testing.T) {
	cases := []struct {
		name string
		in   []string
		want []string
	}{
		{"absent", []string{"A=1", "B=2"}, []string{"A=1", "B=2", "OMP_THREAD_LIMIT=1"}},
		{"empty", nil, []string{"OMP_THREAD_LIMIT=1"}},
		{"set but empty", []string{"OMP_THREAD_LIMIT=", "A=1"}, []string{"A=1", "OMP_THREAD_LIMIT=1"}},
		{"twice", []string{"OMP_THREAD_LIMIT=", "OMP_THREAD_LIMIT=4"}, []string{"OMP_THREAD_LIMIT=1"}},
		{"similar name kept", []string{"OMP_THREAD_LIMITS=3"}, []string{"OMP_THREAD_LIMITS=3", "OMP_THREAD_LIMIT=1"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			require.Equal(t, tc.want, WithLimit(tc.in))
		})
	}
}

func withoutVar(environ []string) []string {
	out := WithLimit(environ)
	return out[:len(out)-1]
}
