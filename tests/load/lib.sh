# Shared helpers of the load scripts (sourced, not run): Postfix's smtp-source/smtp-sink taken
# from the Debian package, child processes that never outlive the run, ports, timing, and how
# to start our smtpd (Release build) and Debian's OpenSMTPD privately.
#
# After sourcing: $root (the repository), $smtp_source, $smtp_sink, and the functions below.

cd "$(dirname "${BASH_SOURCE[0]}")/../.."
root=$(pwd)

tools="$root/.tools"
smtp_source="$tools/postfix/usr/sbin/smtp-source"
smtp_sink="$tools/postfix/usr/sbin/smtp-sink"
if [ ! -x "$smtp_source" ] || [ ! -x "$smtp_sink" ]; then
  # Postfix conflicts with OpenSMTPD as a package: take only its load tools.
  mkdir -p "$tools/postfix" && (cd "$tools" && apt-get download postfix >/dev/null && dpkg -x postfix_*.deb postfix && rm -f postfix_*.deb)
fi
export LD_LIBRARY_PATH="$tools/postfix/usr/lib/postfix"

# Whatever happens (an error, a timeout, Ctrl-C), no server outlives the run.
pids=()
# "|| true": set -e holds in the trap too, and pkill -P finds no child for most pids.
cleanup() { for p in "${pids[@]}"; do pkill -P "$p" 2>/dev/null || true; kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() { /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() { for _ in $(seq 1 300); do (exec 3<>/dev/tcp/127.0.0.1/$1) 2>/dev/null && return 0; sleep 0.1; done; echo "port $1 never opened" >&2; return 1; }
now() { date +%s.%N; }

# Runs smtp-source in the background and waits for it, so that a signal interrupts at once.
# Usage: send PORT MESSAGES SESSIONS SIZE [smtp-source options...]
send() {
  local port=$1 messages=$2 sessions=$3 size=$4; shift 4
  "$smtp_source" "$@" -s "$sessions" -m "$messages" -l "$size" -f sender@example.test -t user@example.test "127.0.0.1:$port" &
  pids+=("$!"); wait "$!"
}

# Builds and starts our smtpd on CONFIG (output to LOG) and waits for PORT; sets $ours_pid.
start_ours() {
  local config=$1 log=$2 port=$3
  dotnet build src/SmtpServer -c Release -nologo -v q -clp:ErrorsOnly >/dev/null
  dotnet src/SmtpServer/bin/Release/net10.0/smtpd.dll -c "$config" > "$log" 2>&1 &
  ours_pid=$!; pids+=("$ours_pid")
  wait_port "$port"
}

# Stops what start_ours started (SIGTERM: a graceful stop, sessions end with QUIT).
stop_ours() { kill "$ours_pid" 2>/dev/null; wait "$ours_pid" 2>/dev/null || true; }

# Starts Debian's OpenSMTPD on WORK/smtpd.conf, as root in its own mount namespace so that its
# compiled-in /var/spool/smtpd and /run are private (REFERENCE.md §6), and waits for PORT;
# sets $opensmtpd_pid. Returns 1 when it is not installed.
start_opensmtpd() {
  local work=$1 port=$2
  command -v /usr/sbin/smtpd >/dev/null || { echo "opensmtpd: not installed (apt-get install opensmtpd)"; return 1; }
  mkdir -p "$work/spool" "$work/run"
  printf "nameserver 127.0.0.1\nlookup file\n" > "$work/resolv.conf"   # no rDNS stalls (REFERENCE.md §6)
  unshare -m --propagation private bash -c "
    mount --bind '$work/spool' /var/spool && mount --bind '$work/run' /run &&
    mount --bind '$work/resolv.conf' /etc/resolv.conf &&
    exec /usr/sbin/smtpd -d -f '$work/smtpd.conf'" > "$work/smtpd.log" 2>&1 &
  opensmtpd_pid=$!; pids+=("$opensmtpd_pid")
  wait_port "$port"
}

stop_opensmtpd() {
  local work=$1
  kill "$opensmtpd_pid" 2>/dev/null; wait "$opensmtpd_pid" 2>/dev/null || true
  pkill -f "smtpd -d -f $work/smtpd.conf" 2>/dev/null || true
}

# Runs the script's run_ours, run_opensmtpd or both, as its last argument says.
run_selected() {
  case $1 in
    ours) run_ours ;;
    opensmtpd) run_opensmtpd ;;
    both) run_ours; run_opensmtpd ;;
    *) echo "unknown server '$1' (ours, opensmtpd or both)" >&2; return 2 ;;
  esac
}
