#!/usr/bin/env bash
# Catalog load test (issue 9): seeds 50 active items through the API, then drives
# `GET /v1/items?limit=20` (the full guard stack) and the bare `GET /healthz` of the
# same process with wrk, alternating, at 16 and 64 connections, and prints requests
# per second and their ratio. One command reproduces the figures in
# docs/benchmarks.md:
#
#   scripts/load/catalog.sh            # SQLite (the embedded default)
#   scripts/load/catalog.sh postgres   # PostgreSQL at $RAMPART_LOAD_PG (default
#                                      # postgres://postgres@127.0.0.1:5432), a fresh
#                                      # database created and dropped by the script
#
# Knobs: DURATION (wrk seconds per run, default 10), ROUNDS (alternations, default 2),
# ITEMS (default 50), THREADS (wrk threads, default 2). Needs wrk and python3.
set -euo pipefail
ENGINE=${1:-sqlite}
DURATION=${DURATION:-10}
ROUNDS=${ROUNDS:-2}
ITEMS=${ITEMS:-50}
THREADS=${THREADS:-2}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
command -v wrk >/dev/null || { echo "wrk is not installed (apt-get install wrk)" >&2; exit 2; }

cargo build --release -q -p rampart --manifest-path "$ROOT/Cargo.toml"
BIN=${CARGO_TARGET_DIR:-$ROOT/target}/release/rampart
DIR=$(mktemp -d /tmp/rampart-load.XXXXXX)
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
PW="load-test-$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')"
export RAMPART_DATA_DIR="$DIR" RAMPART_BIND="127.0.0.1:$PORT" RAMPART_LOG=warn
export RAMPART_WORKER_IN_PROCESS=false
PGDB=""
if [ "$ENGINE" = postgres ]; then
  PGBASE=${RAMPART_LOAD_PG:-postgres://postgres@127.0.0.1:5432}
  PGDB="rampart_load_$$"
  psql "$PGBASE/postgres" -qc "CREATE DATABASE $PGDB" >/dev/null
  export RAMPART_DATABASE_URL="$PGBASE/$PGDB"
fi
cleanup() {
  [ -n "${SERVER:-}" ] && kill "$SERVER" 2>/dev/null && wait "$SERVER" 2>/dev/null || true
  [ -n "$PGDB" ] && psql "$PGBASE/postgres" -qc "DROP DATABASE IF EXISTS $PGDB" >/dev/null 2>&1 || true
  rm -rf "$DIR"
}
trap cleanup EXIT

"$BIN" migrate >/dev/null
echo "$PW" | "$BIN" admin create --username loadadmin >/dev/null
"$BIN" serve >"$DIR/server.log" 2>&1 &
SERVER=$!
for _ in $(seq 1 100); do
  curl -fs "http://127.0.0.1:$PORT/healthz" >/dev/null 2>&1 && break
  sleep 0.1
done
python3 "$ROOT/scripts/load/seed_catalog.py" "http://127.0.0.1:$PORT" loadadmin "$PW" "$ITEMS" 5

rps() { # url connections → requests/s (non-2xx responses make the run fail)
  local out
  out=$(wrk -t"$THREADS" -c"$2" -d"${DURATION}s" --latency "$1")
  if grep -q "Non-2xx" <<<"$out"; then echo "non-2xx answers from $1:" >&2; echo "$out" >&2; exit 1; fi
  awk '/Requests\/sec/ {print $2}' <<<"$out"
}

echo "engine=$ENGINE items=$ITEMS duration=${DURATION}s rounds=$ROUNDS threads=$THREADS cores=$(nproc)"
printf '%-6s %-6s %12s %12s %8s\n' conns round healthz catalog ratio
for c in 16 64; do
  sum_h=0; sum_c=0
  for r in $(seq 1 "$ROUNDS"); do
    h=$(rps "http://127.0.0.1:$PORT/healthz" "$c")
    k=$(rps "http://127.0.0.1:$PORT/v1/items?limit=20" "$c")
    printf '%-6s %-6s %12s %12s %8.3f\n' "$c" "$r" "$h" "$k" "$(echo "$k / $h" | bc -l)"
    sum_h=$(echo "$sum_h + $h" | bc -l); sum_c=$(echo "$sum_c + $k" | bc -l)
  done
  printf '%-6s %-6s %12.0f %12.0f %8.3f\n' "$c" mean "$(echo "$sum_h / $ROUNDS" | bc -l)" \
    "$(echo "$sum_c / $ROUNDS" | bc -l)" "$(echo "$sum_c / $sum_h" | bc -l)"
done
