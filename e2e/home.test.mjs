// Browser end-to-end tests for Rampart's home page, its security headers and
// its Content Security Policy, in real headless Chromium.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { cspViolations, launchBrowser, openPage, startServer } from './helpers.mjs';

let server;
let browser;

before(async () => {
  server = await startServer();
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

describe('home page', () => {
  test('renders with its stylesheet, security headers and no CSP violations', async () => {
    const { page, consoleMessages, pageErrors, responses, failedRequests, close } = await openPage(browser);
    try {
      const res = await page.goto(`${server.url}/`, { waitUntil: 'load' });
      assert.ok(res, 'navigation to / produced no response');
      assert.equal(res.status(), 200, 'GET / status');

      // Page structure.
      assert.ok((await page.locator('main').count()) >= 1, 'page has a <main> element');
      assert.ok(await page.locator('h1').first().isVisible(), 'page has a visible <h1>');

      // The stylesheet was requested and served as CSS.
      const css = responses.find((r) => new URL(r.url()).pathname === '/static/app.css');
      assert.ok(
        css,
        `/static/app.css was not loaded; responses: ${responses.map((r) => r.url()).join(', ')}; ` +
          `failed: ${failedRequests.join(', ') || 'none'}`,
      );
      assert.equal(css.status(), 200, '/static/app.css status');
      const cssType = (await css.allHeaders())['content-type'] ?? '';
      assert.match(cssType, /^text\/css\b/i, '/static/app.css content-type');

      // Security headers on the document response.
      const h = await res.allHeaders();
      const csp = h['content-security-policy'];
      assert.ok(csp, 'content-security-policy header present');
      for (const directive of [
        "default-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "frame-ancestors 'none'",
        "form-action 'self'",
      ]) {
        assert.ok(csp.includes(directive), `CSP contains ${directive}: ${csp}`);
      }
      assert.ok(!csp.includes('unsafe-inline'), `CSP must not allow 'unsafe-inline': ${csp}`);

      assert.equal(h['x-content-type-options']?.trim().toLowerCase(), 'nosniff', 'x-content-type-options');
      assert.equal(h['x-frame-options']?.trim().toUpperCase(), 'DENY', 'x-frame-options');
      assert.equal(h['referrer-policy']?.trim(), 'strict-origin-when-cross-origin', 'referrer-policy');
      assert.ok(h['permissions-policy']?.trim(), 'permissions-policy present');
      assert.equal(h['cross-origin-opener-policy']?.trim(), 'same-origin', 'cross-origin-opener-policy');
      assert.equal(h['cross-origin-resource-policy']?.trim(), 'same-site', 'cross-origin-resource-policy');
      assert.equal(h['x-xss-protection']?.trim(), '0', 'x-xss-protection');
      assert.ok(h['x-request-id']?.trim(), 'x-request-id present');
      assert.equal(h['x-powered-by'], undefined, 'no x-powered-by header');

      // Let late console output (e.g. CSP reports for deferred loads) arrive.
      await sleep(200);
      assert.deepEqual(cspViolations(consoleMessages), [], 'no Content Security Policy violations');
      assert.deepEqual(pageErrors, [], 'no uncaught page errors');
    } finally {
      await close();
    }
  });

  test('CSP blocks an injected inline event handler (and the console check sees it)', async () => {
    const { page, consoleMessages, close } = await openPage(browser);
    try {
      const res = await page.goto(`${server.url}/`, { waitUntil: 'load' });
      assert.equal(res?.status(), 200, 'GET / status');
      assert.deepEqual(cspViolations(consoleMessages), [], 'no CSP violations before the injection');

      // page.evaluate runs through the DevTools protocol, which CSP does not
      // govern; the markup it inserts is ordinary page content, which CSP does.
      await page.evaluate(() => {
        document.body.insertAdjacentHTML('beforeend', '<img src=x onerror="window.__pwned=1">');
      });
      await sleep(500);

      assert.equal(await page.evaluate(() => window.__pwned), undefined, 'inline onerror handler must not run');
      const violations = cspViolations(consoleMessages);
      assert.ok(
        violations.length > 0,
        `expected a CSP violation in the console; console was: ${JSON.stringify(consoleMessages)}`,
      );
    } finally {
      await close();
    }
  });
});

describe('login page', () => {
  test('has a form with a hidden csrf_token input', async (t) => {
    const { page, pageErrors, close } = await openPage(browser);
    try {
      const res = await page.goto(`${server.url}/login`, { waitUntil: 'load' });
      assert.ok(res, 'navigation to /login produced no response');
      if (res.status() === 404) {
        t.skip('/login returns 404 (the page does not exist yet)');
        return;
      }
      assert.equal(res.status(), 200, 'GET /login status');
      const token = page.locator('form input[type="hidden"][name="csrf_token"]');
      assert.ok((await token.count()) >= 1, 'a <form> contains <input type="hidden" name="csrf_token">');
      const value = await token.first().getAttribute('value');
      assert.ok(value && value.trim().length > 0, 'csrf_token has a non-empty value');
      assert.deepEqual(pageErrors, [], 'no uncaught page errors');
    } finally {
      await close();
    }
  });
});
