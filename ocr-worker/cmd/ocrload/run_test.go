package main

import (
	"runtime"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestParseDefaults(t *testing.T) {
	o, err := parse(nil)
	require.NoError(t, err)
	require.Equal(t, options{jobs: 5000, concurrency: runtime.NumCPU(), checkpoints: []int{500}}, o)
}

func TestParseCheckpoints(t *testing.T) {
	o, err := parse([]string{"-worker", "/bin/w", "-jobs", "1000", "-concurrency", "3", "-checkpoints", "900, 100,100,,1000,5000"})
	require.NoError(t, err)
	require.Equal(t, options{worker: "/bin/w", jobs: 1000, concurrency: 3, checkpoints: []int{100, 900}}, o,
		"sorted, deduplicated, and those not below -jobs dropped")

	o, err = parse([]string{"-jobs", "100"})
	require.NoError(t, err)
	require.Empty(t, o.checkpoints, "the default checkpoint does not stop a short run")
}

func TestParseErrors(t *testing.T) {
	for _, args := range [][]string{
		{"-jobs", "0"},
		{"-concurrency", "0"},
		{"-concurrency", "65"},
		{"-checkpoints", "ten"},
		{"-checkpoints", "0"},
		{"-checkpoints", "-5"},
		{"-nope"},
		{"extra"},
	} {
		_, err := parse(args)
		require.Error(t, err, "%q", args)
	}
}
