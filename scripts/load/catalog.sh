#!/usr/bin/env bash
# Catalog and storefront load test (issues 9 and 10): seeds 50 active items through
# the API, then drives each scenario and the bare `GET /healthz` of the same process
# with wrk, alternating, at 16 and 64 connections, and prints requests per second,
# their ratio and the scenario's p50/p99 latency. Scenarios (SCENARIOS, default all):
#
#   catalog   GET /v1/items?limit=20 (the full guard stack)
#   cart      POST /v1/carts, anonymous (the storefront's first call; sets the cart cookie)
#   line      POST /v1/carts/{id}/line-items on 256 anonymous carts, each request with
#             its visitor's cart cookie and CSRF token (add_line.lua)
#   checkout  whole checkouts per second by signed-in customers: cart → line → payment
#             intent → sandbox confirm (its signed webhook races the client) → complete
#             → escrow funded (checkout_driver.py, one connection per customer)
#
# The benchmark raises the cart, checkout, payment and login rate limits by a config
# file (RAMPART_CONFIG) for its own server only. One command reproduces the figures
# in docs/benchmarks.md:
#
#   scripts/load/catalog.sh            # SQLite (the embedded default)
#   scripts/load/catalog.sh postgres   # PostgreSQL at $RAMPART_LOAD_PG (default
#                                      # postgres://postgres@127.0.0.1:5432), a fresh
#                                      # database created and dropped by the script
#
# Knobs: DURATION (wrk seconds per run, default 10), ROUNDS (alternations, default 2),
# ITEMS (default 50), THREADS (wrk threads, default 2), SCENARIOS (default
# "catalog cart line checkout"), REDIS (a Redis URL: the rate limiter runs on it, as a
# production deployment's does; default: the in-process limiter), BIN (a rampart
# binary to run instead of building this tree's release binary, e.g. a baseline
# build). The load average is printed before and after the runs (`uptime`): other
# work on the machine moves every figure. Needs wrk, bc, curl and python3.
set -euo pipefail
ENGINE=${1:-sqlite}
DURATION=${DURATION:-10}
ROUNDS=${ROUNDS:-2}
ITEMS=${ITEMS:-50}
THREADS=${THREADS:-2}
SCENARIOS=${SCENARIOS:-catalog cart line checkout}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
for tool in wrk bc curl python3; do
  command -v "$tool" >/dev/null || { echo "$tool is not installed (apt-get install $tool)" >&2; exit 2; }
done

if [ -z "${BIN:-}" ]; then
  cargo build --release -q -p rampart --manifest-path "$ROOT/Cargo.toml"
  BIN=${CARGO_TARGET_DIR:-$ROOT/target}/release/rampart
fi
DIR=$(mktemp -d /tmp/rampart-load.XXXXXX)
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
PW="load-test-$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')"
export RAMPART_DATA_DIR="$DIR" RAMPART_BIND="127.0.0.1:$PORT" RAMPART_LOG=warn
export RAMPART_WORKER_IN_PROCESS=false RAMPART_MODE=development
if [ -n "${REDIS:-}" ]; then
  export RAMPART_REDIS_URL="$REDIS" RAMPART_REDIS_PREFIX="rampart-load-$$:"
fi
# The benchmark's own server only: limits high enough that the load is never refused.
cat >"$DIR/bench.toml" <<'TOML'
[rate_limits]
cart = { limit = 100000000, window_secs = 60 }
checkout = { limit = 100000000, window_secs = 60 }
payment = { limit = 100000000, window_secs = 60 }
login = { limit = 100000000, window_secs = 60 }
login_ceiling = { limit = 100000000, window_secs = 60 }
auth = { limit = 100000000, window_secs = 60 }
TOML
export RAMPART_CONFIG="$DIR/bench.toml"
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

# wrk's latency percentile line ("50%  1.23ms") in milliseconds.
pct_ms() {
  awk -v p="$1" '$1 == p {
    v = $2; u = v; gsub(/[0-9.]/, "", u); sub(/[a-z]+$/, "", v)
    if (u == "us") v /= 1000; else if (u == "s") v *= 1000; else if (u == "m") v *= 60000
    printf "%.2f", v }'
}

run() { # connections url [lua script] → "requests/s p50_ms p99_ms" (non-2xx fails the run)
  local out args=(-t"$THREADS" -c"$1" -d"${DURATION}s" --latency)
  [ -n "${3:-}" ] && args+=(-s "$3")
  out=$(WRK_THREADS=$THREADS wrk "${args[@]}" "$2")
  if grep -q "Non-2xx" <<<"$out"; then echo "non-2xx answers from $2:" >&2; echo "$out" >&2; exit 1; fi
  echo "$(awk '/Requests\/sec/ {print $2}' <<<"$out") $(pct_ms 50% <<<"$out") $(pct_ms 99% <<<"$out")"
}

URL="http://127.0.0.1:$PORT"
python3 "$ROOT/scripts/load/checkout_prep.py" "$URL" "$DIR" 256
export CARTS_FILE="$DIR/carts.txt" ITEMS_FILE="$DIR/items.txt"

echo "engine=$ENGINE limiter=$([ -n "${REDIS:-}" ] && echo redis || echo in-process) items=$ITEMS duration=${DURATION}s rounds=$ROUNDS threads=$THREADS cores=$(nproc)"
echo "before: $(uptime)"
printf '%-9s %-6s %-6s %10s %10s %8s %9s %9s\n' scenario conns round healthz route ratio p50_ms p99_ms
for scenario in $SCENARIOS; do
  for c in 16 64; do
    sum_h=0; sum_k=0
    for r in $(seq 1 "$ROUNDS"); do
      read -r h _ _ <<<"$(run "$c" "$URL/healthz")"
      case "$scenario" in
        catalog) read -r k p50 p99 <<<"$(run "$c" "$URL/v1/items?limit=20")" ;;
        cart) read -r k p50 p99 <<<"$(run "$c" "$URL/v1/carts" "$ROOT/scripts/load/create_cart.lua")" ;;
        line) read -r k p50 p99 <<<"$(run "$c" "$URL" "$ROOT/scripts/load/add_line.lua")" ;;
        checkout)
          line=$(python3 "$ROOT/scripts/load/checkout_driver.py" "$URL" "$c" "$DURATION" "c${c}r${r}_")
          k=$(sed -E 's/.*per_s=([0-9.]+).*/\1/' <<<"$line")
          p50=$(sed -E 's/.*p50_ms=([0-9.]+).*/\1/' <<<"$line")
          p99=$(sed -E 's/.*p99_ms=([0-9.]+).*/\1/' <<<"$line")
          echo "  checkout c=$c round $r: $line" >&2 ;;
        *) echo "unknown scenario $scenario" >&2; exit 2 ;;
      esac
      printf '%-9s %-6s %-6s %10s %10s %8.4f %9s %9s\n' "$scenario" "$c" "$r" "$h" "$k" "$(echo "$k / $h" | bc -l)" "$p50" "$p99"
      sum_h=$(echo "$sum_h + $h" | bc -l); sum_k=$(echo "$sum_k + $k" | bc -l)
    done
    printf '%-9s %-6s %-6s %10.0f %10.1f %8.4f\n' "$scenario" "$c" mean "$(echo "$sum_h / $ROUNDS" | bc -l)" \
      "$(echo "$sum_k / $ROUNDS" | bc -l)" "$(echo "$sum_k / $sum_h" | bc -l)"
  done
done
echo "after: $(uptime)"
