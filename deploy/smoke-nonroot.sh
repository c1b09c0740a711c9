#!/usr/bin/env bash
# The container image's contents without a Docker engine (issue 7): publishes smtpd and smtpctl
# the way deploy/Dockerfile does, lays them out like the image (read-only /app, config at
# $SMTPD_CONFIG, a work dir owned by an unprivileged user), and runs README's quick start as that
# user: 220 banner, swaks --to someone@localhost, the message in ./var/mail/someone/Maildir/new,
# smtpctl show queue over the admin socket, SIGTERM, exit 0 in time, never uid 0.
# Prints one line "smoke-nonroot: ok ..." or "smoke-nonroot: FAIL ..."; exits non-zero on failure.
# Run as root (switches to $SMOKE_USER, default nobody); as any other user it runs as that user.
set -uo pipefail
cd "$(dirname "$0")/.."

user=${SMOKE_USER:-nobody}
shutdown_timeout=10            # server.shutdownTimeout for this run, in seconds
tmp="" pid="" log=""
start=$SECONDS

fail() {
  echo "smoke-nonroot: FAIL: $*"
  if [ -n "$log" ] && [ -s "$log" ]; then echo "--- smtpd log (last 30 lines)"; tail -n 30 "$log"; fi
  exit 1
}
cleanup() {
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then kill -KILL "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; fi
  [ -n "$tmp" ] && rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

command -v swaks >/dev/null 2>&1 || fail "swaks is not installed"
dotnet=$(command -v dotnet) || fail "dotnet is not installed"

# The unprivileged user, and how to become it.
if [ "$(id -u)" -eq 0 ]; then
  uid=$(id -u "$user" 2>/dev/null) || fail "no user $user"
  gid=$(id -g "$user")
  [ "$uid" -ne 0 ] || fail "SMOKE_USER $user is root"
  as_user=(setpriv --reuid="$uid" --regid="$gid" --init-groups --)
else
  uid=$(id -u); gid=$(id -g); user=$(id -un)
  as_user=()
fi

tmp=$(mktemp -d /tmp/smtpd-smoke.XXXXXX) || fail "mktemp"
chmod 755 "$tmp"               # mktemp's 0700 would keep the user out of /app
app="$tmp/app"                 # the image's /app: root-owned, readable by all
etc="$tmp/etc"                 # the image's /etc/smtpd: root-owned, readable by all
work="$tmp/srv"                # the image's WORKDIR /srv/smtpd: the only place the user writes
log="$tmp/smtpd.log"

# Publish as the Dockerfile does: both projects, Release, into one directory.
for project in src/SmtpServer/SmtpServer.csproj src/SmtpServer.Cli/SmtpServer.Cli.csproj; do
  out=$(dotnet publish "$project" -c Release -o "$app" -nologo 2>&1) || { echo "$out" | tail -n 20; fail "dotnet publish $project"; }
done
[ -f "$app/smtpd.dll" ] && [ -f "$app/smtpctl.dll" ] || fail "publish output lacks smtpd.dll or smtpctl.dll"
chmod -R a+rX,go-w "$app"
mkdir -p "$etc" "$work"
install -m 644 config/smtpd.yaml "$etc/smtpd.yaml"   # the README's quick-start configuration
chown -R "$uid:$gid" "$work"
chmod 755 "$work"
: >"$log"

# A free unprivileged port on 127.0.0.1.
port=""
for _ in $(seq 1 50); do
  candidate=$((20000 + RANDOM % 40000))
  if ! (exec 3<>"/dev/tcp/127.0.0.1/$candidate") 2>/dev/null; then port=$candidate; break; fi
done
[ -n "$port" ] || fail "no free port"

# The image's environment (ENV of deploy/Dockerfile), its WORKDIR, plus this run's listener.
run_env=(env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME="$work"
  SMTPD_CONFIG="$etc/smtpd.yaml" DOTNET_gcServer=0 DOTNET_NOLOGO=1
  SMTPD_LISTENERS__0__ADDRESS="127.0.0.1:$port" SMTPD_SERVER__SHUTDOWNTIMEOUT="${shutdown_timeout}s")
[ -n "${DOTNET_ROOT:-}" ] && run_env+=(DOTNET_ROOT="$DOTNET_ROOT")
"${as_user[@]}" "${run_env[@]}" "$dotnet" --list-runtimes 2>/dev/null | grep -q '^Microsoft.AspNetCore.App ' \
  || fail "$user cannot run $dotnet with the ASP.NET runtime (a dotnet under /root is not usable by other users)"
in_work() { (cd "$work" && "${as_user[@]}" "${run_env[@]}" "$@"); }

# Every uid of the process (real, effective, saved, filesystem) must be the user's.
check_uid() {
  local uids
  uids=$(awk '/^Uid:/ {print $2, $3, $4, $5}' "/proc/$pid/status" 2>/dev/null) || return 0
  [ -z "$uids" ] && return 0
  for u in $uids; do [ "$u" -eq "$uid" ] || fail "smtpd (pid $pid) has uid $u ($uids), expected $uid"; done
}

cd "$work" || fail "cd $work"
"${as_user[@]}" "${run_env[@]}" "$dotnet" "$app/smtpd.dll" >>"$log" 2>&1 &
pid=$!
cd - >/dev/null || fail "cd back"

# Wait (bounded) for the 220 banner.
banner=""
for _ in $(seq 1 150); do
  kill -0 "$pid" 2>/dev/null || fail "smtpd exited before listening"
  check_uid
  if { exec 3<>"/dev/tcp/127.0.0.1/$port"; } 2>/dev/null; then
    IFS= read -r -t 5 banner <&3
    exec 3<&- 3>&-
    break
  fi
  sleep 0.2
done
[[ "$banner" == 220* ]] || fail "no 220 banner on 127.0.0.1:$port (got '${banner%$'\r'}')"

# README's quick start: swaks, then the message in var/mail/someone/Maildir/new.
swaks_out=$(in_work swaks --server "127.0.0.1:$port" --to someone@localhost --from me@localhost \
  --timeout 15 2>&1) || { echo "$swaks_out" | tail -n 15; fail "swaks failed"; }
queue_id=$(sed -n 's/^<-  250 2\.0\.0 \([^ ]*\) .*/\1/p' <<<"$swaks_out" | tail -n 1)
maildir="$work/var/mail/someone/Maildir/new"
delivered=""
for _ in $(seq 1 50); do
  delivered=$(find "$maildir" -maxdepth 1 -type f 2>/dev/null | head -n 1)
  [ -n "$delivered" ] && break
  sleep 0.1
done
[ -n "$delivered" ] || fail "no message in var/mail/someone/Maildir/new within 5 s"
[ "$(stat -c %u "$delivered")" -eq "$uid" ] || fail "delivered file not owned by $user"
grep -q '^To: someone@localhost' "$delivered" || fail "delivered message lacks 'To: someone@localhost'"
check_uid

# smtpctl over the admin socket (admin.socket of the config), as the image's smtpctl wrapper runs it.
socket="$work/var/run/smtpd.sock"
[ -S "$socket" ] || fail "admin socket $socket missing"
[ "$(stat -c '%a %u' "$socket")" = "600 $uid" ] || fail "admin socket is $(stat -c '%a %U' "$socket"), expected 600 $user"
# The message was delivered, so it leaves the queue (bounded: removal follows the Maildir rename).
[ -n "$queue_id" ] || fail "no queue id in swaks' 250 reply"
for _ in $(seq 1 10); do
  queue_out=$(in_work "$dotnet" "$app/smtpctl.dll" show queue 2>&1) || fail "smtpctl show queue: $queue_out"
  grep -q "$queue_id" <<<"$queue_out" || break
  sleep 0.3
done
grep -q "$queue_id" <<<"$queue_out" && fail "delivered message $queue_id still in smtpctl show queue: $queue_out"
# show queue falls back to reading the spool when no server answers: it must have used the socket.
grep -q "server not running" <<<"$queue_out" && fail "smtpctl did not reach the server over $socket: $queue_out"
check_uid

# Nothing outside the work dir belongs to the user: app and config stayed read-only to it.
stray=$(find "$tmp" -path "$work" -prune -o -user "$uid" -print | head -n 3)
[ -z "$stray" ] || fail "files outside the work dir owned by $user: $stray"

# SIGTERM: a clean exit (code 0) within the shutdown timeout.
kill -TERM "$pid"
stopped=""
deadline=$((SECONDS + shutdown_timeout + 5))
while [ "$SECONDS" -lt "$deadline" ]; do
  if ! kill -0 "$pid" 2>/dev/null || grep -q '^State:[[:space:]]*Z' "/proc/$pid/status" 2>/dev/null; then stopped=1; break; fi
  sleep 0.1
done
[ -n "$stopped" ] || fail "smtpd still running ${shutdown_timeout}+5 s after SIGTERM"
wait "$pid"; code=$?
pid=""
[ "$code" -eq 0 ] || fail "smtpd exited with code $code after SIGTERM"

echo "smoke-nonroot: ok (published smtpd+smtpctl as $user uid $uid on 127.0.0.1:$port: 220, swaks delivered ${queue_id:-?} to Maildir/new, smtpctl show queue ok, SIGTERM exit 0; $((SECONDS - start)) s)"
