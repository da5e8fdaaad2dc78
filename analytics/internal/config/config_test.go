package config

import (
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestLoad checks that defaults apply when nothing is set, that every
// variable is read, and that every bad value is reported in one error.
func TestLoad(t *testing.T) {
	cases := []struct {
		name     string
		env      map[string]string
		want     Config
		wantErrs []string
	}{
		{
			name: "defaults",
			env:  map[string]string{},
			want: Config{
				NATSURL: "nats://127.0.0.1:4222", ClickHouseAddr: "127.0.0.1:9000",
				ClickHouseDatabase: "ocr", ClickHouseUsername: "default",
				BatchSize: 10000, FlushInterval: time.Second, ShutdownTimeout: 10 * time.Second,
				RollupInterval: time.Second, LogLevel: slog.LevelInfo, OpsAddr: "127.0.0.1:9103", Replicas: 1,
			},
		},
		{
			name: "everything set",
			env: map[string]string{
				"OCR_NATS_URL": "nats://nats:4222", "OCR_CLICKHOUSE_ADDR": "ch:9440",
				"OCR_CLICKHOUSE_DATABASE": "ocr_test", "OCR_CLICKHOUSE_USERNAME": "analytics",
				"OCR_CLICKHOUSE_PASSWORD": "secret", "OCR_ANALYTICS_BATCH_SIZE": "50",
				"OCR_ANALYTICS_FLUSH_INTERVAL": "250ms", "OCR_ANALYTICS_SHUTDOWN_TIMEOUT": "3s",
				"OCR_LOG_LEVEL": "debug", "OCR_CLICKHOUSE_CLUSTER": "ocr-cluster", "OCR_ANALYTICS_ROLLUP_INTERVAL": "5s",
				"OCR_OPS_ADDR": "0.0.0.0:9200", "OCR_NATS_REPLICAS": "3",
			},
			want: Config{
				NATSURL: "nats://nats:4222", ClickHouseAddr: "ch:9440",
				ClickHouseDatabase: "ocr_test", ClickHouseUsername: "analytics", ClickHousePassword: "secret",
				BatchSize: 50, FlushInterval: 250 * time.Millisecond, ShutdownTimeout: 3 * time.Second,
				LogLevel: slog.LevelDebug, ClickHouseCluster: "ocr-cluster", RollupInterval: 5 * time.Second,
				OpsAddr: "0.0.0.0:9200", Replicas: 3,
			},
		},
		{
			name: "every bad value reported",
			env: map[string]string{
				"OCR_NATS_URL": "http://nats", "OCR_CLICKHOUSE_ADDR": "no-port",
				"OCR_CLICKHOUSE_DATABASE": "ocr; DROP", "OCR_ANALYTICS_BATCH_SIZE": "many",
				"OCR_ANALYTICS_FLUSH_INTERVAL": "1h", "OCR_ANALYTICS_SHUTDOWN_TIMEOUT": "soon",
				"OCR_LOG_LEVEL": "loud", "OCR_CLICKHOUSE_CLUSTER": "a b", "OCR_ANALYTICS_ROLLUP_INTERVAL": "1ms",
				"OCR_OPS_ADDR": "nowhere", "OCR_NATS_REPLICAS": "0",
			},
			wantErrs: []string{
				"OCR_NATS_URL", "OCR_CLICKHOUSE_ADDR", "OCR_CLICKHOUSE_DATABASE", "OCR_ANALYTICS_BATCH_SIZE",
				"OCR_ANALYTICS_FLUSH_INTERVAL", "OCR_ANALYTICS_SHUTDOWN_TIMEOUT", "OCR_LOG_LEVEL",
				"OCR_CLICKHOUSE_CLUSTER", "OCR_ANALYTICS_ROLLUP_INTERVAL", "OCR_OPS_ADDR", "OCR_NATS_REPLICAS",
			},
		},
		{
			name:     "batch size above the consumer's ack pending limit",
			env:      map[string]string{"OCR_ANALYTICS_BATCH_SIZE": "10001"},
			wantErrs: []string{"OCR_ANALYTICS_BATCH_SIZE 10001"},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Load(func(k string) string { return tc.env[k] })
			if len(tc.wantErrs) == 0 {
				require.NoError(t, err)
				require.Equal(t, tc.want, got)
				return
			}
			require.Error(t, err)
			require.True(t, errors.Is(err, ErrInvalid))
			for _, want := range tc.wantErrs {
				require.Contains(t, err.Error(), want)
			}
			lines := strings.Split(err.Error(), "\n")
			require.Len(t, lines, len(tc.wantErrs), "each problem reported once")
		})
	}
}
