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
source "$(dirname "$0")/lib.sh"
messages=2000; sessions=20; size=4096; which=both; reuse=()
while getopts "n:c:s:d" opt; do
  case $opt in n) messages=$OPTARG;; c) sessions=$OPTARG;; s) size=$OPTARG;; d) reuse=(-d);; *) exit 2;; esac
done
shift $((OPTIND - 1)); [ $# -gt 0 ] && which=$1

count_new() { { find "$1" -path '*/new/*' -type f 2>/dev/null || true; } | wc -l; }

# Sends, then waits (bounded) until every message is in a maildir; prints one result line.
measure() {
  local name=$1 port=$2 maildirs=$3
  local start accepted delivered n=0
  start=$(now)
  send "$port" "$messages" "$sessions" "$size" "${reuse[@]}"
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
  local work port
  work=$(mktemp -d /tmp/smtpd-load.XXXXXX); port=$(free_port)
  cat > "$work/smtpd.yaml" <<YAML
server: { hostname: load.test, limits: { maxMessagesPerSession: 100000 } }   # smtp-source -d
queue: { path: $work/queue }
logging: { level: warning }
listeners: [ { name: mx, address: "127.0.0.1:$port" } ]
actions: { local: { maildir: { path: "$work/mail/{user}/Maildir" } } }
rules: [ { from: any, for: { domain: [example.test] }, action: local } ]
YAML
  start_ours "$work/smtpd.yaml" "$work/smtpd.log" "$port"
  measure ours "$port" "$work/mail"
  stop_ours
  rm -rf "$work"
}

run_opensmtpd() {
  local work port
  work=$(mktemp -d /tmp/opensmtpd-load.XXXXXX); port=$(free_port)
  mkdir -p "$work/mail"; chmod 1777 "$work/mail"
  chmod 755 "$work"   # the virtual user (nobody) writes the maildir below it
  cat > "$work/smtpd.conf" <<CONF
table vusers { "@example.test" = "nobody" }
listen on 127.0.0.1 port $port
action "local" maildir "$work/mail/%{user.username}/Maildir" virtual <vusers>
match from any for domain "example.test" action "local"
CONF
  start_opensmtpd "$work" "$port" || return 0
  measure opensmtpd "$port" "$work/mail"
  stop_opensmtpd "$work"
  rm -rf "$work"
}

run_selected "$which"
