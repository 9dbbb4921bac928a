// Shared helpers for Rampart's browser end-to-end tests.
//
// - launchBrowser(): the system's headless Chromium (Debian's `chromium`
//   package) driven by playwright-core. No browser is ever downloaded.
// - startServer(): starts the Rampart binary on a random loopback port with a
//   fresh data directory, waits until it is ready, and returns its base URL
//   plus a stop() function. With RAMPART_E2E_URL set, it uses that server
//   instead of starting one.
// - runCli(): runs the Rampart CLI against a started server's data directory.
// - openPage(): a new page that records console messages and page errors.

import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { chromium } from 'playwright-core';

export const E2E_DIR = path.dirname(fileURLToPath(import.meta.url));

const LISTEN_TIMEOUT_MS = 30_000;
const READY_TIMEOUT_MS = 30_000;
const STOP_GRACE_MS = 5_000;
const LISTENING_RE = /listening on (http:\/\/\S+)/;
// ANSI colour/control sequences, in case the server's logger colours output.
const ANSI_RE = /\x1b\[[0-9;?]*[ -\/]*[@-~]/g;

export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

export function chromiumPath() {
  return process.env.CHROMIUM_PATH || '/usr/bin/chromium';
}

export async function launchBrowser() {
  const executablePath = chromiumPath();
  if (!existsSync(executablePath)) {
    throw new Error(
      `Chromium not found at ${executablePath}. Install Debian's package ` +
        '(apt-get install -y chromium) or set CHROMIUM_PATH.',
    );
  }
  return chromium.launch({ executablePath, args: CHROMIUM_ARGS });
}

export function rampartBin() {
  return process.env.RAMPART_BIN
    ? path.resolve(process.env.RAMPART_BIN)
    : path.resolve(E2E_DIR, '../target/debug/rampart');
}

/** Pull the base URL out of a "listening on http://..." log line, or null. */
export function parseListeningUrl(line) {
  const m = LISTENING_RE.exec(line.replace(ANSI_RE, ''));
  if (!m) return null;
  // Tolerate structured logs, e.g. `"msg":"listening on http://127.0.0.1:1"}`.
  const raw = m[1].replace(/["'`,;)\]}>]+$/, '').replace(/\.$/, '');
  try {
    const u = new URL(raw);
    return `${u.protocol}//${u.host}`;
  } catch {
    return null;
  }
}

/** Poll GET <base>/readyz until it answers 200. */
export async function waitForReady(baseUrl, { timeoutMs = READY_TIMEOUT_MS, isDead = () => null } = {}) {
  const deadline = Date.now() + timeoutMs;
  let last = 'no response yet';
  while (Date.now() < deadline) {
    const dead = isDead();
    if (dead) throw new Error(`server exited before /readyz answered 200 (${dead})`);
    try {
      const res = await fetch(`${baseUrl}/readyz`, { signal: AbortSignal.timeout(2_000) });
      await res.arrayBuffer().catch(() => {});
      if (res.status === 200) return;
      last = `HTTP ${res.status}`;
    } catch (err) {
      last = err?.cause?.code || err?.message || String(err);
    }
    await sleep(100);
  }
  throw new Error(`${baseUrl}/readyz did not answer 200 within ${timeoutMs} ms (last: ${last})`);
}

/**
 * Start the Rampart server (or use RAMPART_E2E_URL).
 * Resolves to { url, stop, output } where output() returns the server's
 * recent stdout/stderr lines for diagnostics.
 */
export async function startServer() {
  const external = process.env.RAMPART_E2E_URL;
  if (external) {
    const url = external.replace(/\/+$/, '');
    await waitForReady(url);
    return { url, stop: async () => {}, output: () => '', dataDir: null, env: null };
  }

  const bin = rampartBin();
  if (!existsSync(bin)) {
    throw new Error(
      `Rampart server binary not found at ${bin}. Build it first (cargo build) ` +
        'or set RAMPART_BIN (or RAMPART_E2E_URL to test a running server).',
    );
  }

  const dataDir = await mkdtemp(path.join(tmpdir(), 'rampart-e2e-'));
  const env = {
    ...process.env,
    RAMPART_DATA_DIR: dataDir,
    RAMPART_BIND: '127.0.0.1:0',
    RAMPART_MODE: 'development',
    NO_COLOR: '1',
  };
  if (!env.RUST_LOG) env.RUST_LOG = 'info';

  const child = spawn(bin, ['serve'], { cwd: dataDir, env, stdio: ['ignore', 'pipe', 'pipe'] });

  // Keep the last lines for error messages; always drain both pipes so the
  // server never blocks on a full pipe.
  const recent = [];
  const remember = (stream, line) => {
    recent.push(`[${stream}] ${line}`);
    if (recent.length > 200) recent.shift();
    if (process.env.RAMPART_E2E_VERBOSE) process.stderr.write(`[rampart ${stream}] ${line}\n`);
  };
  const output = () => recent.join('\n');

  let exited = null;
  const exitedPromise = new Promise((resolve) => {
    child.once('exit', (code, signal) => {
      exited ??= signal ? `signal ${signal}` : `exit code ${code}`;
      resolve();
    });
    // Spawn failures (EACCES, ENOEXEC...) emit 'error' and maybe no 'exit'.
    child.once('error', (err) => {
      exited ??= `failed to start: ${err.message}`;
      resolve();
    });
  });

  let onUrl;
  const urlPromise = new Promise((resolve, reject) => {
    onUrl = resolve;
    exitedPromise.then(() => reject(new Error(`server stopped (${exited}) before printing "listening on http://..."`)));
  });

  // The brief says the line goes to stdout; loggers sometimes write to
  // stderr, so both are watched and the first match wins.
  for (const [name, stream] of [['stdout', child.stdout], ['stderr', child.stderr]]) {
    let buf = '';
    stream.setEncoding('utf8');
    stream.on('data', (chunk) => {
      buf += chunk;
      let nl;
      while ((nl = buf.indexOf('\n')) !== -1) {
        const line = buf.slice(0, nl).replace(/\r$/, '');
        buf = buf.slice(nl + 1);
        remember(name, line);
        const url = parseListeningUrl(line);
        if (url) onUrl(url);
      }
    });
  }

  const killOnExit = () => {
    if (exited === null) child.kill('SIGKILL');
  };
  process.once('exit', killOnExit);

  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    if (exited === null) {
      child.kill('SIGTERM');
      const timer = setTimeout(() => exited === null && child.kill('SIGKILL'), STOP_GRACE_MS);
      await exitedPromise;
      clearTimeout(timer);
    }
    process.removeListener('exit', killOnExit);
    await rm(dataDir, { recursive: true, force: true });
  };

  try {
    let timer;
    const url = await Promise.race([
      urlPromise,
      new Promise((_, reject) => {
        timer = setTimeout(
          () => reject(new Error(`no "listening on http://..." line within ${LISTEN_TIMEOUT_MS} ms`)),
          LISTEN_TIMEOUT_MS,
        );
      }),
    ]).finally(() => clearTimeout(timer));
    await waitForReady(url, { isDead: () => exited });
    // dataDir/env let a test run the CLI (`rampart admin create`…) against the
    // same data directory as the server (see runCli).
    return { url, stop, output, dataDir, env };
  } catch (err) {
    await stop();
    err.message += `\n--- server output (${bin}) ---\n${output() || '(none)'}`;
    throw err;
  }
}

/**
 * Run the Rampart CLI (e.g. ['admin', 'create', '--username', 'boss']) with the
 * environment of a server from startServer(), so it uses the same data
 * directory. `input` is written to its standard input. Resolves to its stdout;
 * rejects with stderr when it exits non-zero. Not available with RAMPART_E2E_URL.
 */
export async function runCli(server, args, { input = '' } = {}) {
  if (!server.env) throw new Error('runCli needs a server started by startServer(), not RAMPART_E2E_URL');
  const child = spawn(rampartBin(), args, {
    cwd: server.dataDir,
    env: server.env,
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (c) => (stdout += c));
  child.stderr.setEncoding('utf8').on('data', (c) => (stderr += c));
  child.stdin.end(input);
  const code = await new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (c, signal) => resolve(signal ? signal : c));
  });
  if (code !== 0) {
    throw new Error(`rampart ${args.join(' ')} failed (${code}):\n${stderr}\n${stdout}`);
  }
  return stdout;
}

/**
 * Open a page in a fresh context and record what the browser reports:
 * console messages (including Chromium's CSP violation reports), uncaught
 * page errors and every response.
 */
export async function openPage(browser) {
  const context = await browser.newContext();
  const page = await context.newPage();
  const consoleMessages = [];
  const pageErrors = [];
  const responses = [];
  const failedRequests = [];
  page.on('console', (msg) => consoleMessages.push({ type: msg.type(), text: msg.text() }));
  page.on('pageerror', (err) => pageErrors.push(String(err?.stack || err)));
  page.on('response', (res) => responses.push(res));
  page.on('requestfailed', (req) => failedRequests.push(`${req.url()}: ${req.failure()?.errorText}`));
  return {
    context,
    page,
    consoleMessages,
    pageErrors,
    responses,
    failedRequests,
    close: () => context.close(),
  };
}

/** Messages that report a Content Security Policy violation. */
export function cspViolations(consoleMessages) {
  return consoleMessages
    .map((m) => m.text)
    .filter((t) => /content[- ]security[- ]policy/i.test(t));
}
