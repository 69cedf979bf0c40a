#!/usr/bin/env bash
# The server's instructions per request, counted by valgrind's callgrind: repeatable for the same
# binary and inputs whatever else the machine is doing, where wrk's throughput moves by 10-20%
# between runs. One SQLite server under callgrind; per mode, REQUESTS sequential requests after a
# warm-up, counted between a zero and a dump of callgrind's counters. See bench/README.md.
set -euo pipefail

REQUESTS=${REQUESTS:-3000}
WARMUP=${WARMUP:-200}
MODES=${MODES:-healthz whoami none check hot}

cd "$(dirname "${BASH_SOURCE[0]}")/.."
BIN=${BENCH_BIN:-target/release/quotaplane}

die() { echo "instructions: $*" >&2; exit 1; }
[[ $REQUESTS =~ ^[1-9][0-9]*$ && $WARMUP =~ ^[0-9]+$ ]] || die "REQUESTS and WARMUP must be integers"
if ! command -v valgrind >/dev/null; then
  [[ $(id -u) -eq 0 ]] || die "valgrind is not installed; run 'sudo apt-get install -y valgrind'"
  apt-get install -y valgrind >&2 || die "apt-get install -y valgrind failed"
fi
if [[ -z ${BENCH_BIN:-} ]]; then
  timeout 1800 cargo build --release >&2 || die "cargo build --release failed"
fi
[[ -x $BIN ]] || die "$BIN is not an executable"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/quotaplane-instructions.XXXXXX")
SERVER_PID=
cleanup() {
  if [[ -n $SERVER_PID ]]; then
    kill -TERM -- "-$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
  fi
  rm -rf "$WORK"
}
trap cleanup EXIT

PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
TOKEN=$(python3 -c 'import secrets; print(secrets.token_hex(32))')
QUOTAPLANE_BOOTSTRAP_TOKEN=$TOKEN RUST_LOG=warn QUOTAPLANE_RATE_LIMIT_REQUESTS=1000000000 \
  setsid valgrind --tool=callgrind --callgrind-out-file="$WORK/callgrind.out" \
  "$BIN" serve --bind "127.0.0.1:$PORT" --database-url "sqlite://$WORK/bench.db" \
  >"$WORK/server.log" 2>&1 </dev/null &
SERVER_PID=$!
for _ in $(seq 600); do
  curl -fsS -o /dev/null --max-time 2 "http://127.0.0.1:$PORT/readyz" 2>/dev/null && break
  kill -0 "$SERVER_PID" 2>/dev/null || { cat "$WORK/server.log" >&2; die "the server exited"; }
  sleep 0.2
done
QUOTAPLANE_BOOTSTRAP_TOKEN=$TOKEN timeout 600 python3 bench/seed.py api "http://127.0.0.1:$PORT" \
  >"$WORK/secrets" || die "seeding failed"
read -r SECRET _ <"$WORK/secrets"

echo "server instructions per request ($(basename "$BIN"), SQLite, $REQUESTS sequential requests per mode)"
dump=0
for mode in $MODES; do
  timeout 600 python3 bench/requests.py "$PORT" "$mode" "$WARMUP" "$SECRET" || die "warm-up of $mode failed"
  callgrind_control -z "$SERVER_PID" >/dev/null 2>&1
  timeout 1200 python3 bench/requests.py "$PORT" "$mode" "$REQUESTS" "$SECRET" || die "$mode failed"
  callgrind_control -d "$SERVER_PID" >/dev/null 2>&1
  dump=$((dump + 1))
  total=$(callgrind_annotate "$WORK/callgrind.out.$dump" 2>/dev/null |
    awk '/PROGRAM TOTALS/ { gsub(",", "", $1); print $1 }')
  [[ -n $total ]] || die "no totals in callgrind dump $dump"
  printf '%-8s %9d\n' "$mode" $((total / REQUESTS))
done
