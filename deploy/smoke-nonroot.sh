#!/usr/bin/env bash
# The container image's contents without a Docker engine (issue 7): publishes smtpd and smtpctl
# the way deploy/Dockerfile does, lays them out like the image (read-only /app, config at
# $SMTPD_CONFIG, a work dir owned by an unprivileged user), and runs them as that user twice:
#  1. README's quick start (config/smtpd.yaml): 220 banner, swaks --to someone@localhost, the
#     message in ./var/mail/someone/Maildir/new, smtpctl show queue over the admin socket.
#  2. The image's own deploy/config/smtpd.yaml, changed only by the environment overrides an
#     operator would put in compose (ports, the volumes' paths, STARTTLS on submission with a
#     self-signed certificate): mail through port "25" and through "587" with STARTTLS lands in
#     the Maildir volume, and the Dockerfile's HEALTHCHECK command passes (and fails once stopped).
# Each run ends with SIGTERM: exit 0 within the shutdown timeout; no process is ever uid 0.
# Prints one line "smoke-nonroot: ok ..." or "smoke-nonroot: FAIL ..."; exits non-zero on failure.
# Run as root (switches to $SMOKE_USER, default nobody); as any other user it runs as that user.
set -uo pipefail
cd "$(dirname "$0")/.."

user=${SMOKE_USER:-nobody}
shutdown_timeout=10            # server.shutdownTimeout for these runs, in seconds
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
command -v openssl >/dev/null 2>&1 || fail "openssl is not installed"
command -v python3 >/dev/null 2>&1 || fail "python3 is not installed (reads the Dockerfile's HEALTHCHECK)"
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
work="$tmp/srv"                # WORKDIR /srv/smtpd of the quick-start run
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

# free_port: a free unprivileged port on 127.0.0.1, not one handed out before, in $free.
taken=" " free=""
free_port() {
  local candidate
  for _ in $(seq 1 50); do
    candidate=$((20000 + RANDOM % 40000))
    [[ "$taken" == *" $candidate "* ]] && continue
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$candidate") 2>/dev/null; then taken+="$candidate "; free=$candidate; return 0; fi
  done
  fail "no free port"
}

# The image's environment (ENV of deploy/Dockerfile) and nothing else from ours.
image_env=(env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin DOTNET_gcServer=0 DOTNET_NOLOGO=1)
[ -n "${DOTNET_ROOT:-}" ] && image_env+=(DOTNET_ROOT="$DOTNET_ROOT")
"${as_user[@]}" "${image_env[@]}" "$dotnet" --list-runtimes 2>/dev/null | grep -q '^Microsoft.AspNetCore.App ' \
  || fail "$user cannot run $dotnet with the ASP.NET runtime (a dotnet under /root is not usable by other users)"

# check_uid [started]: every uid of smtpd (real, effective, saved, filesystem) must be the user's.
# $pid is first the forked shell, then setpriv, then env: root until setpriv switches user, and
# none of them is the server. So the uids are judged once /proc/$pid/exe is the dotnet binary
# (exec'd only after the switch; it never execs again), and before that the check waits. With
# "started" (after the 220 banner, when the server must be running) the process must be dotnet:
# a check that never judged anything cannot pass.
dotnet_exe=$(readlink -f "$dotnet")
check_uid() {
  local started=${1:-} exe uids
  exe=$(readlink "/proc/$pid/exe" 2>/dev/null)
  if [ "$exe" != "$dotnet_exe" ]; then
    [ -z "$started" ] && return 0
    fail "pid $pid runs '${exe:-?}', not $dotnet_exe: cannot check the uid of smtpd"
  fi
  uids=$(awk '/^Uid:/ {print $2, $3, $4, $5}' "/proc/$pid/status" 2>/dev/null)
  if [ -z "$uids" ]; then
    [ -z "$started" ] && return 0
    fail "cannot read the uids of smtpd (pid $pid)"
  fi
  for u in $uids; do [ "$u" -eq "$uid" ] || fail "smtpd (pid $pid) has uid $u ($uids), expected $uid"; done
}

# start_smtpd DIR PORT VAR=VALUE...: smtpd as the user in DIR with the image's environment plus
# the given variables; returns once PORT answers 220 (bounded).
start_smtpd() {
  local dir=$1 port=$2 banner=""
  shift 2
  run_env=("${image_env[@]}" HOME="$dir" "$@")
  cd "$dir" || fail "cd $dir"
  "${as_user[@]}" "${run_env[@]}" "$dotnet" "$app/smtpd.dll" >>"$log" 2>&1 &
  pid=$!
  cd - >/dev/null || fail "cd back"
  for _ in $(seq 1 150); do
    kill -0 "$pid" 2>/dev/null || fail "smtpd exited before listening on $port"
    check_uid
    if { exec 3<>"/dev/tcp/127.0.0.1/$port"; } 2>/dev/null; then
      IFS= read -r -t 5 banner <&3
      exec 3<&- 3>&-
      break
    fi
    sleep 0.2
  done
  [[ "$banner" == 220* ]] || fail "no 220 banner on 127.0.0.1:$port (got '${banner%$'\r'}')"
  check_uid started
}

# A command as the user, in DIR, with the running server's environment.
in_dir() { local dir=$1; shift; (cd "$dir" && "${as_user[@]}" "${run_env[@]}" "$@"); }

# wait_delivered MAILDIR TO: the message for TO in MAILDIR/new (bounded), owned by the user.
wait_delivered() {
  local maildir=$1 to=$2 delivered=""
  for _ in $(seq 1 50); do
    delivered=$(grep -l "^To: $to" "$maildir"/* 2>/dev/null | head -n 1)
    [ -n "$delivered" ] && break
    sleep 0.1
  done
  [ -n "$delivered" ] || fail "no message to $to in $maildir within 5 s"
  [ "$(stat -c %u "$delivered")" -eq "$uid" ] || fail "delivered file $delivered not owned by $user"
}

# SIGTERM: a clean exit (code 0) within the shutdown timeout.
stop_smtpd() {
  local stopped="" code deadline=$((SECONDS + shutdown_timeout + 5))
  kill -TERM "$pid"
  while [ "$SECONDS" -lt "$deadline" ]; do
    if ! kill -0 "$pid" 2>/dev/null || grep -q '^State:[[:space:]]*Z' "/proc/$pid/status" 2>/dev/null; then stopped=1; break; fi
    sleep 0.1
  done
  [ -n "$stopped" ] || fail "smtpd still running ${shutdown_timeout}+5 s after SIGTERM"
  wait "$pid"; code=$?
  pid=""
  [ "$code" -eq 0 ] || fail "smtpd exited with code $code after SIGTERM"
}

# --- 1. README's quick start --------------------------------------------------------------
free_port; port=$free
start_smtpd "$work" "$port" SMTPD_CONFIG="$etc/smtpd.yaml" \
  SMTPD_LISTENERS__0__ADDRESS="127.0.0.1:$port" SMTPD_SERVER__SHUTDOWNTIMEOUT="${shutdown_timeout}s"

swaks_out=$(in_dir "$work" swaks --server "127.0.0.1:$port" --to someone@localhost --from me@localhost \
  --timeout 15 2>&1) || { echo "$swaks_out" | tail -n 15; fail "swaks failed"; }
queue_id=$(sed -n 's/^<-  250 2\.0\.0 \([^ ]*\) .*/\1/p' <<<"$swaks_out" | tail -n 1)
wait_delivered "$work/var/mail/someone/Maildir/new" someone@localhost
check_uid started

# smtpctl over the admin socket (admin.socket of the config), as the image's smtpctl wrapper runs it.
socket="$work/var/run/smtpd.sock"
[ -S "$socket" ] || fail "admin socket $socket missing"
[ "$(stat -c '%a %u' "$socket")" = "600 $uid" ] || fail "admin socket is $(stat -c '%a %U' "$socket"), expected 600 $user"
# The message was delivered, so it leaves the queue (bounded: removal follows the Maildir rename).
[ -n "$queue_id" ] || fail "no queue id in swaks' 250 reply"
for _ in $(seq 1 10); do
  queue_out=$(in_dir "$work" "$dotnet" "$app/smtpctl.dll" show queue 2>&1) || fail "smtpctl show queue: $queue_out"
  grep -q "$queue_id" <<<"$queue_out" || break
  sleep 0.3
done
grep -q "$queue_id" <<<"$queue_out" && fail "delivered message $queue_id still in smtpctl show queue: $queue_out"
# show queue falls back to reading the spool when no server answers: it must have used the socket.
grep -q "server not running" <<<"$queue_out" && fail "smtpctl did not reach the server over $socket: $queue_out"
check_uid started
stop_smtpd

# --- 2. The image's own configuration -----------------------------------------------------
# The Dockerfile's layout: the config at /etc/smtpd/smtpd.yaml (read-only), volumes for the
# spool, the mail and the certificates and /run/smtpd owned by the user, WORKDIR /srv/smtpd.
image="$tmp/image"
mkdir -p "$image/etc/smtpd/certs" "$image/var/spool/smtpd" "$image/var/mail/smtpd" "$image/run/smtpd" "$image/srv/smtpd"
install -m 644 deploy/config/smtpd.yaml "$image/etc/smtpd/smtpd.yaml"
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=mx.example.org" -addext "subjectAltName=DNS:mx.example.org" \
  -keyout "$image/etc/smtpd/certs/tls.key" -out "$image/etc/smtpd/certs/tls.crt" >/dev/null 2>&1 || fail "openssl could not make a certificate"
chmod -R a+rX "$image"
chown -R "$uid:$gid" "$image/var/spool/smtpd" "$image/var/mail/smtpd" "$image/run/smtpd" "$image/srv/smtpd" "$image/etc/smtpd/certs"
chmod 600 "$image/etc/smtpd/certs/tls.key"

# Ports: the config's own must be the image's EXPOSEd ones, moved here to free unprivileged ports.
grep -q '^EXPOSE 25 465 587 8025$' deploy/Dockerfile || fail "deploy/Dockerfile no longer EXPOSEs 25 465 587 8025: update this script"
for expected in "address: 0.0.0.0:25" "address: 0.0.0.0:587" "http: 0.0.0.0:8025"; do
  grep -q "$expected" deploy/config/smtpd.yaml || fail "deploy/config/smtpd.yaml no longer has '$expected': update this script"
done
free_port; mx=$free
free_port; submission=$free
free_port; health=$free
start_smtpd "$image/srv/smtpd" "$mx" SMTPD_CONFIG="$image/etc/smtpd/smtpd.yaml" \
  SMTPD_LISTENERS__0__ADDRESS="127.0.0.1:$mx" SMTPD_LISTENERS__1__ADDRESS="127.0.0.1:$submission" \
  SMTPD_ADMIN__HTTP="127.0.0.1:$health" SMTPD_ADMIN__SOCKET="$image/run/smtpd/smtpd.sock" \
  SMTPD_QUEUE__PATH="$image/var/spool/smtpd" SMTPD_ACTIONS__LOCAL__MAILDIR__PATH="$image/var/mail/smtpd/{user}/Maildir" \
  SMTPD_LISTENERS__1__TLS__MODE=starttls SMTPD_LISTENERS__1__TLS__REQUIRED=true \
  SMTPD_LISTENERS__1__TLS__CERTIFICATE="$image/etc/smtpd/certs/tls.crt" SMTPD_LISTENERS__1__TLS__KEY="$image/etc/smtpd/certs/tls.key" \
  SMTPD_SERVER__SHUTDOWNTIMEOUT="${shutdown_timeout}s"
maildir="$image/var/mail/smtpd/postmaster/Maildir/new"

# "25": mail for the image's domain from outside the host's rules (from any, for domains).
out=$(in_dir "$image/srv/smtpd" swaks --server "127.0.0.1:$mx" --to postmaster@example.org --from sender@remote.example \
  --timeout 15 2>&1) || { echo "$out" | tail -n 15; fail "swaks to the mx listener failed"; }
wait_delivered "$maildir" postmaster@example.org

# "587": STARTTLS is required (MAIL before it is refused), then the mail goes through.
out=$(in_dir "$image/srv/smtpd" swaks --server "127.0.0.1:$submission" --to postmaster@example.org --from me@example.org \
  --quit-after MAIL --timeout 15 2>&1)
grep -q '^<\*\{0,3\} *530' <<<"$out" || { echo "$out" | tail -n 8; fail "submission accepted MAIL without STARTTLS (tls.required from the environment)"; }
out=$(in_dir "$image/srv/smtpd" swaks --server "127.0.0.1:$submission" --tls --to postmaster@example.org --from me@example.org \
  --header "Subject: over STARTTLS" --timeout 15 2>&1) || { echo "$out" | tail -n 15; fail "swaks with STARTTLS to the submission listener failed"; }
for _ in $(seq 1 50); do
  grep -l '^Subject: over STARTTLS' "$maildir"/* >/dev/null 2>&1 && break
  sleep 0.1
done
grep -l '^Subject: over STARTTLS' "$maildir"/* >/dev/null 2>&1 || fail "the STARTTLS message is not in $maildir"
check_uid started

# The Dockerfile's HEALTHCHECK, as Docker runs it in the container (as the image's user, 5 s
# timeout), its port moved as admin.http was.
healthcheck=$(python3 - "$health" <<'EOF'
import json, re, sys
text = open("deploy/Dockerfile").read().replace("\\\n", " ")
match = re.search(r"^HEALTHCHECK .*?CMD (\[.*\])\s*$", text, re.M)
if not match:
    sys.exit("no HEALTHCHECK ... CMD [...] in deploy/Dockerfile")
command = json.loads(match.group(1))
if command[:2] != ["bash", "-c"] or command[2].count("/dev/tcp/127.0.0.1/8025") != 1:
    sys.exit("HEALTHCHECK is not bash -c against /dev/tcp/127.0.0.1/8025 (admin.http): update this script")
print(command[2].replace("/dev/tcp/127.0.0.1/8025", "/dev/tcp/127.0.0.1/" + sys.argv[1]))
EOF
) || fail "cannot read the HEALTHCHECK of deploy/Dockerfile"
in_dir "$image/srv/smtpd" timeout 5 bash -c "$healthcheck" || fail "the Dockerfile's HEALTHCHECK fails against the running server: $healthcheck"

# smtpctl finds the server through the same overrides (SMTPD_ADMIN__SOCKET).
queue_out=$(in_dir "$image/srv/smtpd" "$dotnet" "$app/smtpctl.dll" show queue 2>&1) || fail "smtpctl show queue (image config): $queue_out"
grep -q "server not running" <<<"$queue_out" && fail "smtpctl did not reach the server of the image config: $queue_out"
stop_smtpd
in_dir "$image/srv/smtpd" timeout 5 bash -c "$healthcheck" 2>/dev/null && fail "the HEALTHCHECK passes with the server stopped: it checks nothing"

# Nothing outside the work dirs and volumes belongs to the user: app and config stayed read-only to it.
stray=$(find "$tmp" \( -path "$work" -o -path "$image/var" -o -path "$image/run" -o -path "$image/srv" -o -path "$image/etc/smtpd/certs" \) -prune \
  -o -user "$uid" -print | head -n 3)
[ -z "$stray" ] || fail "files outside the work dirs and volumes owned by $user: $stray"

echo "smoke-nonroot: ok (published smtpd+smtpctl as $user uid $uid: quick start on 127.0.0.1:$port delivered ${queue_id:-?}, smtpctl ok;" \
  "deploy/config/smtpd.yaml via env overrides on 127.0.0.1:$mx/$submission: delivered, STARTTLS required and working, HEALTHCHECK ok;" \
  "SIGTERM exit 0 twice; $((SECONDS - start)) s)"
