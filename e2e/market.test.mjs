// Browser end-to-end tests for the marketplace as people use it: several
// people, each in their own browser context (own cookies), on one server.
//
// 1. The trade story: a super-admin made with the CLI logs in, enrols TOTP and
//    grants roles; a seller opens a store and lists an item; a buyer finds it
//    in the catalog and buys it; staff (with TOTP) marks it funded; the seller
//    ships; the buyer opens a dispute; the seller answers with a claim; staff
//    resolves it with a partial refund from the dispute queue; everyone sees
//    the outcome.
// 2. Two people exchange messages.
//
// Everything a person does goes through the server-rendered pages. The only
// setup outside the pages is what the UI has no path for: creating the first
// super-admin (CLI) and the role grants (the admin API, called with the
// admin's own browser session and CSRF token — there are no admin pages).
//
// The server rate-limits auth POSTs (register + login: 5 per minute per IP),
// so the story spaces them out with AuthBudget (it waits when needed) and the
// message test runs on its own server.

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

// ----- TOTP (RFC 6238: HMAC-SHA1, 30 s steps, 6 digits) ---------------------

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

function totpAt(secret, step) {
  const msg = Buffer.alloc(8);
  msg.writeBigUInt64BE(BigInt(step));
  const h = createHmac('sha1', base32Decode(secret)).update(msg).digest();
  const off = h[h.length - 1] & 0x0f;
  const n = (h.readUInt32BE(off) & 0x7fffffff) % 1_000_000;
  return String(n).padStart(6, '0');
}

/**
 * A TOTP code for a step not used before by this account (the server refuses
 * a replayed code), waiting for the next 30 s step when needed. Also avoids the
 * last second of a step so the code is still current when it arrives.
 */
async function freshTotp(account) {
  for (;;) {
    const now = Date.now() / 1000;
    const step = Math.floor(now / 30);
    const left = 30 - (now % 30);
    if (step > (account.lastStep ?? -1) && left > 2) {
      account.lastStep = step;
      return totpAt(account.secret, step);
    }
    await sleep(left * 1000 + 100);
  }
}

// ----- auth POST budget --------------------------------------------------------

/** Spaces register/login POSTs out to stay under 5 per minute per IP. */
class AuthBudget {
  constructor(limit = 5, windowMs = 61_000) {
    this.limit = limit;
    this.windowMs = windowMs;
    this.times = [];
  }
  async take() {
    for (;;) {
      const now = Date.now();
      this.times = this.times.filter((t) => now - t < this.windowMs);
      if (this.times.length < this.limit) {
        this.times.push(now);
        return;
      }
      await sleep(this.times[0] + this.windowMs - now + 50);
    }
  }
}

// ----- people -------------------------------------------------------------------

async function shot(page, name) {
  await page.screenshot({ path: `${SHOTS}/e2e-market-${name}.png`, fullPage: true });
}

/** One person: a browser context of their own. */
async function person(name) {
  const s = await openPage(browser);
  return { name, ...s };
}

async function register(p, url, budget) {
  await p.page.goto(`${url}/register`);
  await p.page.getByLabel('Username').fill(p.name);
  await p.page.getByLabel('Password', { exact: true }).fill(PASSPHRASE);
  await budget.take();
  await Promise.all([p.page.waitForURL(/\/login\b/), p.page.locator('main').getByRole('button', { exact: true, name: 'Register' }).click()]);
}

async function logIn(p, url, budget) {
  await p.page.goto(`${url}/login`);
  await p.page.getByLabel('Username or e-mail').fill(p.name);
  await p.page.getByLabel('Password', { exact: true }).fill(PASSPHRASE);
  await budget.take();
  await Promise.all([
    p.page.waitForLoadState('load'),
    p.page.locator('main').getByRole('button', { name: 'Log in' }).click(),
  ]);
  assert.ok(
    await p.page.locator('header.site').getByText(p.name).isVisible(),
    `${p.name} is logged in (at ${p.page.url()})`,
  );
}

/** The signed-in person's own account (GET /v1/me with their session cookie). */
async function me(p, url) {
  // Fetched by the page itself: the session is bound to the browser's client.
  const res = await p.page.evaluate(async () => {
    const r = await fetch('/v1/me');
    return { status: r.status, text: await r.text() };
  });
  assert.equal(res.status, 200, `GET /v1/me as ${p.name}: ${res.text}`);
  return JSON.parse(res.text);
}

/**
 * Enrol TOTP on /settings/2fa as a user would: start, read the secret shown on
 * the page, type the authenticator's code. Returns the account's TOTP state.
 */
async function enrolTotp(p, url) {
  if (new URL(p.page.url()).pathname !== '/settings/2fa') await p.page.goto(`${url}/settings/2fa`);
  await Promise.all([
    p.page.waitForLoadState('load'),
    p.page.locator('main').getByRole('button', { exact: true, name: 'Set up two-factor authentication' }).click(),
  ]);
  const secret = (await p.page.locator('code.secret').innerText()).trim();
  assert.match(secret, /^[A-Z2-7]{16,}=*$/, 'the base32 secret is shown');
  const account = { secret };
  await p.page.getByLabel('Code from the app').fill(await freshTotp(account));
  await Promise.all([p.page.waitForLoadState('load'), p.page.locator('main').getByRole('button', { exact: true, name: 'Confirm' }).click()]);
  await assertNoErrors(p.page, `${p.name}: 2FA confirm`);
  assert.ok(
    await p.page.getByText('Two-factor authentication is on.').first().isVisible(),
    `${p.name}: 2FA is on`,
  );
  assert.ok(await p.page.getByRole('heading', { name: 'Recovery codes' }).isVisible(), 'recovery codes shown');
  return account;
}

/**
 * An admin API call made in the admin's own page: same-origin fetch with the
 * session cookie and the session's CSRF token (there are no admin pages).
 */
async function adminApi(admin, path, body) {
  return admin.page.evaluate(
    async ({ path, body }) => {
      const { csrf_token } = await (await fetch('/v1/auth/csrf')).json();
      const headers = { 'X-CSRF-Token': csrf_token };
      if (body !== undefined) headers['Content-Type'] = 'application/json';
      const res = await fetch(path, {
        method: 'POST',
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      return { status: res.status, text: await res.text() };
    },
    { path, body },
  );
}

async function assertNoErrors(page, where) {
  const alerts = page.locator('main [role=alert]');
  const n = await alerts.count();
  const texts = [];
  for (let i = 0; i < n; i++) texts.push(await alerts.nth(i).innerText());
  assert.deepEqual(texts, [], `${where}: no error alerts on ${page.url()}`);
}

async function notice(page) {
  const n = page.locator('main .notice[role=status]');
  return (await n.count()) ? (await n.first().innerText()).trim() : '';
}

/** The <dd> after the <dt> named `label`. */
async function field(page, label) {
  return (await page.locator(`main dl dt:text-is("${label}") + dd`).first().innerText()).trim();
}

/** Submit a form by its button and wait for the page that answers. */
async function submit(locator) {
  const page = locator.page();
  await Promise.all([page.waitForNavigation({ waitUntil: 'load' }), locator.click()]);
}

/** Runs fn with a fresh server and closes everyone; checks every page's console. */
async function withPeople(names, fn) {
  const server = await startServer();
  const people = [];
  try {
    for (const n of names) people.push(await person(n));
    await fn(server, ...people);
    await sleep(200);
    for (const p of people) {
      assert.deepEqual(cspViolations(p.consoleMessages), [], `${p.name}: no Content Security Policy violations`);
      assert.deepEqual(p.pageErrors, [], `${p.name}: no uncaught page errors`);
    }
  } catch (err) {
    for (const p of people) await shot(p.page, `failed-${p.name}`).catch(() => {});
    err.message += `\n--- server output ---\n${server.output()}`;
    throw err;
  } finally {
    for (const p of people) await p.close().catch(() => {});
    await server.stop();
  }
}

// ----- the trade story ------------------------------------------------------------

describe('marketplace', () => {
  test('sell, buy, fund, ship, dispute, partial refund', { timeout: 300_000 }, async () => {
    await withPeople(['boss', 'sam_seller', 'bea_buyer', 'stan_staff'], async (server, boss, seller, buyer, staff) => {
      const url = server.url;
      const budget = new AuthBudget();

      // --- Setup: the first super-admin comes from the CLI. ---------------------
      const out = await runCli(server, ['admin', 'create', '--username', 'boss'], { input: `${PASSPHRASE}\n` });
      assert.match(out, /created super-admin boss/);

      // The admin logs in and is sent to 2FA enrolment before anything else.
      await logIn(boss, url, budget);
      await boss.page.goto(`${url}/stores`);
      assert.equal(new URL(boss.page.url()).pathname, '/settings/2fa', 'the admin is sent to 2FA enrolment');
      assert.ok(
        await boss.page.getByText('Your role requires two-factor authentication').isVisible(),
        'the enrolment page says the role needs it',
      );
      await shot(boss.page, '01-admin-must-enrol');
      await enrolTotp(boss, url);
      await shot(boss.page, '02-admin-2fa-on');

      // The others register; the seller logs in.
      await register(seller, url, budget);
      await register(buyer, url, budget);
      await register(staff, url, budget);
      await logIn(seller, url, budget);
      const sellerId = (await me(seller, url)).id;

      // The admin grants the seller role (audited grant_seller).
      let r = await adminApi(boss, `/v1/admin/users/${sellerId}/grant-seller`);
      assert.equal(r.status, 204, `grant-seller: ${r.text}`);
      // A role change ends the user's sessions: the seller signs in again.
      await seller.page.goto(`${url}/stores`);
      assert.equal(new URL(seller.page.url()).pathname, '/login', 'the role change ended the seller\'s session');
      await logIn(seller, url, budget);
      assert.equal((await me(seller, url)).role, 'seller', 'the seller now has the seller role');

      // --- The seller opens a store and lists an item. ---------------------------
      await seller.page.goto(`${url}/stores`);
      assert.ok(await seller.page.getByRole('heading', { name: 'Open a store' }).isVisible(), 'a seller may open a store');
      const openForm = seller.page.locator('form[action="/stores"]');
      await openForm.getByLabel('Store name').fill('Sam’s Lamps');
      await openForm.getByLabel('Description').fill('Lamps, tested before shipping.');
      await submit(openForm.getByRole('button', { name: 'Open a store' }));
      await assertNoErrors(seller.page, 'open a store');
      assert.match(new URL(seller.page.url()).pathname, /^\/stores\/[^/]+$/, `on the store page (${seller.page.url()})`);
      const storeUrl = new URL(seller.page.url()).pathname;
      assert.equal(await seller.page.locator('h1').innerText(), 'Sam’s Lamps');

      const itemForm = seller.page.locator('form[action$="/items"]');
      await itemForm.getByLabel('Title').fill('Brass desk lamp');
      await itemForm.getByLabel('Description').fill('A heavy brass lamp with a green shade.');
      await itemForm.getByLabel(/Price/).fill('2500');
      await itemForm.getByLabel('In stock').fill('3');
      await itemForm.getByLabel('Status').selectOption('active');
      await submit(itemForm.getByRole('button', { name: 'Add an item' }));
      await assertNoErrors(seller.page, 'add an item');
      const itemRow = seller.page.locator('main table tbody tr', { hasText: 'Brass desk lamp' });
      assert.equal(await itemRow.count(), 1, 'the item is listed on the store page');
      const rowText = await itemRow.innerText();
      assert.match(rowText, /25[.,]00/, `the price shows as 25.00: ${rowText}`);
      assert.match(rowText, /\b3\b/, `stock 3: ${rowText}`);
      // The status column shows the stored value (`active`), not the translated label.
      assert.match(rowText, /\bactive\b/i, `status active: ${rowText}`);
      await shot(seller.page, '03-store-with-item');

      // --- The buyer finds it in the catalog and buys it. ------------------------
      await logIn(buyer, url, budget);
      await buyer.page.goto(`${url}/items`);
      await buyer.page.getByLabel('Text').fill('brass');
      await submit(buyer.page.locator('main').getByRole('button', { exact: true, name: 'Search' }));
      const hit = buyer.page.locator('main ul.items li', { hasText: 'Brass desk lamp' });
      assert.equal(await hit.count(), 1, 'the catalog search finds the lamp');
      assert.match(await hit.innerText(), /25[.,]00/, 'with its price');
      await shot(buyer.page, '04-catalog');
      await submit(hit.getByRole('link', { name: 'Brass desk lamp' }));
      assert.equal(await buyer.page.locator('h1').innerText(), 'Brass desk lamp');
      assert.match(await field(buyer.page, 'In stock'), /^3\b/);
      await shot(buyer.page, '05-item');
      await buyer.page.getByLabel('Quantity').fill('1');
      await submit(buyer.page.locator('main').getByRole('button', { exact: true, name: 'Buy' }));
      await assertNoErrors(buyer.page, 'buy');
      const txnPath = new URL(buyer.page.url()).pathname;
      assert.match(txnPath, /^\/transactions\/[^/]+$/, `the buyer lands on the transaction (${buyer.page.url()})`);
      const txnId = txnPath.split('/')[2];
      assert.equal(await notice(buyer.page), 'Bought. The transaction waits for payment.');
      assert.equal(await field(buyer.page, 'State'), 'Awaiting payment');
      assert.equal(await field(buyer.page, 'Item'), 'Brass desk lamp');
      assert.match(await field(buyer.page, 'Amount'), /25[.,]00/);
      assert.equal(
        await buyer.page.locator('main').getByRole('button', { exact: true, name: 'Mark funded' }).count(),
        0,
        'the buyer cannot mark it funded',
      );
      await shot(buyer.page, '06-bought');
      // It is in the buyer's purchases, and stock went down.
      await buyer.page.goto(`${url}/purchases`);
      const purchase = buyer.page.locator('main table tbody tr', { hasText: 'Brass desk lamp' });
      assert.equal(await purchase.locator(`a[href="/transactions/${txnId}"]`).count(), 1, 'listed in My purchases');
      assert.match(await purchase.innerText(), /Awaiting payment/);
      await buyer.page.goto(`${url}/items`);
      await submit(buyer.page.locator('main ul.items').getByRole('link', { name: 'Brass desk lamp' }));
      assert.match(await field(buyer.page, 'In stock'), /^2\b/, 'the purchase took one off the stock');

      // --- Staff: registered earlier, made staff by the admin, enrols TOTP. -------
      await logIn(staff, url, budget);
      const staffId = (await me(staff, url)).id;
      r = await adminApi(boss, `/v1/admin/users/${staffId}/role`, { role: 'staff' });
      assert.equal(r.status, 204, `set role staff: ${r.text}`);
      await staff.page.goto(`${url}/purchases`);
      assert.equal(new URL(staff.page.url()).pathname, '/login', 'the role change ended the staff member\'s session');
      await logIn(staff, url, budget);
      assert.equal((await me(staff, url)).role, 'staff');
      // Staff powers need a second factor: a staff page sends them to enrol first.
      await staff.page.goto(`${url}/staff/disputes`);
      assert.equal(new URL(staff.page.url()).pathname, '/settings/2fa', 'staff without TOTP are sent to enrol');
      await enrolTotp(staff, url);

      // Staff marks the transaction funded on its page.
      await staff.page.goto(`${url}/transactions/${txnId}`);
      assert.equal(await field(staff.page, 'State'), 'Awaiting payment');
      await submit(staff.page.locator('main').getByRole('button', { exact: true, name: 'Mark funded' }));
      await assertNoErrors(staff.page, 'mark funded');
      assert.equal(await notice(staff.page), 'Marked as paid.');
      assert.equal(await field(staff.page, 'State'), 'Paid, held in escrow');
      await shot(staff.page, '07-funded');

      // --- The seller ships it, found through the store's sales. ----------------
      await seller.page.goto(`${url}${storeUrl}`);
      await submit(seller.page.locator('main').getByRole('link', { exact: true, name: 'Sales' }));
      const sale = seller.page.locator('main table tbody tr', { hasText: 'Brass desk lamp' });
      assert.equal(await sale.count(), 1, 'the sale is listed');
      assert.match(await sale.innerText(), /Paid, held in escrow/);
      await shot(seller.page, '08-sales');
      await submit(sale.locator(`a[href="/transactions/${txnId}"]`));
      await submit(seller.page.locator('main').getByRole('button', { exact: true, name: 'Mark shipped' }));
      await assertNoErrors(seller.page, 'mark shipped');
      assert.equal(await notice(seller.page), 'Marked as shipped.');
      assert.equal(await field(seller.page, 'State'), 'Shipped');
      await shot(seller.page, '09-shipped');

      // --- The buyer opens a dispute from the transaction page. ----------------
      await buyer.page.goto(`${url}/transactions/${txnId}`);
      assert.equal(await field(buyer.page, 'State'), 'Shipped');
      await submit(buyer.page.locator('main').getByRole('link', { exact: true, name: 'Open dispute' }));
      assert.equal(new URL(buyer.page.url()).pathname, `/transactions/${txnId}/dispute`);
      await buyer.page.getByLabel('Reason').fill('The shade arrived cracked.\nPhotos on request.');
      await shot(buyer.page, '10-dispute-form');
      await submit(buyer.page.locator('main').getByRole('button', { exact: true, name: 'Open a dispute' }));
      await assertNoErrors(buyer.page, 'open a dispute');
      const disputePath = new URL(buyer.page.url()).pathname;
      assert.match(disputePath, /^\/disputes\/[^/]+$/, `the buyer lands on the dispute (${buyer.page.url()})`);
      assert.equal(await notice(buyer.page), 'The dispute was opened.');
      assert.equal(await field(buyer.page, 'Status'), 'Open');
      assert.equal(await field(buyer.page, 'Your side'), 'Buyer');
      assert.match(await buyer.page.locator('main ol.claims').innerText(), /The shade arrived cracked\./);
      await shot(buyer.page, '11-dispute-opened');
      await buyer.page.goto(`${url}/transactions/${txnId}`);
      assert.equal(await field(buyer.page, 'State'), 'In dispute');

      // --- The seller answers with a claim. ----------------------------------
      await seller.page.goto(`${url}/transactions/${txnId}/dispute`);
      if (new URL(seller.page.url()).pathname !== disputePath) await seller.page.goto(`${url}${disputePath}`);
      assert.equal(await field(seller.page, 'Your side'), 'Seller');
      await seller.page.getByLabel('Your claim').fill('It was packed in foam; the courier dropped it.');
      await submit(seller.page.locator('main').getByRole('button', { exact: true, name: 'Send' }));
      await assertNoErrors(seller.page, 'add a claim');
      assert.equal(await notice(seller.page), 'Your claim was added.');
      const claims = seller.page.locator('main ol.claims li');
      assert.equal(await claims.count(), 2, 'two claims: the reason and the answer');
      assert.match(await claims.nth(1).innerText(), /Seller[\s\S]*courier dropped it/);
      assert.equal(await seller.page.locator('main').getByRole('button', { exact: true, name: 'Resolve' }).count(), 0, 'a party cannot resolve');
      await shot(seller.page, '12-seller-claim');

      // --- Staff finds it in the queue and resolves with a partial refund. -----
      await staff.page.goto(`${url}/staff/disputes`);
      assert.equal(await staff.page.locator('h1').innerText(), 'Dispute queue');
      const queued = staff.page.locator('main table tbody tr', { hasText: txnId });
      assert.equal(await queued.count(), 1, 'the dispute is in the open queue');
      assert.match(await queued.innerText(), /Buyer[\s\S]*Open/);
      await shot(staff.page, '13-queue');
      await submit(queued.getByRole('link', { name: 'View' }));
      assert.equal(new URL(staff.page.url()).pathname, disputePath);
      assert.equal(await field(staff.page, 'Your side'), 'Staff');
      await staff.page.getByLabel('Partial refund to the buyer').check();
      await staff.page.getByLabel(/Refund for a partial refund/).fill('1000');
      await shot(staff.page, '14-resolve-form');
      await submit(staff.page.locator('main').getByRole('button', { exact: true, name: 'Resolve' }));
      await assertNoErrors(staff.page, 'resolve');
      assert.equal(await notice(staff.page), 'The dispute was resolved.');
      assert.equal(await field(staff.page, 'Status'), 'Resolved');
      assert.match(await field(staff.page, 'Outcome'), /^Partially refunded \(Refunded: 10[.,]00/);
      await shot(staff.page, '15-resolved');

      // --- Everyone sees the outcome. ------------------------------------------
      for (const [p, n] of [
        [buyer, '16-buyer-outcome'],
        [seller, '17-seller-outcome'],
      ]) {
        await p.page.goto(`${url}${disputePath}`);
        assert.equal(await field(p.page, 'Status'), 'Resolved', `${p.name} sees it resolved`);
        assert.match(await field(p.page, 'Outcome'), /^Partially refunded/, `${p.name} sees the partial refund`);
        assert.equal(await p.page.getByLabel('Your claim').count(), 0, `${p.name}: no claim form once resolved`);
        await shot(p.page, n);
      }
      await staff.page.goto(`${url}/staff/disputes?status=resolved`);
      assert.match(
        await staff.page.locator('main table tbody tr', { hasText: txnId }).innerText(),
        /Resolved[\s\S]*Partially refunded/,
        'the resolved queue shows the outcome',
      );
      // The transaction page shows the escrow's final state to both sides.
      for (const p of [buyer, seller]) {
        await p.page.goto(`${url}/transactions/${txnId}`);
        assert.equal(await field(p.page, 'State'), 'Partially refunded', `${p.name}: transaction state`);
      }
      await shot(buyer.page, '18-transaction-final');

      // In Estonian, the buyer sees the same outcome in their language.
      await buyer.page.goto(`${url}/settings`);
      await buyer.page.getByLabel('Language').selectOption('et');
      await submit(buyer.page.locator('main').getByRole('button', { exact: true, name: 'Save' }));
      await buyer.page.goto(`${url}${disputePath}`);
      assert.equal(await field(buyer.page, 'Tulemus'), 'Osaliselt tagastatud (Tagastatud: 10.00 EUR)');
      assert.equal(await field(buyer.page, 'Olek'), 'Lahendatud');
      await buyer.page.goto(`${url}/transactions/${txnId}`);
      assert.equal(await field(buyer.page, 'Olek'), 'Osaliselt tagastatud');
      await shot(buyer.page, '19-transaction-final-et');
    });
  });

  // ----- messages -----------------------------------------------------------------

  test('two people exchange messages', { timeout: 120_000 }, async () => {
    await withPeople(['ann_msg', 'ben_msg'], async (server, a, b) => {
      const url = server.url;
      const budget = new AuthBudget();
      await register(a, url, budget);
      await register(b, url, budget);
      await logIn(a, url, budget);
      await logIn(b, url, budget);

      // B's inbox is empty.
      await b.page.goto(`${url}/messages`);
      assert.ok(await b.page.getByText('No conversations yet.').isVisible(), 'B starts with no conversations');

      // A writes to B from /messages/new?to=B.
      await a.page.goto(`${url}/messages/new?to=${b.name}`);
      assert.equal(await a.page.getByLabel('To (username)').inputValue(), b.name, 'the recipient is filled in');
      await a.page.getByLabel('Message', { exact: true }).fill('Hi Ben, is the lamp still available?');
      await shot(a.page, 'msg-01-compose');
      await submit(a.page.locator('main').getByRole('button', { exact: true, name: 'Send' }));
      await assertNoErrors(a.page, 'send a message');
      assert.match(new URL(a.page.url()).pathname, /^\/messages\/[^/]+$/, `A lands on the conversation (${a.page.url()})`);
      const convPath = new URL(a.page.url()).pathname;
      assert.equal(await a.page.locator('h1').innerText(), `Conversation with ${b.name}`);
      assert.match(await a.page.locator('main ol.messages li.mine').last().innerText(), /is the lamp still available\?/);

      // B reloads the inbox: the conversation with an unread badge.
      await b.page.reload();
      const line = b.page.locator('main ul.inbox li', { hasText: a.name });
      assert.equal(await line.count(), 1, 'B sees the conversation with A');
      const badge = line.locator('.badge');
      assert.equal(await badge.getAttribute('data-unread'), '1', 'one unread message');
      assert.match(await badge.innerText(), /1 unread/);
      assert.match(await line.innerText(), /is the lamp still available\?/, 'with a preview');
      await shot(b.page, 'msg-02-inbox-unread');

      // B opens it and replies.
      await submit(line.getByRole('link', { name: a.name }));
      assert.equal(new URL(b.page.url()).pathname, convPath, 'the same conversation');
      assert.match(await b.page.locator('main ol.messages li.theirs').last().innerText(), /is the lamp still available\?/);
      await b.page.getByLabel('Message', { exact: true }).fill('Yes, it is. Two left.');
      await submit(b.page.locator('main').getByRole('button', { exact: true, name: 'Send' }));
      await assertNoErrors(b.page, 'reply');
      assert.match(await b.page.locator('main ol.messages li.mine').last().innerText(), /Two left\./);
      await shot(b.page, 'msg-03-reply');
      // Read now: no badge on B's inbox.
      await b.page.goto(`${url}/messages`);
      assert.equal(await b.page.locator('main ul.inbox li .badge').count(), 0, 'B has nothing unread');

      // A reloads and sees the reply.
      await a.page.reload();
      assert.match(await a.page.locator('main ol.messages li.theirs').last().innerText(), /Yes, it is\. Two left\./);
      await shot(a.page, 'msg-04-reply-seen');
      // Seen in the conversation, so A's inbox shows the reply as read.
      await a.page.goto(`${url}/messages`);
      const aLine = a.page.locator('main ul.inbox li', { hasText: b.name });
      assert.match(await aLine.innerText(), /Yes, it is\. Two left\./, 'A\'s inbox previews the reply');
      assert.equal(await aLine.locator('.badge').count(), 0, 'nothing unread for A after reading it');
    });
  });
});
