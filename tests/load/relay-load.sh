#!/usr/bin/env bash
# Relay load run (issue #6): Postfix's smtp-source sends N messages over C parallel sessions
# to a server on loopback whose only rule relays them to one smarthost, Postfix's smtp-sink.
# We time from the first message sent until the sink has received all N, and count the SMTP
# sessions the sink accepted: connection reuse must show far fewer connections than messages.
#
#   tests/load/relay-load.sh [-n MESSAGES] [-c SESSIONS] [-s SIZE_BYTES] [ours|opensmtpd|both]
#
# The sink's counters (smtp-sink -c: sess= ended sessions, mesg= messages) are read after the
# server stopped, so that sessions kept open for reuse have ended and are counted too.
# Needs root only for the OpenSMTPD side (REFERENCE.md §6); smtp-sink drops to nobody as root.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

messages=2000; sessions=20; size=4096; which=ours
while getopts "n:c:s:" opt; do
  case $opt in n) messages=$OPTARG;; c) sessions=$OPTARG;; s) size=$OPTARG;; *) exit 2;; esac
done
shift $((OPTIND - 1)); [ $# -gt 0 ] && which=$1

# The sink's last counter line, as "SESSIONS MESSAGES" (0 0 before the first event).
sink_counts() {
  { tr '\r' '\n' < "$1" 2>/dev/null || true; } | awk -F'[= ]' '/^sess=/ { s = $2; m = $6 } END { print s + 0, m + 0 }'
}

start_sink() {
  local work=$1 port=$2 as=()
  [ "$(id -u)" = 0 ] && as=(-u nobody)
  "$smtp_sink" "${as[@]}" -c "127.0.0.1:$port" 256 > "$work/sink.out" 2>&1 &
  sink_pid=$!; pids+=("$sink_pid")
  wait_port "$port"
}

# Sends, waits (bounded) until the sink has every message, stops the server with STOP (a
# function), then reads the sink's session count; prints one result line.
measure() {
  local name=$1 port=$2 work=$3 stop=$4
  local start accepted received n=0 counts connections
  start=$(now)
  send "$port" "$messages" "$sessions" "$size" -d
  accepted=$(now)
  for _ in $(seq 1 3000); do
    read -r _ n <<< "$(sink_counts "$work/sink.out")"; [ "$n" -ge "$messages" ] && break; sleep 0.1
  done
  received=$(now)
  "$stop" "$work"
  sleep 1
  counts=$(sink_counts "$work/sink.out"); connections=${counts% *}
  awk -v name="$name" -v m="$messages" -v n="$n" -v s="$start" -v a="$accepted" -v d="$received" -v c="$sessions" -v z="$size" -v k="$connections" 'BEGIN {
    printf "%-10s %d msgs x %d B in over %d sessions: accepted %.0f msg/s (%.2f s); relayed %d to the sink in %.2f s = %.0f msg/s over %d connections (%.0f msgs per connection)\n",
      name, m, z, c, m / (a - s), a - s, n, d - s, n / (d - s), k, (k > 0 ? n / k : 0) }'
}

run_ours() {
  local work port sink
  work=$(mktemp -d /tmp/smtpd-relay-load.XXXXXX); port=$(free_port); sink=$(free_port)
  start_sink "$work" "$sink"
  cat > "$work/smtpd.yaml" <<YAML
server: { hostname: load.test, limits: { maxMessagesPerSession: 100000 } }   # smtp-source -d
queue: { path: $work/queue }
logging: { level: warning }
listeners: [ { name: mx, address: "127.0.0.1:$port" } ]
actions: { relay: { relay: { host: "smtp+notls://127.0.0.1:$sink" } } }
rules: [ { from: any, for: { domain: [example.test] }, action: relay } ]
YAML
  start_ours "$work/smtpd.yaml" "$work/smtpd.log" "$port"
  measure ours "$port" "$work" stop_ours
  kill "$sink_pid" 2>/dev/null || true
  rm -rf "$work"
}

run_opensmtpd() {
  local work port sink
  work=$(mktemp -d /tmp/opensmtpd-relay-load.XXXXXX); port=$(free_port); sink=$(free_port)
  start_sink "$work" "$sink"
  cat > "$work/smtpd.conf" <<CONF
smtp limit max-mails 100000
listen on 127.0.0.1 port $port
action "relay" relay host "smtp+notls://127.0.0.1:$sink"
match from any for domain "example.test" action "relay"
CONF
  start_opensmtpd "$work" "$port" || return 0
  measure opensmtpd "$port" "$work" stop_opensmtpd
  kill "$sink_pid" 2>/dev/null || true
  rm -rf "$work"
}

run_selected "$which"
