package ops

import (
	"context"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

const validTP = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"

// TestParseTraceparent checks the W3C rules: what is accepted, what each
// refusal says, and that a later version's extra fields are dropped.
func TestParseTraceparent(t *testing.T) {
	tests := []struct {
		name, in string
		want     TraceContext
		wantErr  string
	}{
		{name: "valid", in: validTP, want: TraceContext{TraceID: "4bf92f3577b34da6a3ce929d0e0e4736", ParentID: "00f067aa0ba902b7", Flags: "01"}},
		{name: "later version with more fields", in: "cc" + validTP[2:] + "-what-the-future-holds",
			want: TraceContext{TraceID: "4bf92f3577b34da6a3ce929d0e0e4736", ParentID: "00f067aa0ba902b7", Flags: "01"}},
		{name: "empty", in: "", wantErr: "55 characters"},
		{name: "version ff", in: "ff" + validTP[2:], wantErr: "not ff"},
		{name: "version 00 too long", in: validTP + "-00", wantErr: "exactly 55"},
		{name: "later version glued field", in: "01" + validTP[2:] + "x", wantErr: "separated by '-'"},
		{name: "upper-case trace id", in: strings.ToUpper(validTP[:35]) + validTP[35:], wantErr: "trace-id"},
		{name: "zero trace id", in: "00-00000000000000000000000000000000-00f067aa0ba902b7-01", wantErr: "trace-id"},
		{name: "zero parent id", in: "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01", wantErr: "parent-id"},
		{name: "bad flags", in: validTP[:53] + "zz", wantErr: "trace-flags"},
		{name: "wrong separators", in: strings.ReplaceAll(validTP, "-", "_"), wantErr: "separated by '-'"},
		{name: "too long", in: "cc" + validTP[2:] + "-" + strings.Repeat("a", 600), wantErr: "longer than"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseTraceparent(tt.in)
			if tt.wantErr != "" {
				require.ErrorIs(t, err, ErrTraceparent)
				require.ErrorContains(t, err, tt.wantErr)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tt.want, got)
		})
	}
}

// TestTraceRoundTrip checks that a new trace and its child are valid
// traceparents, that the child keeps the trace and flags with a new parent,
// and that the context carries a traceparent.
func TestTraceRoundTrip(t *testing.T) {
	root := NewTrace()
	parsed, err := ParseTraceparent(root.String())
	require.NoError(t, err)
	require.Equal(t, root, parsed)
	child := root.Child()
	require.Equal(t, root.TraceID, child.TraceID)
	require.Equal(t, root.Flags, child.Flags)
	require.NotEqual(t, root.ParentID, child.ParentID)
	require.NotEqual(t, root.TraceID, NewTrace().TraceID)

	require.Equal(t, root.TraceID, TraceID(root.String()))
	require.Empty(t, TraceID(""))
	require.Empty(t, TraceID("garbage"))

	ctx := WithTraceparent(context.Background(), child.String())
	require.Equal(t, child.String(), TraceparentFrom(ctx))
	require.Empty(t, TraceparentFrom(WithTraceparent(context.Background(), "")))
}

// FuzzParseTraceparent checks that any header value is either refused with
// ErrTraceparent or parsed into ids that render back into a valid header.
func FuzzParseTraceparent(f *testing.F) {
	for _, s := range []string{validTP, "", "ff" + validTP[2:], "cc" + validTP[2:] + "-x", validTP[:54], strings.ToUpper(validTP)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		tc, err := ParseTraceparent(s)
		if err != nil {
			require.ErrorIs(t, err, ErrTraceparent)
			return
		}
		again, err := ParseTraceparent(tc.String())
		require.NoError(t, err)
		require.Equal(t, tc, again)
		require.Equal(t, tc.TraceID, TraceID(s))
	})
}
