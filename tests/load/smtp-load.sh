#!/usr/bin/env bash
# Load run: Postfix's smtp-source sends N messages over C parallel sessions to a server on
# loopback; we time acceptance (smtp-source finished) and delivery (all files in the maildir).
# The same run is made against our smtpd and against Debian's OpenSMTPD on this machine.
#
#   tests/load/smtp-load.sh [-n MESSAGES] [-c SESSIONS] [-s SIZE_BYTES] [-d] [ours|opensmtpd|both]
#
# -d keeps each session open for many messages (smtp-source -d); without it every message
# is a new connection (a connection storm, where OpenSMTPD's listen backlog of 5 hurts it).
#
# Needs root only for the OpenSMTPD side (it must run as root, in its own mount namespace so its
# compiled-in /var/spool/smtpd and /run paths are private: REFERENCE.md §6).
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$(pwd)

messages=2000; sessions=20; size=4096; which=both; reuse=()
while getopts "n:c:s:d" opt; do
  case $opt in n) messages=$OPTARG;; c) sessions=$OPTARG;; s) size=$OPTARG;; d) reuse=(-d);; *) exit 2;; esac
done
shift $((OPTIND - 1)); [ $# -gt 0 ] && which=$1

tools="$root/.tools"
smtp_source="$tools/postfix/usr/sbin/smtp-source"
if [ ! -x "$smtp_source" ]; then
  # Postfix conflicts with OpenSMTPD as a package: take only its load tools.
  mkdir -p "$tools/postfix" && (cd "$tools" && apt-get download postfix >/dev/null && dpkg -x postfix_*.deb postfix && rm -f postfix_*.deb)
fi
export LD_LIBRARY_PATH="$tools/postfix/usr/lib/postfix"

# Whatever happens (an error, a timeout, Ctrl-C), no server outlives the run.
pids=()
cleanup() { for p in "${pids[@]}"; do pkill -P "$p" 2>/dev/null; kill "$p" 2>/dev/null; done; }
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() { /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() { for _ in $(seq 1 300); do (exec 3<>/dev/tcp/127.0.0.1/$1) 2>/dev/null && return 0; sleep 0.1; done; echo "port $1 never opened" >&2; return 1; }
now() { date +%s.%N; }
count_new() { { find "$1" -path '*/new/*' -type f 2>/dev/null || true; } | wc -l; }

# Sends, then waits (bounded) until every message is in a maildir; prints one result line.
measure() {
  local name=$1 port=$2 maildirs=$3
  local start accepted delivered n=0
  start=$(now)
  # In the background and waited for, so that a signal interrupts the run at once.
  "$smtp_source" "${reuse[@]}" -s "$sessions" -m "$messages" -l "$size" -f sender@example.test -t user@example.test "127.0.0.1:$port" &
  pids+=("$!"); wait "$!"
  accepted=$(now)
  for _ in $(seq 1 1200); do
    n=$(count_new "$maildirs"); [ "$n" -ge "$messages" ] && break; sleep 0.1
  done
  delivered=$(now)
  awk -v name="$name" -v m="$messages" -v n="$n" -v s="$start" -v a="$accepted" -v d="$delivered" -v c="$sessions" -v z="$size" -v r="${reuse:+ (reused)}" 'BEGIN {
    printf "%-10s %d msgs x %d B over %d sessions%s: accepted %.0f msg/s (%.2f s), delivered %d in %.2f s = %.0f msg/s\n",
      name, m, z, c, r, m / (a - s), a - s, n, d - s, n / (d - s) }'
}

run_ours() {
  local work port pid
  work=$(mktemp -d /tmp/smtpd-load.XXXXXX); port=$(free_port)
  dotnet build src/SmtpServer -c Release -nologo -v q -clp:ErrorsOnly >/dev/null
  cat > "$work/smtpd.yaml" <<YAML
server: { hostname: load.test }
queue: { path: $work/queue }
logging: { level: warning }
listeners: [ { name: mx, address: "127.0.0.1:$port" } ]
actions: { local: { maildir: { path: "$work/mail/{user}/Maildir" } } }
rules: [ { from: any, for: { domain: [example.test] }, action: local } ]
YAML
  dotnet src/SmtpServer/bin/Release/net10.0/smtpd.dll -c "$work/smtpd.yaml" > "$work/smtpd.log" 2>&1 &
  pid=$!; pids+=("$pid")
  wait_port "$port"
  measure ours "$port" "$work/mail"
  kill "$pid"; wait "$pid" 2>/dev/null || true
  rm -rf "$work"
}

run_opensmtpd() {
  local work port
  command -v /usr/sbin/smtpd >/dev/null || { echo "opensmtpd: not installed (apt-get install opensmtpd)"; return 0; }
  work=$(mktemp -d /tmp/opensmtpd-load.XXXXXX); port=$(free_port)
  mkdir -p "$work/spool" "$work/run" "$work/mail"; chmod 1777 "$work/mail"
  chmod 755 "$work"   # the virtual user (nobody) writes the maildir below it
  printf "nameserver 127.0.0.1\nlookup file\n" > "$work/resolv.conf"   # no rDNS stalls (REFERENCE.md §6)
  cat > "$work/smtpd.conf" <<CONF
table vusers { "@example.test" = "nobody" }
listen on 127.0.0.1 port $port
action "local" maildir "$work/mail/%{user.username}/Maildir" virtual <vusers>
match from any for domain "example.test" action "local"
CONF
  unshare -m --propagation private bash -c "
    mount --bind '$work/spool' /var/spool && mount --bind '$work/run' /run &&
    mount --bind '$work/resolv.conf' /etc/resolv.conf &&
    exec /usr/sbin/smtpd -d -f '$work/smtpd.conf'" > "$work/smtpd.log" 2>&1 &
  local pid=$!; pids+=("$pid")
  wait_port "$port"
  measure opensmtpd "$port" "$work/mail"
  kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null || true
  pkill -f "smtpd -d -f $work/smtpd.conf" 2>/dev/null || true
  rm -rf "$work"
}

case $which in
  ours) run_ours ;;
  opensmtpd) run_opensmtpd ;;
  both) run_ours; run_opensmtpd ;;
esac
