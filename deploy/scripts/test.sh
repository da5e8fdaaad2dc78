#!/usr/bin/env bash
# Runs every test of the workspace with -race against real dependencies:
# a private ClickHouse on a free loopback port (stopped afterwards), NATS
# embedded in the tests, Tesseract through cgo.
set -euo pipefail
cd "$(dirname "$0")/../.."

free_port() {
  local p
  for _ in $(seq 1 100); do
    p=$((20000 + RANDOM % 20000))
    (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null || { echo "$p"; return; }
  done
  echo "no free port found" >&2; return 1
}

tmp=$(mktemp -d)
port=$(free_port)
cleanup() {
  deploy/scripts/clickhouse.sh stop "$tmp/clickhouse" >/dev/null 2>&1 || true
  rm -rf "$tmp"
}
trap cleanup EXIT
echo "starting a private ClickHouse on 127.0.0.1:$port"
deploy/scripts/clickhouse.sh start "$port" "$tmp/clickhouse"

export OCR_TEST_CLICKHOUSE_ADDR="127.0.0.1:$port"
# Tesseract's OpenMP threads thrash on small machines; the worker re-executes
# itself with this set, and tests that load Tesseract in-process do the same.
export OMP_THREAD_LIMIT=1
go vet work
go test -race -count=1 -timeout 45m work
