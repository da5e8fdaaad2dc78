// Package ompenv makes sure the process runs with OMP_THREAD_LIMIT=1.
//
// Tesseract is built with OpenMP, and on a small machine OpenMP's threads
// fight each other (and the worker pool) for cores: recognition is 4-6x
// slower than with one thread each. libgomp reads OMP_THREAD_LIMIT once, when
// the shared library is loaded, before main runs, so os.Setenv is too late.
// The only way to set it from inside the program is to execute the program
// again with the variable in its environment.
package ompenv

import (
	"fmt"
	"os"
	"strings"
	"syscall"
)

// Var is the variable Ensure sets, and Value the value it sets it to.
const (
	Var   = "OMP_THREAD_LIMIT"
	Value = "1"
)

// Ensure returns nil at once when OMP_THREAD_LIMIT is set to a non-empty
// value (a value chosen by the operator is kept). Otherwise it replaces the
// running process with a fresh copy of the same executable, with the same
// arguments and OMP_THREAD_LIMIT=1 added to the environment, and does not
// return unless that fails. Call it first thing in main, or in TestMain of a
// test package that runs Tesseract (a test binary re-executes the same way).
func Ensure() error {
	if os.Getenv(Var) != "" {
		return nil
	}
	exe := "/proc/self/exe"
	if err := syscall.Exec(exe, os.Args, WithLimit(os.Environ())); err != nil {
		return fmt.Errorf("re-exec %s with %s=%s: %w", exe, Var, Value, err)
	}
	return nil // not reached: Exec does not return on success
}

// WithLimit returns environ with every OMP_THREAD_LIMIT entry removed and
// OMP_THREAD_LIMIT=1 appended. Removing an existing empty entry matters:
// getenv returns the first match, so a leftover "OMP_THREAD_LIMIT=" would
// make the new process re-execute itself forever.
func WithLimit(environ []string) []string {
	out := make([]string, 0, len(environ)+1)
	for _, kv := range environ {
		if strings.HasPrefix(kv, Var+"=") {
			continue
		}
		out = append(out, kv)
	}
	return append(out, Var+"="+Value)
}
