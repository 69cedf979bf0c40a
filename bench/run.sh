#!/usr/bin/env bash
# Load-test quotaplane on 127.0.0.1 with wrk; see bench/README.md.
set -euo pipefail

DURATION=${DURATION:-15s}
CONNECTIONS=${CONNECTIONS:-64}
THREADS=${THREADS:-2}
PG_URL_BASE=${PG_URL_BASE:-}           # e.g. postgres://postgres:postgres@127.0.0.1:5432
BACKENDS=${BACKENDS:-sqlite${PG_URL_BASE:+ postgres}}
SCENARIOS=${SCENARIOS:-healthz whoami consume-none check-hot consume-hot consume-spread consume-fresh noisy replicas memory}
WARM=${WARM:-5s}                        # wrk run that touches every spread counter first
SPREAD=10000                            # must match SPREAD in bench/scenario.lua
NOISY=2000                              # limits one noisy consume matches
EXACT=2000                              # must match EXACT in bench/seed.py
MEMORY_SIZES=${MEMORY_SIZES:-10000 100000}
BUILD_TIMEOUT=${BUILD_TIMEOUT:-1800}  # seconds
SEED_TIMEOUT=${SEED_TIMEOUT:-600}     # seconds
BENCH_RUST_LOG=${BENCH_RUST_LOG:-warn}  # the server's RUST_LOG ('info' logs each request's latency)
BENCH_KEEP=${BENCH_KEEP:-}              # non-empty: keep the work folder (server logs, wrk output)

cd "$(dirname "${BASH_SOURCE[0]}")/.."
BIN=target/release/quotaplane
LUA=bench/scenario.lua

die() { echo "bench: $*" >&2; exit 1; }
note() { echo "bench: $*" >&2; }

# to_secs DURATION: a wrk duration (15, 15s, 2m, 1h) in seconds, for the timeout around wrk.
to_secs() {
  case $1 in
    *[0-9]s) echo "${1%s}" ;;
    *[0-9]m) echo $(( ${1%m} * 60 )) ;;
    *[0-9]h) echo $(( ${1%h} * 3600 )) ;;
    *) echo "$1" ;;
  esac
}
dur_s=$(to_secs "$DURATION")
[[ $dur_s =~ ^[0-9]+$ && $dur_s -gt 0 ]] || die "DURATION must look like 15s, 2m or 1h (got '$DURATION')"
warm_s=$(to_secs "$WARM")
[[ $warm_s =~ ^[0-9]+$ && $warm_s -gt 0 ]] || die "WARM must look like 5s (got '$WARM')"
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
REPLICA_PID=
stop_pid() {
  local pid=$1
  [[ -n $pid ]] || return 0
  # The server runs in its own session (setsid): signal the whole group.
  kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 50); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}
stop_server() {
  stop_pid "$REPLICA_PID"
  REPLICA_PID=
  stop_pid "$SERVER_PID"
  SERVER_PID=
}
CHILD_PID=
BG_PIDS=()
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
  for pid in "${BG_PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  stop_server
  if [[ -n $BENCH_KEEP ]]; then note "kept $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# 2. Build (unless BENCH_BIN names a binary already built, e.g. a copy of an earlier commit's).
if [[ -n ${BENCH_BIN:-} ]]; then
  BIN=$BENCH_BIN
  [[ -x $BIN ]] || die "BENCH_BIN=$BIN is not an executable"
else
  note "cargo build --release"
  run_child timeout "$BUILD_TIMEOUT" cargo build --release >&2 || die "cargo build --release failed"
  [[ -x $BIN ]] || die "$BIN not found after build"
fi

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# launch URL LOG SYNC PORT: start a server in its own session; prints nothing, sets LAUNCHED.
launch() {
  local url=$1 log=$2 sync=$3 port=$4
  # No request rate limit, and room for every first-touch partition a run can make (the
  # default bound, 100,000 a limit, is reached within seconds on a fast machine).
  QUOTAPLANE_BOOTSTRAP_TOKEN=$TOKEN QUOTAPLANE_LOG_FORMAT=text RUST_LOG=$BENCH_RUST_LOG \
    QUOTAPLANE_RATE_LIMIT_REQUESTS=1000000000 QUOTAPLANE_MAX_PARTITIONS_PER_LIMIT=1000000000 \
    QUOTAPLANE_SQLITE_SYNCHRONOUS=$sync \
    setsid "$BIN" serve --bind "127.0.0.1:$port" --database-url "$url" >"$log" 2>&1 </dev/null &
  LAUNCHED=$!
}

# wait_ready PID PORT LOG: wait (at most 30 s) for /readyz.
wait_ready() {
  local pid=$1 port=$2 log=$3
  local deadline=$((SECONDS + 30))
  until curl -fsS -o /dev/null --max-time 1 "http://127.0.0.1:$port/readyz" 2>/dev/null; do
    if ! kill -0 "$pid" 2>/dev/null; then
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

# start_server URL LOG [SQLITE_SYNC]: start on a free port, set PORT, wait for /readyz.
start_server() {
  local url=$1 log=$2 sync=${3:-full}
  PORT=$(free_port)
  TOKEN=$(python3 -c 'import secrets; print(secrets.token_hex(32))')
  launch "$url" "$log" "$sync" "$PORT"
  SERVER_PID=$LAUNCHED
  wait_ready "$SERVER_PID" "$PORT" "$log"
}

# start_replica URL LOG: a second server on the same database; sets PORT2.
start_replica() {
  PORT2=$(free_port)
  launch "$1" "$2" full "$PORT2"
  REPLICA_PID=$LAUNCHED
  wait_ready "$REPLICA_PID" "$PORT2" "$2"
}

# wrk_start NAME PORT PATH MODE SECRET CONNS THREADS DURATION: wrk in the background
# (output in $WORK/wrk-NAME.out); sets WRK_PID.
wrk_start() {
  local name=$1 port=$2 path=$3 mode=$4 secret=$5 conns=$6 threads=$7 duration=$8
  local secs
  secs=$(to_secs "$duration")
  note "  $name: wrk -t$threads -c$conns -d$duration $path ($mode)"
  BENCH_MODE=$mode BENCH_SECRET=$secret BENCH_THREADS=$threads timeout $((secs + 30)) \
    wrk -t"$threads" -c"$conns" -d"$duration" --latency -s "$LUA" \
    "http://127.0.0.1:$port$path" >"$WORK/wrk-$name.out" 2>&1 &
  WRK_PID=$!
  BG_PIDS+=("$WRK_PID")
}

# wrk_wait NAME PID: wait for a wrk started by wrk_start; append its row to $RESULTS:
# "NAME rps p50 p99 non2xx sockerr requests max".
wrk_wait() {
  local name=$1 pid=$2 line out
  out="$WORK/wrk-$name.out"
  wait "$pid" || { cat "$out" >&2; die "wrk failed for $name"; }
  line=$(grep '^RESULT ' "$out" | tail -n 1) || { cat "$out" >&2; die "no RESULT line from wrk for $name"; }
  awk -v name="$name" '{ for (i = 2; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
    print name, v["rps"], v["p50_ms"], v["p99_ms"], v["non2xx"], v["sockerr"], v["requests"], v["max_ms"] }' \
    <<<"$line" >>"$RESULTS"
}

# run_scenario NAME PATH MODE [SECRET [CONNS [THREADS [DURATION [PORT]]]]]: one wrk run, in
# the foreground.
run_scenario() {
  local name=$1 path=$2 mode=$3 secret=${4:-$SECRET} conns=${5:-$CONNECTIONS}
  local threads=${6:-$THREADS} duration=${7:-$DURATION} port=${8:-$PORT}
  wrk_start "$name" "$port" "$path" "$mode" "$secret" "$conns" "$threads" "$duration"
  CHILD_PID=$WRK_PID
  wrk_wait "$name" "$WRK_PID"
  CHILD_PID=
}

# row NAME FIELD: a field of a result row (2 rps, 3 p50, 4 p99, 5 errors, 7 requests, 8 max).
row() { awk -v n="$1" -v f="$2" '$1 == n { print $f }' "$RESULTS" | tail -n 1; }

# div A B: A / B with three decimals ("n/a" when either is missing or B is 0).
div() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "" || b == "" || b + 0 == 0) print "n/a"; else printf "%.3f\n", a / b }'; }

wants() { [[ " $SCENARIOS " == *" $1 "* ]]; }

# settle_stats: on PostgreSQL, ANALYZE what seeding or warming just grew, as autovacuum would
# within its naptime (a minute), longer than a run. Without it, the plans a pooled connection
# cached while the counters table held a handful of rows (during consume-hot) scan that table
# whole once it holds 10,000: consume-spread ran at 0.024-0.036 of /healthz, 0.19 after ANALYZE.
settle_stats() {
  [[ $backend == postgres ]] || return 0
  PGCONNECT_TIMEOUT=5 timeout 120 psql -q "$url" -c 'ANALYZE' >/dev/null ||
    die "ANALYZE failed on $url"
}

# rss_kb PID: resident set size of a process, in kB.
rss_kb() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status" 2>/dev/null || echo 0; }

# cached_limits_at_least N SECONDS: wait until the limit cache holds N limits or more, or SECONDS
# have passed (quotaplane_engine_limit_cache_limits on /metrics).
cached_limits_at_least() {
  local deadline=$((SECONDS + $2)) held
  while ((SECONDS < deadline)); do
    held=$(curl -fsS --max-time 2 "http://127.0.0.1:$PORT/metrics" 2>/dev/null |
      awk '$1 == "quotaplane_engine_limit_cache_limits" { print int($2) }')
    [[ -n $held && $held -ge $1 ]] && return 0
    sleep 0.5
  done
  note "the limit cache did not reach $1 limits within $2 s"
}

# consume_ms PORT SECRET BODY: one consume's wall time, in ms.
consume_ms() {
  curl -fsS -o /dev/null --max-time 60 -w '%{time_total}' -H "Authorization: Bearer $2" \
    -H 'Content-Type: application/json' -d "$3" "http://127.0.0.1:$1/v1/usage/consume" |
    awk '{ printf "%.1f", $1 * 1000 }'
}

print_table() {
  awk 'function ratio(a, b) { return b > 0 ? sprintf("%.3f", a / b) : "n/a" }
    BEGIN { printf "%-20s %12s %9s %9s %9s %11s %8s\n", "scenario", "req/s", "p50 ms", "p99 ms", "rps/base", "p99/base", "errors" }
    NR == 1 { brps = $2; bp99 = $4 }
    { printf "%-20s %12.1f %9.3f %9.3f %9s %11s %8d%s\n", $1, $2, $3, $4, ratio($2, brps), ratio($4, bp99), $5,
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
      [[ -n $PG_URL_BASE ]] || die "the postgres backend needs PG_URL_BASE (e.g. postgres://postgres:postgres@127.0.0.1:5432)"
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
  log="$WORK/server-$backend.log"
  start_server "$url" "$log" "$sync"
  note "seeding: 2 tenants; hot, first-touch and exact limits; $SPREAD spread and $NOISY noisy limits"
  QUOTAPLANE_BOOTSTRAP_TOKEN=$TOKEN run_child timeout "$SEED_TIMEOUT" \
    python3 bench/seed.py api "http://127.0.0.1:$PORT" >"$WORK/secrets" ||
    { tail -n 50 "$log" >&2; die "seeding failed"; }
  read -r SECRET SECRET_B <"$WORK/secrets"
  run_child timeout "$SEED_TIMEOUT" python3 bench/seed.py clone "$url" bench-u bench.spread '{"user":"u%d"}' "$SPREAD" ||
    die "seeding the spread limits failed"
  run_child timeout "$SEED_TIMEOUT" python3 bench/seed.py clone "$url" bench-noisy- bench.noisy '{"team":"noisy"}' "$NOISY" ||
    die "seeding the noisy limits failed"
  settle_stats

  RESULTS="$WORK/results-$backend"
  : >"$RESULTS"
  extra=()
  run_scenario healthz /healthz healthz
  wants whoami && run_scenario whoami /v1/whoami whoami
  wants consume-none && run_scenario consume-none /v1/usage/consume none
  wants check-hot && run_scenario check-hot /v1/usage/check hot
  wants consume-hot && run_scenario consume-hot /v1/usage/consume hot
  if wants consume-spread; then
    # Touch every spread counter first (not recorded), so the run meets warm counters.
    run_scenario warm-up /v1/usage/consume warm "$SECRET" "$CONNECTIONS" "$THREADS" "$WARM"
    sed -i '/^warm-up /d' "$RESULTS"
    settle_stats
    run_scenario consume-spread /v1/usage/consume spread
  fi
  wants consume-fresh && run_scenario consume-fresh /v1/usage/consume fresh

  if wants noisy; then
    # Tenant B's consume alone, then while tenant A drives a metric whose consume matches
    # $NOISY limits, with the rest of the connections.
    quiet=8 loud=$((CONNECTIONS > 16 ? CONNECTIONS - 8 : 8))
    run_scenario noisy-b-solo /v1/usage/consume b "$SECRET_B" "$quiet" 1
    wrk_start noisy-a "$PORT" /v1/usage/consume noisy "$SECRET" "$loud" 1 "$DURATION"
    a_pid=$WRK_PID
    sleep 1
    b_duration=$((dur_s > 3 ? dur_s - 2 : 1))s
    run_scenario noisy-b-loaded /v1/usage/consume b "$SECRET_B" "$quiet" 1 "$b_duration"
    wrk_wait noisy-a "$a_pid"
    extra+=("noisy neighbour: B's consume p99 $(row noisy-b-solo 4) ms alone, $(row noisy-b-loaded 4) ms beside A: $(div "$(row noisy-b-loaded 4)" "$(row noisy-b-solo 4)")x (goal <= 3)")
  fi

  if wants replicas && [[ $backend == postgres ]]; then
    # Two replicas on one PostgreSQL: spread consumes through both, then the exact limit
    # driven past its end through both.
    start_replica "$url" "$WORK/replica-$backend.log"
    half=$((CONNECTIONS / 2 > THREADS ? CONNECTIONS / 2 : THREADS))
    wrk_start replica-1 "$PORT" /v1/usage/consume spread "$SECRET" "$half" 1 "$DURATION"
    p1=$WRK_PID
    wrk_start replica-2 "$PORT2" /v1/usage/consume spread "$SECRET" "$half" 1 "$DURATION"
    wrk_wait replica-2 "$WRK_PID"
    wrk_wait replica-1 "$p1"
    both=$(awk '$1 ~ /^replica-/ { s += $2 } END { print s }' "$RESULTS")
    extra+=("two replicas: consume-spread $both req/s together, $(div "$both" "$(row consume-spread 2)")x one replica (goal >= 1.5)")
    wrk_start exact-1 "$PORT" /v1/usage/consume exact "$SECRET" "$half" 1 3s
    p1=$WRK_PID
    wrk_start exact-2 "$PORT2" /v1/usage/consume exact "$SECRET" "$half" 1 3s
    wrk_wait exact-2 "$WRK_PID"
    wrk_wait exact-1 "$p1"
    admitted=$(awk '$1 ~ /^exact-/ { s += $7 - $5; e += $6 } END { print s, e }' "$RESULTS")
    used=$(curl -fsS --max-time 5 -H "Authorization: Bearer $SECRET" -H 'Content-Type: application/json' \
      -d '{"subject":{"bench":"exact"},"metric":"bench.exact","amount":0}' \
      "http://127.0.0.1:$PORT/v1/usage/check" | python3 -c 'import json,sys; print(json.load(sys.stdin)["limits"][0]["used"])')
    read -r ok sockerr <<<"$admitted"
    verdict=$([[ $ok == "$EXACT" && $used == "$EXACT" ]] && echo exact || echo "NOT EXACT")
    extra+=("two replicas, exactness: limit $EXACT, admitted $ok, counter $used, socket errors $sockerr: $verdict")
    sed -i '/^exact-/d' "$RESULTS"
    stop_pid "$REPLICA_PID"
    REPLICA_PID=
  fi

  echo
  echo "== $backend  (wrk -t$THREADS -c$CONNECTIONS -d$DURATION; baseline = healthz; $(date -u '+%Y-%m-%d %H:%M UTC'))"
  print_table
  for line in "${extra[@]}"; do echo "$line"; done
  echo "-- /metrics quotaplane_engine_*"
  curl -fsS --max-time 5 "http://127.0.0.1:$PORT/metrics" 2>/dev/null |
    grep -E '^quotaplane_engine_[a-z_]+(_sum|_count)?(\{[^}]*\})? ' | grep -v _bucket || echo "(none)"
  kill -0 "$SERVER_PID" 2>/dev/null || note "warning: server exited during the run; see its log"

  if wants memory; then
    # RSS of a fresh server before and after the first load of a metric with N limits, the
    # consume that triggers it, and tenant B's worst consume meanwhile.
    stop_server
    for n in $MEMORY_SIZES; do
      run_child timeout "$SEED_TIMEOUT" python3 bench/seed.py clone "$url" "bench-m$n-" "bench.mem$n" '{"user":"m%d"}' "$n" ||
        die "seeding the memory limits failed"
    done
    settle_stats
    start_server "$url" "$log" "$sync"
    echo "-- memory (fresh server; RSS in MB)"
    for n in $MEMORY_SIZES; do
      sleep 1
      before=$(rss_kb "$SERVER_PID")
      wrk_start mem-b-$n "$PORT" /v1/usage/consume b "$SECRET_B" 4 1 3s
      b_pid=$WRK_PID
      sleep 1
      # The key's first use on a fresh server checks its secret (a deliberately slow hash), and
      # the first batch opens a pooled connection and prepares its statements there: pay both
      # first (a consume of the hot limit), so the timed consume measures the first load.
      curl -fsS -o /dev/null --max-time 5 -H "Authorization: Bearer $SECRET" "http://127.0.0.1:$PORT/v1/whoami" || true
      consume_ms "$PORT" "$SECRET" '{"subject":{"bench":"hot"},"metric":"bench.hot","amount":1}' >/dev/null || true
      took=$(consume_ms "$PORT" "$SECRET" "{\"subject\":{\"user\":\"m1\"},\"metric\":\"bench.mem$n\",\"amount\":1}")
      after=$(rss_kb "$SERVER_PID")
      wrk_wait mem-b-$n "$b_pid"
      # Settled: once the background load has cached the metric (at most 60 s), and 2 s more.
      cached_limits_at_least "$n" 60
      sleep 2
      settled=$(rss_kb "$SERVER_PID")
      awk -v n="$n" -v b="$before" -v a="$after" -v s="$settled" -v t="$took" -v m="$(row mem-b-$n 8)" 'BEGIN {
        printf "%7d limits: RSS %.1f before, %.1f after the first load, %.1f settled (%.0f bytes a limit); first consume %s ms; B worst %s ms meanwhile\n",
          n, b / 1024, a / 1024, s / 1024, (s - b) * 1024 / n, t, m }'
    done
    sed -i '/^mem-b-/d' "$RESULTS"
  fi
  stop_server
  ran=$((ran + 1))
done
((ran > 0)) || die "no backend was benchmarked (BACKENDS='$BACKENDS')"
