#!/usr/bin/env bash
# WebSocket load (docs/benchmarks.md, "Real time"): idle sockets per 100 MB of server
# RSS, and delivery latency at 1 000 messages/s among 1 000 connected users on one
# instance and across two (PostgreSQL LISTEN/NOTIFY), beside a loopback echo
# baseline. Loopback only; bounded in count and time.
#
#   BENCH_DATABASE_URL  PostgreSQL admin URL (default postgres://postgres@127.0.0.1:5432/test);
#                       a fresh schema is made and dropped
#   BENCH_IDLE / BENCH_USERS / BENCH_RATE / BENCH_SECS  see crates/rampart/benches/ws.rs
#   BENCH_PROFILE       cargo profile of the load generator (default: cargo bench's);
#                       `dev` reuses the test build (the server is always release)
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$REPO"
export BENCH_DATABASE_URL="${BENCH_DATABASE_URL:-${RAMPART_TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/test}}"
# 10 000 server sockets plus 10 000 client sockets, in two processes.
ulimit -n "$(ulimit -Hn)" || true
cargo build --release -p rampart --bin rampart
export RAMPART_BIN="$REPO/target/release/rampart"
exec cargo bench ${BENCH_PROFILE:+--profile "$BENCH_PROFILE"} -p rampart --bench ws
