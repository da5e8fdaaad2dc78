package chstore

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ocrstack/ocrstack/analytics/internal/events"
	"github.com/ocrstack/ocrstack/analytics/internal/testenv"
)

// TestOpen checks that Open creates a missing database, accepts an existing
// one, and refuses a name that is not a plain identifier or an address
// where nothing answers.
func TestOpen(t *testing.T) {
	addr, db := testenv.ClickHouse(t)
	cases := []struct {
		name    string
		opts    Options
		wantErr error
		wantAny bool // some error, not a sentinel
	}{
		{name: "missing database created", opts: Options{Addr: addr, Database: db, Username: "default"}},
		{name: "existing database", opts: Options{Addr: addr, Database: db, Username: "default"}},
		{name: "bad name", opts: Options{Addr: addr, Database: "x; DROP DATABASE y", Username: "default"}, wantErr: ErrBadDatabase},
		{name: "nothing listening", opts: Options{Addr: closedAddr(t), Database: db, Username: "default", DialTimeout: time.Second}, wantAny: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			conn, err := Open(ctx, tc.opts)
			switch {
			case tc.wantErr != nil:
				require.ErrorIs(t, err, tc.wantErr)
				return
			case tc.wantAny:
				require.Error(t, err)
				return
			}
			require.NoError(t, err)
			defer conn.Close()
			var current string
			require.NoError(t, conn.QueryRow(ctx, "SELECT currentDatabase()").Scan(&current))
			require.Equal(t, db, current)
			// An empty batch inserts nothing and needs no table.
			require.NoError(t, NewWriter(conn).Insert(ctx, &events.Batch{}))
		})
	}
}

// closedAddr returns a loopback address where nothing listens.
func closedAddr(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	require.NoError(t, l.Close())
	return addr
}
