// Browser test of the market web UI against a running market service.
//
//   MARKET_URL=http://127.0.0.1:PORT UI_EXPECT=expect.json UI_OUT=out/ node crates/market/web/test/ui.test.mjs
//
// UI_EXPECT names a JSON file describing what the market holds:
//   {"category":0,"workerpoolOrderHash":"0x…","requestOrderHash":"0x…"|null,"dealid":"0x…",
//    "otherCategory":1,"otherCategoryOrderHash":"0x…"|null,"app":"0x…",
//    "rpcUrl":"http://127.0.0.1:PORT","requester":"0x…"}
// With rpcUrl and requester (optional), the fill form's "Sign and send" runs for real: a page
// whose window.ethereum answers the accounts with `requester` and forwards every other call to
// the node at rpcUrl (anvil, whose accounts are unlocked, signs and sends), and the market must
// then list one more deal of that requester, made by the transaction the page shows.
// Screenshots (market-desktop.png, market-phone.png, deal.png, wallet-fill.png with a wallet,
// and failure.png when a check fails) go to UI_OUT. Exits 1 with the failed check's name and
// reason.
import fs from 'node:fs';
import path from 'node:path';
import { chromium } from 'playwright-core';

const TIMEOUT = 5000;
const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium';
// Debian's chromium (toolchain.md). chromium.launch() gives every run a fresh temporary profile.
const CHROMIUM_ARGS = [
  '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
];

function env(name) {
  const value = process.env[name];
  if (!value) {
    console.error(`ui test: set ${name} (see the header of ${path.basename(process.argv[1])})`);
    process.exit(1);
  }
  return value;
}

const base = env('MARKET_URL').replace(/\/+$/, '');
const expectPath = env('UI_EXPECT');
const out = env('UI_OUT');
let expected;
try {
  expected = JSON.parse(fs.readFileSync(expectPath, 'utf8'));
} catch (err) {
  console.error(`ui test: cannot read UI_EXPECT ${expectPath}: ${err.message}`);
  process.exit(1);
}
for (const key of ['category', 'workerpoolOrderHash', 'dealid', 'otherCategory', 'app']) {
  if (expected[key] === undefined || expected[key] === null) {
    console.error(`ui test: ${expectPath} has no "${key}"`);
    process.exit(1);
  }
}
fs.mkdirSync(out, { recursive: true });

class CheckFailed extends Error {}

function check(condition, message) {
  if (!condition) throw new CheckFailed(message);
}

// The API is the source of truth for the values the page must show.
async function apiGet(pathAndQuery) {
  const res = await fetch(`${base}${pathAndQuery}`);
  const body = await res.json().catch(() => null);
  check(res.ok && body?.ok, `GET ${pathAndQuery} answered ${res.status}: ${JSON.stringify(body)}`);
  return body;
}

const consoleErrors = [];
function watch(page) {
  page.on('console', (msg) => {
    if (msg.type() === 'error') consoleErrors.push(`${msg.text()} (${msg.location().url})`);
  });
  page.on('pageerror', (err) => consoleErrors.push(`uncaught: ${err.message}`));
  page.setDefaultTimeout(TIMEOUT);
}

const DEAL_TIMEOUT = 15000;

// A minimal EIP-1193 wallet, installed before the page's scripts run.
function installWallet({ rpcUrl, account }) {
  let id = 0;
  window.ethereum = {
    async request({ method, params = [] }) {
      if (method === 'eth_requestAccounts' || method === 'eth_accounts') return [account];
      const res = await fetch(rpcUrl, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ jsonrpc: '2.0', id: ++id, method, params }),
      });
      const body = await res.json();
      if (body.error) throw new Error(`${method}: ${body.error.message}`);
      return body.result;
    },
  };
}

const testid = (id) => `[data-testid="${id}"]`;
// Hex values are compared case-insensitively: the API may checksum or lowercase them.
const row = (id, attr, hex) => `${testid(id)}[data-${attr}="${hex}" i]`;
const bookRow = (hash) => row('orderbook-row', 'hash', hash);

// Waits until the order book shows `category` fully loaded.
async function bookReady(page, category) {
  await page.locator(`${testid('orderbook')}[data-category="${category}"][data-state="ready"]`).waitFor();
}

let browser;
let current = null; // the page to screenshot when a check fails
let step = 'start';

async function run() {
  step = 'read the expected data from the API';
  const order = await apiGet(`/workerpoolorders/${expected.workerpoolOrderHash}`);
  const deal = await apiGet(`/deals/${expected.dealid}`);
  check(deal.tasks?.length > 0, `deal ${expected.dealid} has no tasks in the API`);

  browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS });
  const desktop = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await desktop.newPage();
  current = page;
  watch(page);

  step = 'load the market';
  await page.goto(`${base}/#/`);
  await page.locator(testid(`category-tab-${expected.category}`)).click();
  await bookReady(page, expected.category);

  step = `order book of category ${expected.category} shows workerpool order ${expected.workerpoolOrderHash}`;
  const bookEntry = page.locator(bookRow(expected.workerpoolOrderHash));
  await bookEntry.waitFor();
  const rowText = await bookEntry.innerText();
  check(rowText.toLowerCase().includes(expected.workerpoolOrderHash.slice(0, 8).toLowerCase()),
    `the row does not show the hash prefix ${expected.workerpoolOrderHash.slice(0, 8)}: ${JSON.stringify(rowText)}`);
  check(rowText.includes(`${order.order.workerpoolprice} nRLC`),
    `the row does not show the price ${order.order.workerpoolprice} nRLC: ${JSON.stringify(rowText)}`);

  if (expected.requestOrderHash) {
    step = `bids show request order ${expected.requestOrderHash}`;
    await page.locator(row('bid-row', 'hash', expected.requestOrderHash)).waitFor();
  }

  step = `recent trades show deal ${expected.dealid} and the chart has points`;
  await page.locator(row('trade-row', 'dealid', expected.dealid)).waitFor();
  await page.locator(testid('chart-point')).first().waitFor();

  step = 'the live indicator connects to /ws';
  await page.locator(`${testid('live-indicator')}[data-state="live"]`).waitFor();

  await page.screenshot({ path: path.join(out, 'market-desktop.png'), fullPage: true });

  step = `the tab of category ${expected.otherCategory} switches the order book`;
  await page.locator(testid(`category-tab-${expected.otherCategory}`)).click();
  await bookReady(page, expected.otherCategory);
  if (expected.otherCategoryOrderHash) await page.locator(bookRow(expected.otherCategoryOrderHash)).waitFor();
  check(await page.locator(bookRow(expected.workerpoolOrderHash)).count() === 0,
    `order ${expected.workerpoolOrderHash} of category ${expected.category} is still in the book of category ${expected.otherCategory}`);

  step = `the fill form finds an offer for app ${expected.app}`;
  const form = page.locator(testid('fill-form'));
  await form.locator(testid('fill-app')).fill(expected.app);
  await form.locator(testid('fill-submit')).click();
  const command = form.locator(testid('fill-command'));
  try {
    await command.waitFor();
  } catch (err) {
    const shown = await form.locator(testid('fill-error')).innerText().catch(() => '');
    throw new CheckFailed(`no command shown${shown ? `, the form says: ${shown}` : ''} (${err.message.split('\n')[0]})`);
  }
  const commandText = await command.innerText();
  check(commandText.startsWith('poco run'), `the command does not start with "poco run": ${commandText}`);
  check(commandText.toLowerCase().includes(expected.app.toLowerCase()), `the command does not name the app ${expected.app}: ${commandText}`);
  await form.locator(testid('fill-no-wallet')).waitFor(); // no window.ethereum in this browser

  if (expected.rpcUrl && expected.requester) await walletFill();

  step = `the deal page shows deal ${expected.dealid} and its task`;
  await page.goto(`${base}/#/deal/${expected.dealid}`);
  const dealId = await page.locator(testid('deal-id')).innerText();
  check(dealId.trim().toLowerCase() === expected.dealid.toLowerCase(), `the deal page shows ${dealId} instead of ${expected.dealid}`);
  await page.locator(row('task-row', 'taskid', deal.tasks[0])).waitFor();
  await page.screenshot({ path: path.join(out, 'deal.png'), fullPage: true });

  step = 'the market fits a phone screen (390×844)';
  const phone = await browser.newContext({ viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true });
  const phonePage = await phone.newPage();
  current = phonePage;
  watch(phonePage);
  await phonePage.goto(`${base}/#/`);
  await phonePage.locator(testid(`category-tab-${expected.category}`)).click();
  await bookReady(phonePage, expected.category);
  await phonePage.locator(bookRow(expected.workerpoolOrderHash)).waitFor();
  await phonePage.locator(`${testid('trades')}[data-state="ready"]`).waitFor();
  const widths = await phonePage.evaluate(() => ({
    viewport: document.documentElement.clientWidth,
    page: document.documentElement.scrollWidth,
    body: document.body.scrollWidth,
  }));
  await phonePage.screenshot({ path: path.join(out, 'market-phone.png'), fullPage: true });
  check(widths.page <= widths.viewport && widths.body <= widths.viewport,
    `the page is wider than the phone screen: ${JSON.stringify(widths)}`);

  step = 'no console errors';
  check(consoleErrors.length === 0, `the browser console logged errors:\n  ${consoleErrors.join('\n  ')}`);
}

// Fills the app's best offer through the page's wallet and checks the deal it made.
async function walletFill() {
  const { app, rpcUrl, requester } = expected;
  step = `read the deals of requester ${requester}`;
  const dealsOf = async () => (await apiGet(`/deals?requester=${requester}`)).count;
  const before = await dealsOf();

  step = `"Sign and send" fills app ${app} for requester ${requester} through the wallet at ${rpcUrl}`;
  const previous = current;
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  await context.addInitScript(installWallet, { rpcUrl, account: requester });
  const page = await context.newPage();
  current = page;
  watch(page);
  await page.goto(`${base}/#/`);
  await page.locator(`${testid('live-indicator')}[data-state="live"]`).waitFor(); // sees the deal come
  const form = page.locator(testid('fill-form'));
  await form.locator(testid('fill-app')).fill(app);
  await form.locator(testid('fill-submit')).click();
  await form.locator(testid('fill-sign')).click();
  // The transaction hash, or the error the form shows when a step of the wallet flow fails.
  const tx = form.locator(testid('fill-tx'));
  const failed = form.locator(`${testid('fill-error')} [role="alert"]`);
  await tx.or(failed).waitFor({ timeout: DEAL_TIMEOUT });
  if (await failed.isVisible()) throw new CheckFailed(`no transaction sent, the form says: ${await failed.innerText()}`);
  const hash = (await tx.innerText()).trim();
  check(/^0x[0-9a-f]{64}$/i.test(hash), `the transaction hash shown is not a hash: ${JSON.stringify(hash)}`);

  step = `the market lists a new deal of requester ${requester} made by transaction ${hash}`;
  const deadline = Date.now() + DEAL_TIMEOUT;
  let count = before;
  while (count === before && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 100));
    count = await dealsOf();
  }
  check(count === before + 1, `the requester has ${count} deals, ${before + 1} expected, ${DEAL_TIMEOUT / 1000} s after the transaction`);
  const [deal] = (await apiGet(`/deals?requester=${requester}`)).deals; // newest first
  const same = (a, b) => String(a).toLowerCase() === String(b).toLowerCase();
  check(same(deal.transactionHash, hash), `the newest deal ${deal.dealid} comes from transaction ${deal.transactionHash}, not ${hash}`);
  check(same(deal.requester, requester) && same(deal.app?.pointer, app),
    `the newest deal ${deal.dealid} has requester ${deal.requester} and app ${deal.app?.pointer}, expected ${requester} and ${app}`);

  step = `the live feed brings deal ${deal.dealid} into the recent trades of the page that sent it`;
  await page.locator(row('trade-row', 'dealid', deal.dealid)).waitFor();
  await page.screenshot({ path: path.join(out, 'wallet-fill.png'), fullPage: true });
  await context.close();
  current = previous;
}

try {
  await run();
  console.log(`ui test: ok (screenshots in ${out})`);
  await browser.close();
} catch (err) {
  // Check failures and Playwright timeouts explain themselves; anything else gets its stack.
  const reason = err instanceof CheckFailed || err?.name === 'TimeoutError' ? err.message : (err?.stack ?? String(err));
  console.error(`ui test FAILED at: ${step}\n${reason}`);
  if (consoleErrors.length && step !== 'no console errors') {
    console.error(`browser console errors:\n  ${consoleErrors.join('\n  ')}`);
  }
  if (current) await current.screenshot({ path: path.join(out, 'failure.png'), fullPage: true }).catch(() => {});
  await browser?.close().catch(() => {});
  process.exit(1);
}
