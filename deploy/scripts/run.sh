#!/usr/bin/env bash
# Starts the whole pipeline on loopback: NATS (JetStream, nats.conf),
# ClickHouse (native protocol on 9000), keyservice, OCR workers, analytics
# and the ingress on http://127.0.0.1:8080. A NATS or ClickHouse already
# listening on its port is reused. Ctrl-C stops everything this started.
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$(pwd)
data=$root/.data
bin=$root/.bin
mkdir -p "$data/logs"

http_addr=${OCR_HTTP_ADDR:-127.0.0.1:8080}
pids=()
started_clickhouse=0

cleanup() {
  trap - EXIT INT TERM
  echo
  echo "stopping..."
  for ((i = ${#pids[@]} - 1; i >= 0; i--)); do
    kill -TERM "${pids[i]}" 2>/dev/null || true
    wait "${pids[i]}" 2>/dev/null || true
  done
  if ((started_clickhouse)); then
    deploy/scripts/clickhouse.sh stop "$data/clickhouse" >/dev/null 2>&1 || true
  fi
  echo "stopped"
}
trap cleanup EXIT
trap 'cleanup; exit 0' INT TERM

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

wait_port() { # wait_port <port> <name> <log>
  for _ in $(seq 1 100); do
    port_open "$1" && return 0
    sleep 0.1
  done
  echo "$2 did not start; see $3" >&2
  tail -n 20 "$3" >&2
  exit 1
}

# The root key is the administrator's: from OCR_ROOT_KEY, else the one kept
# under .data/, else a new one.
if [ -z "${OCR_ROOT_KEY:-}" ]; then
  if [ ! -s "$data/root-key" ]; then
    (umask 077 && printf 'root_%s\n' "$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')" >"$data/root-key")
    echo "generated a root key in .data/root-key"
  fi
  OCR_ROOT_KEY=$(cat "$data/root-key")
fi
export OCR_ROOT_KEY

# NATS users (nats.conf): one password per user, generated on the first run
# into .data/nats-passwords (mode 600) and exported for nats-server, which
# reads them from its environment. Each service connects as its own user.
nats_users=(admin keyservice worker analytics ingress producer sys)
if [ ! -s "$data/nats-passwords" ]; then
  (umask 077 && for u in "${nats_users[@]}"; do
    printf 'OCR_NATS_%s_PASSWORD=%s\n' "${u^^}" "$(head -c 18 /dev/urandom | od -An -tx1 | tr -d ' \n')"
  done >"$data/nats-passwords")
  echo "generated NATS passwords in .data/nats-passwords"
fi
set -a
# shellcheck source=/dev/null
. "$data/nats-passwords"
set +a
nats_url() { # nats_url <user> <password>: the service URL with credentials
  if ((nats_auth)); then echo "nats://$1:$2@127.0.0.1:4222"; else echo "nats://127.0.0.1:4222"; fi
}

# A NATS already on 4222 is reused. Its first line (INFO) says whether it
# requires authentication: if so it is taken to run this nats.conf (an
# earlier `make run`) and the services use their users, else (a plain
# `nats-server -js` for development) they connect without credentials.
nats_auth=1
if port_open 4222; then
  info=$(exec 3<>/dev/tcp/127.0.0.1/4222 && timeout 2 head -n 1 <&3 || true)
  case $info in
    *'"auth_required":true'*) echo "reusing the NATS server on 127.0.0.1:4222 with the users of nats.conf" ;;
    *) nats_auth=0; echo "reusing the NATS server on 127.0.0.1:4222 without authentication (it must be v2.12 or newer with JetStream)" ;;
  esac
else
  # Each child runs in its own session, so a terminal's Ctrl-C reaches only
  # this script, which then stops them in order: services first, NATS last.
  setsid "$bin/nats-server" -c nats.conf -sd "$data/nats" >"$data/logs/nats.log" 2>&1 &
  pids+=($!)
  wait_port 4222 "nats-server" "$data/logs/nats.log"
  echo "NATS on 127.0.0.1:4222 with a user per service (JetStream state in .data/nats)"
fi

if port_open 9000; then
  echo "reusing the ClickHouse server on 127.0.0.1:9000"
else
  deploy/scripts/clickhouse.sh start 9000 "$data/clickhouse" >/dev/null
  started_clickhouse=1
  echo "ClickHouse on 127.0.0.1:9000 (data in .data/clickhouse)"
fi

export OCR_CLICKHOUSE_ADDR=127.0.0.1:9000 OCR_HTTP_ADDR=$http_addr
# Verification mails (OCR_EMAIL_VERIFICATION=on without OCR_SMTP_ADDR) land here.
export OCR_OUTBOX_DIR=${OCR_OUTBOX_DIR:-$data/outbox}
export OMP_THREAD_LIMIT=1
declare -A nats_password=([keyservice]=$OCR_NATS_KEYSERVICE_PASSWORD [ocr-worker]=$OCR_NATS_WORKER_PASSWORD
  [analytics]=$OCR_NATS_ANALYTICS_PASSWORD [ingress]=$OCR_NATS_INGRESS_PASSWORD)
for s in keyservice ocr-worker analytics ingress; do
  OCR_NATS_URL=$(nats_url "$s" "${nats_password[$s]}") setsid "$bin/$s" >>"$data/logs/$s.log" 2>&1 &
  pids+=($!)
done
# The services have their passwords; nothing else started from here needs them.
unset "${!OCR_NATS_@}"

ready=0
for _ in $(seq 1 300); do
  if curl -fsS "http://$http_addr/readyz" >/dev/null 2>&1; then ready=1; break; fi
  sleep 0.2
done
if ((!ready)); then
  echo "the pipeline did not become ready in 60 s; /readyz says:" >&2
  curl -sS "http://$http_addr/readyz" >&2 || true
  for s in keyservice ocr-worker analytics ingress; do echo "--- $s" >&2; tail -n 5 "$data/logs/$s.log" >&2; done
  exit 1
fi

go run ./e2e/cmd/sampleimage "$data/sample.png" >/dev/null

cat <<MSG

OCR platform ready on http://$http_addr   (logs: .data/logs/, root key: .data/root-key,
NATS users' passwords: .data/nats-passwords, mail outbox: $OCR_OUTBOX_DIR)

1. Get an API key:
   KEY=\$(curl -s -X POST http://$http_addr/signup -H 'Content-Type: application/json' \\
     -d '{"email":"ada@example.com","name":"Ada"}' | sed -n 's/.*"key":"\([^"]*\)".*/\1/p'); echo \$KEY

2. OCR an image (a sample was drawn for you at .data/sample.png):
   curl -s -X POST http://$http_addr/upload -H "Authorization: Bearer \$KEY" -F sampleFile=@.data/sample.png

Metrics and probes (/metrics, /livez, /readyz) on each service's ops port:
   keyservice 127.0.0.1:9101, ocr-worker 127.0.0.1:9102, analytics 127.0.0.1:9103, ingress 127.0.0.1:9104

Press Ctrl-C to stop everything this started.
MSG

# Stay up until Ctrl-C or until a process dies. (A foreground sleep, unlike
# `wait`, lets the INT trap run as soon as Ctrl-C arrives.)
while :; do
  for p in "${pids[@]}"; do
    if ! kill -0 "$p" 2>/dev/null; then
      echo "a process exited unexpectedly; see .data/logs/" >&2
      exit 1
    fi
  done
  sleep 1
done
