#!/usr/bin/env bash
# Start and stop a private, single-node ClickHouse for development and tests.
#
#   clickhouse.sh start <tcp_port> <dir>   write a config into <dir>, start the
#                                          server in the background, wait until
#                                          it answers on 127.0.0.1:<tcp_port>
#   clickhouse.sh stop <dir>               stop the server started in <dir>
#                                          (TERM, then KILL); safe to repeat
#
# Only the native protocol is opened, on 127.0.0.1 only; the HTTP and
# interserver ports are not configured at all, so instances on different TCP
# ports never clash. The default user has no password and is reachable from
# localhost only. Data, logs and the pid file live under <dir>.
#
# Environment: CLICKHOUSE_SERVER and CLICKHOUSE_CLIENT override the binaries
# (default: clickhouse-server and clickhouse-client on PATH, then
# /usr/sbin/clickhouse-server), CLICKHOUSE_START_TIMEOUT the seconds to wait
# for start-up (default 60), CLICKHOUSE_STOP_TIMEOUT the seconds to wait after
# TERM before KILL (default 30).
set -euo pipefail

script_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
template_dir=$(cd "$script_dir/../clickhouse" && pwd)

usage() {
	echo "usage: $0 start <tcp_port> <dir> | stop <dir>" >&2
	exit 2
}

die() {
	echo "clickhouse.sh: $*" >&2
	exit 1
}

find_bin() { # find_bin <override> <name> [fallback path]
	local override=$1 name=$2 fallback=${3:-}
	if [[ -n $override ]]; then
		echo "$override"
	elif command -v "$name" >/dev/null 2>&1; then
		command -v "$name"
	elif [[ -n $fallback && -x $fallback ]]; then
		echo "$fallback"
	else
		die "$name not found (install clickhouse-server and clickhouse-client)"
	fi
}

xml_escape() {
	local s=$1
	s=${s//&/&amp;}
	s=${s//</&lt;}
	s=${s//>/&gt;}
	printf '%s' "$s"
}

# is_ours <pid>: the pid is alive and is a clickhouse server (guards against
# a stale pid file whose number was reused by another process).
is_ours() {
	local pid=$1
	[[ -n $pid && -r /proc/$pid/cmdline ]] || return 1
	tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q clickhouse
}

# client_ok <client> <port>: the server answers a query. Bounded in time,
# because something else listening on the port may accept and never answer.
client_ok() {
	timeout 10 "$1" --host 127.0.0.1 --port "$2" --connect_timeout=2 --receive_timeout=5 \
		-q 'SELECT 1' >/dev/null 2>&1
}

port_open() { # port_open <port>: something listens on 127.0.0.1:<port>
	(exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

show_log() {
	local dir=$1 f
	for f in "$dir/log/clickhouse-server.err.log" "$dir/log/clickhouse-server.log" "$dir/log/stdout.log"; do
		if [[ -s $f ]]; then
			echo "---- tail of $f" >&2
			tail -n 40 "$f" >&2
		fi
	done
}

write_config() { # write_config <port> <dir>
	local port=$1 dir=$2 tmpl escaped
	tmpl=$(<"$template_dir/config.xml.tmpl")
	escaped=$(xml_escape "$dir")
	tmpl=${tmpl//@DIR@/$escaped}
	tmpl=${tmpl//@TCP_PORT@/$port}
	printf '%s\n' "$tmpl" >"$dir/config.xml"
	cp "$template_dir/users.xml" "$dir/users.xml"
}

cmd_start() {
	local port=$1 dir=$2
	[[ $port =~ ^[0-9]+$ && $port -ge 1 && $port -le 65535 ]] || die "bad tcp port: $port"
	mkdir -p "$dir"
	dir=$(cd "$dir" && pwd)
	local server client timeout pidfile
	server=$(find_bin "${CLICKHOUSE_SERVER:-}" clickhouse-server /usr/sbin/clickhouse-server)
	client=$(find_bin "${CLICKHOUSE_CLIENT:-}" clickhouse-client)
	timeout=${CLICKHOUSE_START_TIMEOUT:-60}
	pidfile=$dir/clickhouse.pid

	if [[ -f $pidfile ]] && is_ours "$(<"$pidfile")"; then
		if client_ok "$client" "$port"; then
			echo "clickhouse already running in $dir (pid $(<"$pidfile")) on 127.0.0.1:$port"
			return 0
		fi
		die "a server from $dir is running (pid $(<"$pidfile")) but does not answer on port $port; stop it first"
	fi
	if port_open "$port"; then
		die "127.0.0.1:$port is already in use by another process"
	fi

	mkdir -p "$dir/data" "$dir/tmp" "$dir/user_files" "$dir/format_schemas" "$dir/log"
	write_config "$port" "$dir"

	# setsid detaches the server from the caller's process group, so a
	# Ctrl-C in `make run` or the end of a CI step reaches it only through
	# `stop`. Started from a non-interactive shell, setsid does not fork, so
	# $! is the server's pid. The working directory is <dir> because the
	# server writes its preprocessed config next to config.xml.
	(cd "$dir" && exec setsid "$server" --config-file="$dir/config.xml" \
		</dev/null >"$dir/log/stdout.log" 2>&1) &
	local pid=$!
	echo "$pid" >"$pidfile"

	local deadline=$((SECONDS + timeout))
	until client_ok "$client" "$port"; do
		if ! is_ours "$pid"; then
			echo "clickhouse.sh: server exited during start-up" >&2
			show_log "$dir"
			rm -f "$pidfile"
			exit 1
		fi
		if ((SECONDS >= deadline)); then
			echo "clickhouse.sh: server did not answer on 127.0.0.1:$port within ${timeout}s" >&2
			show_log "$dir"
			cmd_stop "$dir" >/dev/null || true
			exit 1
		fi
		sleep 0.2
	done
	echo "clickhouse running in $dir (pid $pid) on 127.0.0.1:$port"
}

cmd_stop() {
	local dir=$1 pidfile pid timeout
	pidfile=$dir/clickhouse.pid
	timeout=${CLICKHOUSE_STOP_TIMEOUT:-30}
	if [[ ! -f $pidfile ]]; then
		echo "clickhouse not running in $dir (no pid file)"
		return 0
	fi
	pid=$(<"$pidfile")
	if ! is_ours "$pid"; then
		echo "clickhouse not running in $dir (stale pid file)"
		rm -f "$pidfile"
		return 0
	fi
	kill -TERM "$pid" 2>/dev/null || true
	local deadline=$((SECONDS + timeout))
	while is_ours "$pid"; do
		if ((SECONDS >= deadline)); then
			echo "clickhouse.sh: pid $pid still alive after ${timeout}s, sending KILL" >&2
			kill -KILL "$pid" 2>/dev/null || true
			sleep 0.5
			break
		fi
		sleep 0.2
	done
	rm -f "$pidfile"
	echo "clickhouse stopped in $dir"
}

case ${1:-} in
start)
	[[ $# -eq 3 ]] || usage
	cmd_start "$2" "$3"
	;;
stop)
	[[ $# -eq 2 ]] || usage
	cmd_stop "$2"
	;;
*)
	usage
	;;
esac
