#!/usr/bin/env bash
# Checks the real server against its own OpenAPI document with schemathesis (an
# outside tool): every check, once anonymously and once with a bearer token, with a
# bounded number of examples. Any failure fails the run; the server is always stopped.
#
#   RAMPART_BIN        server binary (default: target/debug/rampart, built if missing)
#   ST_MAX_EXAMPLES    examples per operation and phase (default 30)
#   ST_VENV            virtualenv for schemathesis (default ~/.cache/rampart/st-venv)
#
# Rate limits are raised for this run through the configuration file only.
set -euo pipefail
cd "$(dirname "$0")/.."
REPO="$PWD"

ST_VENV="${ST_VENV:-$HOME/.cache/rampart/st-venv}"
ST_MAX_EXAMPLES="${ST_MAX_EXAMPLES:-30}"
# Pinned, so that a new release cannot change what CI checks between two runs.
ST_VERSION="4.32.5"
if ! "$ST_VENV/bin/st" --version 2>/dev/null | grep -q "version $ST_VERSION\$"; then
  echo "schemathesis.sh: installing schemathesis into $ST_VENV"
  python3 -m venv "$ST_VENV"
  "$ST_VENV/bin/pip" install --quiet "schemathesis==$ST_VERSION"
fi
"$ST_VENV/bin/st" --version

RAMPART_BIN="${RAMPART_BIN:-$REPO/target/debug/rampart}"
if [ ! -x "$RAMPART_BIN" ]; then
  cargo build -p rampart
fi

WORK="$(mktemp -d "${TMPDIR:-/tmp}/rampart-st-XXXXXX")"
PID=""
cleanup() {
  if [ -n "$PID" ]; then
    kill "$PID" 2>/dev/null || true
    wait "$PID" 2>/dev/null || true
  fi
  rm -rf "$WORK"
}
trap cleanup EXIT

PORT="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
BASE="http://127.0.0.1:$PORT"
# Generous limits: schemathesis sends thousands of requests from one IP. Every
# policy is configuration, not a test-only code path.
cat > "$WORK/rampart.toml" <<TOML
[rate_limits]
auth = { limit = 1000000, window_secs = 60 }
login = { limit = 1000000, window_secs = 60 }
login_ceiling = { limit = 1000000, window_secs = 60 }
password_reset = { limit = 1000000, window_secs = 60 }
totp = { limit = 1000000, window_secs = 60 }
store_write = { limit = 1000000, window_secs = 60 }
TOML

(
  cd "$WORK"
  RAMPART_CONFIG="$WORK/rampart.toml" RAMPART_DATA_DIR="$WORK" RAMPART_BIND="127.0.0.1:$PORT" \
    RAMPART_MODE=development RAMPART_LOG=warn NO_COLOR=1 \
    exec "$RAMPART_BIN" serve
) > "$WORK/server.log" 2>&1 &
PID=$!

for _ in $(seq 1 100); do
  if curl -fsS "$BASE/readyz" >/dev/null 2>&1; then break; fi
  if ! kill -0 "$PID" 2>/dev/null; then
    echo "schemathesis.sh: server exited early" >&2
    cat "$WORK/server.log" >&2
    exit 1
  fi
  sleep 0.2
done
curl -fsS "$BASE/readyz" >/dev/null

cd "$WORK" # schemathesis keeps its state in ./.schemathesis
# Every check is on by default. `--checks all` is not passed: on the command line it
# would override the per-operation settings in .ci/schemathesis.toml.
ST_ARGS=(--max-examples "$ST_MAX_EXAMPLES" --seed 1 --no-color --generation-database none)
status=0

echo "== schemathesis: anonymous"
"$ST_VENV/bin/st" --config-file "$REPO/.ci/schemathesis.toml" run "$BASE/v1/openapi.json" "${ST_ARGS[@]}" || status=1

echo "== schemathesis: with a bearer token"
USER_NAME="st$(date +%s)"
PASSWORD="correct-horse-battery-$RANDOM$RANDOM"
curl -fsS -X POST "$BASE/v1/auth/register" -H 'content-type: application/json' \
  -d "{\"username\":\"$USER_NAME\",\"password\":\"$PASSWORD\"}" >/dev/null
TOKEN="$(curl -fsS -X POST "$BASE/v1/auth/token" -H 'content-type: application/json' \
  -d "{\"login\":\"$USER_NAME\",\"password\":\"$PASSWORD\",\"client\":\"native\"}" |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')"
# Logout or revoking the token's own session (DELETE /v1/sessions/{id} with the ID
# from GET /v1/sessions) ends the session, and wrong passwords or second-factor
# codes lock the account (5 failures, 15 minutes) and so refuse its tokens: each
# would turn the rest of the run into 401s. Logout is exercised by the anonymous
# run; the other operations run last, on their own.
LAST=(--include-path /v1/me/password --include-path /v1/me/email --include-path /v1/me/totp/confirm
  --include-path /v1/me/totp/disable --include-path '/v1/sessions/{id}')
"$ST_VENV/bin/st" --config-file "$REPO/.ci/schemathesis.toml" run "$BASE/v1/openapi.json" "${ST_ARGS[@]}" \
  --exclude-path /v1/auth/logout --exclude-path /v1/me/password --exclude-path /v1/me/email \
  --exclude-path /v1/me/totp/confirm --exclude-path /v1/me/totp/disable \
  --exclude-path '/v1/sessions/{id}' -H "Authorization: Bearer $TOKEN" || status=1
echo "== schemathesis: with a bearer token, operations that can end the session"
"$ST_VENV/bin/st" --config-file "$REPO/.ci/schemathesis.toml" run "$BASE/v1/openapi.json" "${ST_ARGS[@]}" \
  "${LAST[@]}" -H "Authorization: Bearer $TOKEN" || status=1

if grep -qi "panicked" "$WORK/server.log"; then
  echo "schemathesis.sh: the server logged a panic" >&2
  grep -i -A3 "panicked" "$WORK/server.log" >&2 || true
  status=1
fi
exit "$status"
