#!/usr/bin/env bash
# Load-test quotaplane on 127.0.0.1 with wrk; see bench/README.md.
set -euo pipefail

DURATION=${DURATION:-15s}
CONNECTIONS=${CONNECTIONS:-64}
THREADS=${THREADS:-2}
BACKENDS=${BACKENDS:-sqlite sqlite-normal postgres}
PG_URL_BASE=${PG_URL_BASE:-postgres://postgres@127.0.0.1:5432}
BUILD_TIMEOUT=${BUILD_TIMEOUT:-1800}  # seconds
SEED_TIMEOUT=${SEED_TIMEOUT:-600}     # seconds

cd "$(dirname "${BASH_SOURCE[0]}")/.."
BIN=target/release/quotaplane
LUA=bench/scenario.lua

die() { echo "bench: $*" >&2; exit 1; }
note() { echo "bench: $*" >&2; }

# wrk duration (15, 15s, 2m, 1h) -> seconds, for the timeout around wrk.
case $DURATION in
  *[0-9]s) dur_s=${DURATION%s} ;;
  *[0-9]m) dur_s=$(( ${DURATION%m} * 60 )) ;;
  *[0-9]h) dur_s=$(( ${DURATION%h} * 3600 )) ;;
  *) dur_s=$DURATION ;;
esac
[[ $dur_s =~ ^[0-9]+$ && $dur_s -gt 0 ]] || die "DURATION must look like 15s, 2m or 1h (got '$DURATION')"
[[ $CONNECTIONS =~ ^[0-9]+$ && $THREADS =~ ^[0-9]+$ && $THREADS -ge 1 && $CONNECTIONS -ge $THREADS ]] ||
  die "CONNECTIONS and THREADS must be integers with CONNECTIONS >= THREADS >= 1"

# 1. Tools.
if ! command -v wrk >/dev/null; then
  if [[ $(id -u) -eq 0 ]]; then
    apt-get install -y wrk >&2 || die "apt-get install -y wrk failed"
  else
    die "wrk is not installed; run 'sudo apt-get install -y wrk' (or install wrk yourself)"
  fi
fi
for tool in python3 curl timeout; do
  command -v "$tool" >/dev/null || die "$tool is required"
done

# Cleanup: whatever happens, stop the server and remove temp files.
WORK=$(mktemp -d "${TMPDIR:-/tmp}/quotaplane-bench.XXXXXX")
SERVER_PID=
stop_server() {
  [[ -n $SERVER_PID ]] || return 0
  # The server runs in its own session (setsid): signal the whole group.
  kill -TERM -- "-$SERVER_PID" 2>/dev/null || kill -TERM "$SERVER_PID" 2>/dev/null || true
  for _ in $(seq 50); do
    kill -0 "$SERVER_PID" 2>/dev/null || break
    sleep 0.1
  done
  kill -KILL -- "-$SERVER_PID" 2>/dev/null || kill -KILL "$SERVER_PID" 2>/dev/null || true
  wait "$SERVER_PID" 2>/dev/null || true
  SERVER_PID=
}
CHILD_PID=
# run_child CMD...: run in the background and wait, so INT/TERM act at once
# (bash defers traps while a foreground command runs); cleanup kills it.
run_child() {
  local rc=0
  "$@" &
  CHILD_PID=$!
  wait "$CHILD_PID" || rc=$?
  CHILD_PID=
  return "$rc"
}
cleanup() {
  if [[ -n $CHILD_PID ]]; then kill -TERM "$CHILD_PID" 2>/dev/null || true; fi
  stop_server
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# 2. Build.
note "cargo build --release"
run_child timeout "$BUILD_TIMEOUT" cargo build --release >&2 || die "cargo build --release failed"
[[ -x $BIN ]] || die "$BIN not found after build"

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# start_server URL LOG [SQLITE_SYNC]: start on a free port, set PORT, wait for /readyz.
start_server() {
  local url=$1 log=$2 sync=${3:-full}
  PORT=$(free_port)
  TOKEN=$(python3 -c 'import secrets; print(secrets.token_hex(32))')
  QUOTAPLANE_BOOTSTRAP_TOKEN=$TOKEN QUOTAPLANE_LOG_FORMAT=text RUST_LOG=warn \
    QUOTAPLANE_RATE_LIMIT_REQUESTS=1000000000 QUOTAPLANE_SQLITE_SYNCHRONOUS=$sync \
    setsid "$BIN" serve --bind "127.0.0.1:$PORT" --database-url "$url" >"$log" 2>&1 </dev/null &
  SERVER_PID=$!
  local deadline=$((SECONDS + 30))
  until curl -fsS -o /dev/null --max-time 1 "http://127.0.0.1:$PORT/readyz" 2>/dev/null; do
    if ! kill -0 "$SERVER_PID" 2>/dev/null; then
      cat "$log" >&2
      die "server exited before /readyz answered (log above)"
    fi
    if ((SECONDS >= deadline)); then
      cat "$log" >&2
      die "server not ready after 30 s (log above)"
    fi
    sleep 0.2
  done
}

# run_scenario NAME PATH MODE: run wrk, append "NAME rps p50 p99 non2xx sockerr" to $RESULTS.
run_scenario() {
  local name=$1 path=$2 mode=$3 line
  local out="$WORK/wrk-$name.out"
  note "  $name: wrk -t$THREADS -c$CONNECTIONS -d$DURATION $path"
  if ! BENCH_MODE=$mode BENCH_SECRET=$SECRET run_child timeout $((dur_s + 30)) \
      wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" -s "$LUA" "http://127.0.0.1:$PORT$path" >"$out" 2>&1; then
    cat "$out" >&2
    die "wrk failed for $name"
  fi
  line=$(grep '^RESULT ' "$out" | tail -n 1) || { cat "$out" >&2; die "no RESULT line from wrk for $name"; }
  # "RESULT k=v k=v ..." -> "name rps p50 p99 non2xx sockerr"
  awk -v name="$name" '{ for (i = 2; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
    print name, v["rps"], v["p50_ms"], v["p99_ms"], v["non2xx"], v["sockerr"] }' <<<"$line" >>"$RESULTS"
}

print_table() {
  awk 'function ratio(a, b) { return b > 0 ? sprintf("%.3f", a / b) : "n/a" }
    BEGIN { printf "%-16s %12s %9s %9s %9s %11s %8s\n", "scenario", "req/s", "p50 ms", "p99 ms", "rps/base", "p99/base", "errors" }
    NR == 1 { brps = $2; bp99 = $4 }
    { printf "%-16s %12.1f %9.3f %9.3f %9s %11s %8d%s\n", $1, $2, $3, $4, ratio($2, brps), ratio($4, bp99), $5,
        ($6 > 0 ? "  (+" $6 " socket errors)" : "") }' "$RESULTS"
}

# 3-6. Per backend.
ran=0
for backend in $BACKENDS; do
  sync=full
  case $backend in
    sqlite | sqlite-normal)
      [[ $backend == sqlite-normal ]] && sync=normal
      rm -rf "$WORK/sqlite" && mkdir -p "$WORK/sqlite"
      url="sqlite://$WORK/sqlite/bench.db"
      ;;
    postgres)
      if ! PGCONNECT_TIMEOUT=5 timeout 30 psql -q "$PG_URL_BASE/postgres" \
          -c 'DROP DATABASE IF EXISTS quotaplane_bench' -c 'CREATE DATABASE quotaplane_bench' >/dev/null 2>"$WORK/psql.err"; then
        note "skipping postgres: cannot prepare quotaplane_bench at $PG_URL_BASE ($(head -n 1 "$WORK/psql.err"))"
        continue
      fi
      url="$PG_URL_BASE/quotaplane_bench"
      ;;
    *) die "unknown backend '$backend' (expected sqlite, sqlite-normal or postgres)" ;;
  esac

  note "== $backend: starting server"
  start_server "$url" "$WORK/server-$backend.log" "$sync"
  note "seeding (1 hot + 10000 spread limits)"
  QUOTAPLANE_BOOTSTRAP_TOKEN=$TOKEN run_child timeout "$SEED_TIMEOUT" \
    python3 bench/seed.py "http://127.0.0.1:$PORT" >"$WORK/secret" ||
    { tail -n 50 "$WORK/server-$backend.log" >&2; die "seeding failed"; }
  SECRET=$(<"$WORK/secret")

  RESULTS="$WORK/results-$backend"
  : >"$RESULTS"
  run_scenario healthz        /healthz          healthz
  run_scenario consume-hot    /v1/usage/consume hot
  run_scenario consume-spread /v1/usage/consume spread
  run_scenario check-hot      /v1/usage/check   hot

  echo
  echo "== $backend  (wrk -t$THREADS -c$CONNECTIONS -d$DURATION; baseline = healthz)"
  print_table
  echo "-- /metrics quotaplane_engine_batch_size*"
  curl -fsS --max-time 5 "http://127.0.0.1:$PORT/metrics" 2>/dev/null | grep '^quotaplane_engine_batch_size' || echo "(none)"
  kill -0 "$SERVER_PID" 2>/dev/null || note "warning: server exited during the run; see its log"
  stop_server
  ran=$((ran + 1))
done
((ran > 0)) || die "no backend was benchmarked (BACKENDS='$BACKENDS')"
