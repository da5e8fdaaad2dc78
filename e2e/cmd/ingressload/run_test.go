package main

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestParseDefaults(t *testing.T) {
	o, err := parse(nil)
	require.NoError(t, err)
	require.Equal(t, options{
		slots: 4, clients: 4, requests: 200, warmup: 10, credits: 1_000_000_000,
		floodClients: 32, floodBytes: 20_000_000, floodFor: 20 * time.Second, floodKey: "valid", floodRoute: "/upload",
		phases: map[string]bool{"floor": true, "overhead": true, "flood": true},
	}, o)
}

func TestParse(t *testing.T) {
	o, err := parse([]string{"-bin", ".bin", "-clients", "2", "-requests", "50", "-phases", "flood",
		"-ingress-env", "OCR_MAX_CONNS=8", "-ingress-env", "OCR_MAX_IN_FLIGHT=4", "-flood-key", "invalid", "-credits", "0"})
	require.NoError(t, err)
	require.Equal(t, ".bin", o.bin)
	require.Equal(t, 2, o.clients)
	require.Equal(t, 2, o.slots, "as many slots as clients")
	require.Equal(t, 50, o.requests)
	require.Equal(t, map[string]bool{"flood": true}, o.phases)
	require.Equal(t, []string{"OCR_MAX_CONNS=8", "OCR_MAX_IN_FLIGHT=4"}, o.ingressEnv)
	require.Equal(t, "invalid", o.floodKey)
	require.Zero(t, o.credits, "a key without credits")
}

func TestParseErrors(t *testing.T) {
	for _, args := range [][]string{
		{"-clients", "0"},
		{"-requests", "0"},
		{"-slots", "-1"},
		{"-warmup", "-1"},
		{"-flood-bytes", "10"},
		{"-flood-for", "0s"},
		{"-flood-key", "maybe"},
		{"-flood-route", "/v2/keys.createKey"},
		{"-phases", "overhead,soak"},
		{"-ingress-env", "NOEQUALS"},
		{"extra"},
	} {
		_, err := parse(args)
		require.Error(t, err, "%q", args)
	}
}

func TestPercentile(t *testing.T) {
	ms := func(ns ...int) []time.Duration {
		var out []time.Duration
		for _, n := range ns {
			out = append(out, time.Duration(n)*time.Millisecond)
		}
		return out
	}
	for _, tc := range []struct {
		name   string
		sorted []time.Duration
		p      float64
		want   time.Duration
	}{
		{name: "empty", sorted: nil, p: 50, want: 0},
		{name: "one", sorted: ms(7), p: 99, want: 7 * time.Millisecond},
		{name: "median of four is the second", sorted: ms(1, 2, 3, 4), p: 50, want: 2 * time.Millisecond},
		{name: "p99 of 100 is the 99th", sorted: ms(seq(100)...), p: 99, want: 99 * time.Millisecond},
		{name: "p100 is the largest", sorted: ms(1, 2, 3), p: 100, want: 3 * time.Millisecond},
	} {
		t.Run(tc.name, func(t *testing.T) {
			require.Equal(t, tc.want, percentile(tc.sorted, tc.p))
		})
	}
}

func seq(n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = i + 1
	}
	return out
}
