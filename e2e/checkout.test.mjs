// Browser end-to-end test of the storefront checkout (issue 10), as a shopper uses it:
//
// An anonymous visitor finds an item and adds it to the cart (the cart cookie holds
// it), registers and logs in (the cart merges into the account), goes through the
// checkout steps — address, shipping, payment — where a declined sandbox payment
// shows the error and makes no order, then pays (sandbox success), sees the
// confirmation with the escrow funded, and finds the order in the history.
//
// Setup outside the pages: the catalog (a super-admin made with the CLI opens a store
// and lists an item through the /v1 API, as scripts/load/seed_catalog.py does).

import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { cspViolations, launchBrowser, openPage, runCli, startServer } from './helpers.mjs';

const PASSPHRASE = 'correct horse battery staple 42';
const SHOTS = process.env.RAMPART_E2E_SHOTS_DIR || '/tmp';

let browser;

before(async () => {
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
});

// ----- setup through the API (RFC 6238 TOTP for the admin's enrolment) -------------

function base32Decode(s) {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  let bits = 0;
  let value = 0;
  const out = [];
  for (const ch of s.replace(/=+$/, '').toUpperCase()) {
    const i = alphabet.indexOf(ch);
    if (i < 0) throw new Error(`not base32: ${ch}`);
    value = (value << 5) | i;
    bits += 5;
    if (bits >= 8) {
      out.push((value >>> (bits - 8)) & 0xff);
      bits -= 8;
    }
  }
  return Buffer.from(out);
}

function totpNow(secret) {
  const msg = Buffer.alloc(8);
  msg.writeBigUInt64BE(BigInt(Math.floor(Date.now() / 30_000)));
  const h = createHmac('sha1', base32Decode(secret)).update(msg).digest();
  const off = h[h.length - 1] & 0x0f;
  return String((h.readUInt32BE(off) & 0x7fffffff) % 1_000_000).padStart(6, '0');
}

async function api(url, method, path, token, body) {
  const headers = { Accept: 'application/json' };
  if (token) headers.Authorization = `Bearer ${token}`;
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const res = await fetch(`${url}${path}`, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, json: text ? JSON.parse(text) : null, text };
}

/** A store with one active item, listed by a CLI-made super-admin; the item's ID. */
async function seedItem(server, title, priceMinor, stock) {
  const url = server.url;
  const out = await runCli(server, ['admin', 'create', '--username', 'boss'], { input: `${PASSPHRASE}\n` });
  assert.match(out, /created super-admin boss/);
  let r = await api(url, 'POST', '/v1/auth/token', null, { login: 'boss', password: PASSPHRASE });
  assert.equal(r.status, 200, `admin token: ${r.text}`);
  let token = r.json.access_token;
  r = await api(url, 'POST', '/v1/me/totp', token);
  assert.equal(r.status, 200, `totp begin: ${r.text}`);
  // Not in the last seconds of a step, so the code is still current on arrival.
  while (30 - ((Date.now() / 1000) % 30) < 3) await sleep(500);
  r = await api(url, 'POST', '/v1/me/totp/confirm', token, { code: totpNow(r.json.secret) });
  assert.equal(r.status, 200, `totp confirm: ${r.text}`);
  token = r.json.access_token || token;
  r = await api(url, 'POST', '/v1/stores', token, { name: 'Tea House', currency: 'EUR' });
  assert.equal(r.status, 201, `store: ${r.text}`);
  const store = r.json.id;
  r = await api(url, 'POST', `/v1/stores/${store}/items`, token, {
    title,
    description: 'Cast iron, holds a litre.',
    price_minor: priceMinor,
    stock,
    status: 'active',
  });
  assert.equal(r.status, 201, `item: ${r.text}`);
  return r.json.id;
}

// ----- page helpers ----------------------------------------------------------------

async function shot(page, name) {
  await page.screenshot({ path: `${SHOTS}/e2e-checkout-${name}.png`, fullPage: true });
}

/** Submit a form by its button and wait for the page that answers. */
async function submit(locator) {
  const page = locator.page();
  await Promise.all([page.waitForNavigation({ waitUntil: 'load' }), locator.click()]);
}

async function alerts(page) {
  const a = page.locator('main [role=alert]');
  const n = await a.count();
  const out = [];
  for (let i = 0; i < n; i++) out.push((await a.nth(i).innerText()).trim());
  return out;
}

async function assertNoErrors(page, where) {
  assert.deepEqual(await alerts(page), [], `${where}: no error alerts on ${page.url()}`);
}

async function notice(page) {
  const n = page.locator('main .notice[role=status]');
  return (await n.count()) ? (await n.first().innerText()).trim() : '';
}

function path(page) {
  return new URL(page.url()).pathname;
}

// ----- the story -------------------------------------------------------------------

describe('storefront checkout', () => {
  test('anonymous cart, login merge, address, shipping, declined then paid, escrow funded', { timeout: 300_000 }, async () => {
    const server = await startServer();
    const shopper = await openPage(browser);
    const { page } = shopper;
    try {
      const url = server.url;
      const item = await seedItem(server, 'Green teapot', 1500, 5);

      // --- An anonymous visitor adds the item to the cart. ---------------------------
      await page.goto(`${url}/items/${item}`);
      assert.equal(await page.locator('h1').innerText(), 'Green teapot');
      await page.getByLabel('Number to add').fill('2');
      await submit(page.locator('main').getByRole('button', { exact: true, name: 'Add to cart' }));
      await assertNoErrors(page, 'add to cart');
      assert.equal(path(page), '/cart');
      assert.equal(await notice(page), 'Added to your cart.');
      const line = page.locator('main tr.cart-line', { hasText: 'Green teapot' });
      assert.equal(await line.count(), 1, 'the line is in the cart');
      assert.match(await page.locator('main .cart-total').innerText(), /30[.,]00/, 'total 2 × 15.00');
      const cookies = await shopper.context.cookies();
      assert.ok(
        cookies.some((c) => c.httpOnly && c.value.length >= 16 && /cart/.test(c.name)),
        `an http-only cart cookie holds the visitor's cart: ${cookies.map((c) => c.name)}`,
      );
      await shot(page, '01-anonymous-cart');

      // Change the quantity on the cart page (no JavaScript: a form per line).
      await line.getByRole('spinbutton').fill('1');
      await submit(line.getByRole('button', { name: 'Update' }));
      await assertNoErrors(page, 'update quantity');
      assert.equal(await notice(page), 'Cart updated.');
      assert.match(await page.locator('main .cart-total').innerText(), /15[.,]00/);

      // --- Checkout needs an account: register, then log in; the cart merges. ------
      await page.goto(`${url}/register`);
      await page.getByLabel('Username').fill('tea_buyer');
      await page.getByLabel('Password', { exact: true }).fill(PASSPHRASE);
      await Promise.all([
        page.waitForURL(/\/login\b/),
        page.locator('main').getByRole('button', { exact: true, name: 'Register' }).click(),
      ]);
      await page.goto(`${url}/login?next=/cart`);
      await page.getByLabel('Username or e-mail').fill('tea_buyer');
      await page.getByLabel('Password', { exact: true }).fill(PASSPHRASE);
      await submit(page.locator('main').getByRole('button', { name: 'Log in' }));
      assert.ok(await page.locator('header.site').getByText('tea_buyer').isVisible(), 'logged in');
      if (path(page) !== '/cart') await page.goto(`${url}/cart`);
      assert.equal(
        await page.locator('main tr.cart-line', { hasText: 'Green teapot' }).count(),
        1,
        'the visitor cart merged into the account at login',
      );
      await shot(page, '02-merged-cart');

      // --- Address. ---------------------------------------------------------------------
      await submit(page.locator('main').getByRole('link', { name: 'Proceed to checkout' }));
      assert.equal(path(page), '/checkout/address');
      assert.ok(await page.getByLabel('A private person').isChecked(), 'private person by default');
      const billing = page.locator('fieldset', { hasText: 'Billing address' });
      await billing.getByLabel('Name').fill('Mari Maasikas');
      await billing.getByLabel('Street address').fill('Pikk 1');
      await billing.getByLabel('Postal code').fill('10123');
      await billing.getByLabel('City').fill('Tallinn');
      await billing.getByLabel('Country code').fill('EE');
      // A business buyer must give a company name and VAT ID: the rule's own message.
      await page.getByLabel('A business').check();
      await submit(page.locator('main').getByRole('button', { name: 'Continue' }));
      const ruleErrors = await alerts(page);
      assert.ok(
        ruleErrors.some((t) => /company name is required/i.test(t)),
        `the business rule speaks: ${ruleErrors}`,
      );
      await shot(page, '03-business-rule');
      await page.getByLabel('A private person').check();
      await submit(page.locator('main').getByRole('button', { name: 'Continue' }));
      await assertNoErrors(page, 'address');
      assert.equal(path(page), '/checkout/shipping');

      // --- Shipping (only the methods the rules allow are offered). -----------------------
      await shot(page, '04-shipping');
      await submit(page.locator('main').getByRole('button', { name: 'Continue' }));
      await assertNoErrors(page, 'shipping');
      assert.equal(path(page), '/checkout/payment');

      // --- Payment: no card field, only the sandbox's test outcomes. -----------------------
      assert.equal(await page.locator('input[autocomplete^="cc-"], input[name*="card"]').count(), 0, 'no card number field');
      await page.getByLabel('Card is declined').check();
      await shot(page, '05-payment');
      await submit(page.locator('main').getByRole('button', { name: /^Pay/ }));
      const declined = await alerts(page);
      assert.ok(declined.some((t) => /declined/i.test(t)), `the decline is shown: ${declined}`);
      await shot(page, '06-declined');
      await page.goto(`${url}/orders`);
      assert.ok(await page.getByText('No orders yet.').isVisible(), 'a declined payment makes no order');

      // Paying again (same intent, reused) succeeds.
      await page.goto(`${url}/checkout/payment`);
      await page.getByLabel('Payment succeeds').check();
      await submit(page.locator('main').getByRole('button', { name: /^Pay/ }));
      await assertNoErrors(page, 'payment');
      assert.match(path(page), /^\/orders\/[^/]+$/, `on the order page (${page.url()})`);
      const orderId = path(page).split('/').pop();
      assert.match(await notice(page), /Thank you/);
      const escrow = page.locator('main td.escrow-state');
      assert.equal(await escrow.count(), 1, 'one store: one escrow transaction');
      assert.equal(await escrow.getAttribute('data-state'), 'funded', 'the escrow is funded');
      assert.match(await page.locator('main .card').innerText(), /visa .*4242/, 'masked card');
      await shot(page, '07-confirmation');

      // --- The order history. ----------------------------------------------------------
      await page.goto(`${url}/orders`);
      const row = page.locator('main tr.order-row', { hasText: orderId });
      assert.equal(await row.count(), 1, 'the order is in the history');
      assert.match(await row.innerText(), /Paid/);
      assert.equal(await page.locator('main tr.order-row').count(), 1, 'exactly one order');
      // The cart is spent.
      await page.goto(`${url}/cart`);
      assert.ok(await page.getByText('Your cart is empty.').isVisible());
      await shot(page, '08-history');

      await sleep(200);
      assert.deepEqual(cspViolations(shopper.consoleMessages), [], 'no Content Security Policy violations');
      assert.deepEqual(shopper.pageErrors, [], 'no uncaught page errors');
    } catch (err) {
      await shot(page, 'failed').catch(() => {});
      err.message += `\n--- server output ---\n${server.output()}`;
      throw err;
    } finally {
      await shopper.close().catch(() => {});
      await server.stop();
    }
  });
});
