#!/usr/bin/env bash
# Run Rampart's browser end-to-end tests in headless Chromium.
#
# Installs what is missing (Debian's chromium, the npm dev dependencies), then
# runs `npm test` in e2e/. The server binary must already be built:
#   RAMPART_BIN     server binary (default: <repo>/target/debug/rampart)
#   RAMPART_E2E_URL test an already running server instead of starting one
#   CHROMIUM_PATH   browser executable (default: /usr/bin/chromium)
# Extra arguments are passed to `node --test` (e.g. test files).
set -euo pipefail

E2E_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_DIR="$(cd "$E2E_DIR/.." && pwd)"

# --- Chromium (Debian package; never a downloaded browser build) -----------
CHROMIUM_PATH="${CHROMIUM_PATH:-/usr/bin/chromium}"
if [ ! -x "$CHROMIUM_PATH" ]; then
  if [ "$CHROMIUM_PATH" != /usr/bin/chromium ]; then
    echo "run.sh: CHROMIUM_PATH=$CHROMIUM_PATH is not an executable file" >&2
    exit 1
  fi
  if [ "$(id -u)" -eq 0 ]; then
    echo "run.sh: installing Debian's chromium package" >&2
    apt-get update
    DEBIAN_FRONTEND=noninteractive apt-get install -y chromium
  else
    echo "run.sh: /usr/bin/chromium is missing and this is not root;" \
      "install it with: sudo apt-get install -y chromium (or set CHROMIUM_PATH)" >&2
    exit 1
  fi
fi
export CHROMIUM_PATH

# --- Node and the npm dev dependencies --------------------------------------
for tool in node npm; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    echo "run.sh: '$tool' not found; Node.js >= 20 with npm is required" >&2
    exit 1
  fi
done
node_major="$(node -p 'process.versions.node.split(".")[0]')"
if [ "$node_major" -lt 20 ]; then
  echo "run.sh: Node.js >= 20 is required (found $(node --version))" >&2
  exit 1
fi
if [ ! -d "$E2E_DIR/node_modules/playwright-core" ]; then
  (cd "$E2E_DIR" && npm ci --no-audit --no-fund)
fi

# --- The server under test --------------------------------------------------
if [ -z "${RAMPART_E2E_URL:-}" ]; then
  RAMPART_BIN="${RAMPART_BIN:-$REPO_DIR/target/debug/rampart}"
  case "$RAMPART_BIN" in /*) ;; *) RAMPART_BIN="$PWD/$RAMPART_BIN" ;; esac
  if [ ! -x "$RAMPART_BIN" ]; then
    echo "run.sh: server binary $RAMPART_BIN not found or not executable;" \
      "build it first (cargo build) or set RAMPART_BIN / RAMPART_E2E_URL" >&2
    exit 1
  fi
  export RAMPART_BIN
fi

# Test files given relative to the caller's directory (e2e/market.test.mjs from
# the repository root) still resolve after the cd below.
args=()
for a in "$@"; do
  if [ -f "$a" ]; then args+=("$(cd "$(dirname "$a")" && pwd)/$(basename "$a")"); else args+=("$a"); fi
done

cd "$E2E_DIR"
exec npm test -- ${args[@]+"${args[@]}"}
