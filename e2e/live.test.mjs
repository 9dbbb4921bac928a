// Live updates in real Chromium (issue 11 §2): two people, each in their own
// browser context, on one conversation page. A message one sends appears on the
// other's open page without a reload (the page's /static/live.js on GET /ws), the
// reader's page marks it read and the sender's page shows "Seen" live, and an open
// inbox refreshes itself. Without the script the same pages work by reloading
// (market.test.mjs covers that path).

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { cspViolations, launchBrowser, openPage, startServer } from './helpers.mjs';

const PASSPHRASE = 'correct horse battery staple 42';
const SHOTS = process.env.RAMPART_E2E_SHOTS_DIR || '/tmp';

let browser;

before(async () => {
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
});

async function person(name) {
  const s = await openPage(browser);
  return { name, ...s };
}

async function shot(page, name) {
  await page.screenshot({ path: `${SHOTS}/e2e-live-${name}.png`, fullPage: true });
}

async function register(p, url) {
  await p.page.goto(`${url}/register`);
  await p.page.getByLabel('Username').fill(p.name);
  await p.page.getByLabel('Password', { exact: true }).fill(PASSPHRASE);
  await Promise.all([p.page.waitForURL(/\/login\b/), p.page.locator('main').getByRole('button', { exact: true, name: 'Register' }).click()]);
}

async function logIn(p, url) {
  await p.page.goto(`${url}/login`);
  await p.page.getByLabel('Username or e-mail').fill(p.name);
  await p.page.getByLabel('Password', { exact: true }).fill(PASSPHRASE);
  await Promise.all([p.page.waitForLoadState('load'), p.page.locator('main').getByRole('button', { name: 'Log in' }).click()]);
  assert.ok(await p.page.locator('header.site').getByText(p.name).isVisible(), `${p.name} is logged in`);
}

async function send(p, text) {
  await p.page.getByLabel('Message', { exact: true }).fill(text);
  await Promise.all([
    p.page.waitForNavigation({ waitUntil: 'load' }),
    p.page.locator('main').getByRole('button', { exact: true, name: 'Send' }).click(),
  ]);
}

/** Waits until the page's live script says it is connected. */
async function live(p) {
  await p.page.waitForFunction(() => document.documentElement.getAttribute('data-live') === 'connected', null, { timeout: 10_000 });
}

describe('live updates', () => {
  test('a message appears on the other open page without a reload', { timeout: 120_000 }, async () => {
    const server = await startServer();
    const a = await person('lia_live');
    const b = await person('leo_live');
    try {
      const url = server.url;
      for (const p of [a, b]) await register(p, url);
      for (const p of [a, b]) await logIn(p, url);

      // A starts the conversation from the compose page (no script involved).
      await a.page.goto(`${url}/messages/new?to=${b.name}`);
      await send(a, 'First, the old way.');
      const convPath = new URL(a.page.url()).pathname;
      assert.match(convPath, /^\/messages\/[^/]+$/);

      // B has the inbox open; it refreshes itself when A writes again.
      await b.page.goto(`${url}/messages`);
      await live(b);
      await a.page.goto(`${url}${convPath}`);
      await live(a);
      await send(a, 'Second, while your inbox is open.');
      const badge = b.page.locator('main ul.inbox li .badge');
      await badge.waitFor({ timeout: 10_000 });
      await b.page.waitForFunction(() => document.querySelector('main ul.inbox li .badge')?.getAttribute('data-unread') === '2', null, { timeout: 10_000 });
      await shot(b.page, '01-inbox-live');

      // Both open the conversation; a marker shows B's page is never reloaded.
      await b.page.goto(`${url}${convPath}`);
      await live(b);
      await b.page.evaluate(() => { window.__notReloaded = true; });
      await live(a);
      await send(a, 'Third: this one should appear by itself.');
      const arrived = b.page.locator('main ol.messages li.theirs', { hasText: 'Third: this one should appear by itself.' });
      await arrived.waitFor({ timeout: 10_000 });
      assert.equal(await b.page.evaluate(() => window.__notReloaded), true, "B's page was not reloaded");
      await shot(b.page, '02-message-live');

      // B's page marked it read: A's page shows "Seen" without a reload.
      await live(a);
      await a.page.evaluate(() => { window.__notReloaded = true; });
      await a.page.locator('#seen').waitFor({ state: 'visible', timeout: 10_000 });
      assert.equal(await a.page.evaluate(() => window.__notReloaded), true, "A's page was not reloaded");
      await shot(a.page, '03-seen-live');

      // And back: B answers, A's open page shows it.
      await send(b, 'Got it, live.');
      await a.page.locator('main ol.messages li.theirs', { hasText: 'Got it, live.' }).waitFor({ timeout: 10_000 });
      // Text arrives as text: markup in a message is not interpreted.
      await live(b);
      await send(a, '<b>not bold</b>');
      const raw = b.page.locator('main ol.messages li.theirs', { hasText: '<b>not bold</b>' });
      await raw.waitFor({ timeout: 10_000 });
      assert.equal(await raw.locator('b').count(), 0, 'no element made from message text');

      for (const p of [a, b]) {
        assert.deepEqual(cspViolations(p.consoleMessages), [], `${p.name}: no CSP violations`);
        assert.deepEqual(p.pageErrors, [], `${p.name}: no page errors`);
      }
    } catch (err) {
      for (const p of [a, b]) await shot(p.page, `failed-${p.name}`).catch(() => {});
      err.message += `\n--- server output ---\n${server.output()}`;
      throw err;
    } finally {
      for (const p of [a, b]) await p.close().catch(() => {});
      await server.stop();
    }
  });
});
