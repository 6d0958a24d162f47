// The console_browser test: the web console of `evs serve` in a real browser. Starts `evs serve`
// (the binary given) on a free loopback port with a temporary data folder, drives Debian's
// chromium through puppeteer-core (which downloads nothing), and checks that each page opens and
// its links lead on, deep links survive a reload, an event appended over HTTP shows in the live
// tail within a second, a parked event is retried from the page (with the bearer token asked
// for), and that no page logs an error or requests anything from another host.
//
//   node tests/console/console_test.mjs path/to/evs                 the test
//   EVS_CONSOLE_SCREENSHOTS=docs node tests/console/console_test.mjs path/to/evs
//                                  the test, and screenshots of the main pages written to docs/
//
// Exit status 77 (skipped, with the reason) when the browser or the npm packages are missing,
// or the evs was built without the console; scripts/setup installs both.
import {spawn} from 'node:child_process';
import {existsSync, mkdtempSync, rmSync, writeFileSync} from 'node:fs';
import {tmpdir} from 'node:os';
import {join, resolve} from 'node:path';

const SKIP = 77;
const evs = process.argv[2];
const chromium = process.env.CHROMIUM || '/usr/bin/chromium';
const screenshots = process.env.EVS_CONSOLE_SCREENSHOTS || '';
if (!evs || !existsSync(evs)) {
  console.error('usage: node tests/console/console_test.mjs EVS_BINARY');
  process.exit(2);
}
if (!existsSync(chromium)) {
  console.log(`console_browser: SKIPPED: no browser at ${chromium} (scripts/setup installs Debian's chromium)`);
  process.exit(SKIP);
}
let puppeteer;
try {
  puppeteer = (await import('puppeteer-core')).default;
} catch {
  console.log('console_browser: SKIPPED: puppeteer-core is not installed in tests/console/node_modules (run scripts/setup)');
  process.exit(SKIP);
}

const TOKEN = 'console-test-token-0123456789abcdef';
const started = Date.now();
let passed = 0;
let failures = 0;
function check(condition, what) {
  if (condition) {
    ++passed;
    console.log(`  ok ${what}`);
  } else {
    ++failures;
    console.log(`  FAILED ${what}`);
  }
}
// Every wait is bounded.
const withTimeout = (promise, ms, what) => Promise.race([promise,
  new Promise((_, reject) => setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms))]);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// ---- the server --------------------------------------------------------------------------------
const dir = mkdtempSync(join(tmpdir(), 'evs-console-test-'));
writeFileSync(join(dir, 'token'), `${TOKEN}\n`, {mode: 0o600});
const server = spawn(resolve(evs), ['--data', join(dir, 'data'), 'serve', '--listen', '127.0.0.1:0',
  '--quiet', '--token-file', join(dir, 'token'), '--archive', join(dir, 'archive')],
{stdio: ['ignore', 'ignore', 'pipe']});
let serverLog = '';
const port = await withTimeout(new Promise((resolvePort, reject) => {
  server.stderr.on('data', (chunk) => {
    serverLog += chunk;
    const m = /serving https?:\/\/127\.0\.0\.1:(\d+)/.exec(serverLog);
    if (m) resolvePort(Number(m[1]));
  });
  server.on('exit', (code) => reject(new Error(`evs serve exited (${code}): ${serverLog}`)));
}), 30000, 'evs serve to listen');
const origin = `http://127.0.0.1:${port}`;
console.log(`console_browser: evs serve at ${origin} (pid ${server.pid})`);

let browser = null;
async function cleanUp() {
  if (browser) await withTimeout(browser.close(), 10000, 'the browser to close').catch(() => browser.process()?.kill('SIGKILL'));
  if (server.exitCode === null) {
    server.kill('SIGTERM');  // only the process this script started
    await withTimeout(new Promise((r) => server.on('exit', r)), 20000, 'evs serve to exit')
      .catch(() => server.kill('SIGKILL'));
  }
  rmSync(dir, {recursive: true, force: true});
}

async function api(method, path, body) {
  const headers = {Authorization: `Bearer ${TOKEN}`};
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const response = await fetch(origin + path, {method, headers, body: body === undefined ? undefined : JSON.stringify(body)});
  const text = await response.text();
  if (!response.ok) throw new Error(`${method} ${path}: ${response.status} ${text}`);
  return text ? JSON.parse(text) : null;
}

try {
  const root = await fetch(`${origin}/`);
  if (root.status === 404 && (await root.json()).code === 'console_not_built') {
    console.log('console_browser: SKIPPED: this evs was built without the console (EVS_BUILD_CONSOLE=OFF)');
    await cleanUp();
    process.exit(SKIP);
  }

  // ---- data: streams, a cart with a history, a parked event ------------------------------------
  for (let i = 1; i <= 3; ++i) {
    await api('POST', `/streams/order-${i}`, [
      {type: 'OrderPlaced', data: {order: i, lines: [{sku: 'A-1', quantity: i}]}, metadata: {source: 'console-test'}},
      {type: 'OrderPaid', data: {order: i, amount_cents: 1250 * i}}]);
  }
  const {cart_id: cartId} = await api('POST', '/carts', {customer_id: 'c-42'});
  await api('POST', `/carts/${cartId}/items`, {name: 'apple', quantity: 3, unit_price_cents: 40});
  await api('POST', `/carts/${cartId}/items`, {name: 'pear', quantity: 1, unit_price_cents: 90});
  await api('DELETE', `/carts/${cartId}/items/apple?quantity=1`);
  await api('POST', `/carts/${cartId}/checkout`);
  await api('PUT', '/subscriptions/billing', {category: 'order', ack_timeout_ms: 60000});
  const leased = await api('GET', '/subscriptions/billing/events?max=10&wait_ms=2000');
  check(leased.events.length > 0, `the persistent subscription leases order events (${leased.events.length})`);
  const parkedPosition = leased.events[0].position;
  await api('POST', '/subscriptions/billing/nack', {positions: [parkedPosition], action: 'park', reason: 'payment service down'});
  await api('POST', '/subscriptions/billing/ack', {positions: leased.events.slice(1).map((e) => e.position)});
  // A cart event the cart projection cannot apply (a negative quantity): it parks it.
  const badCart = `cart-${cartId.slice(0, -4)}beef`;
  await api('POST', `/streams/${badCart}`, [{type: 'ItemAdded', data: {name: 'ghost', quantity: -5, unit_price_cents: 10}}]);
  const projectionParked = async () => (await api('GET', '/checkpoints/cart_summary/parked')).parked;
  for (let i = 0; i < 100 && (await projectionParked()).length === 0; ++i) await sleep(100);
  const [readSideParked] = await projectionParked();
  check(readSideParked && readSideParked.event.stream_id === badCart, 'the cart projection parks an event it cannot apply');
  const parkedBefore = await api('GET', '/subscriptions/billing/parked');
  check(parkedBefore.parked.length === 1 && parkedBefore.parked[0].event.position === parkedPosition,
    `a nack with park parks the event (${JSON.stringify(parkedBefore).slice(0, 200)})`);

  // ---- the browser -----------------------------------------------------------------------------
  const args = ['--disable-gpu', '--disable-dev-shm-usage', '--no-first-run', '--no-default-browser-check'];
  if (process.getuid && process.getuid() === 0) args.push('--no-sandbox');
  browser = await withTimeout(puppeteer.launch({executablePath: chromium, headless: true, args}), 60000, 'chromium to start');
  const page = await browser.newPage();
  await page.setViewport({width: 1280, height: 860});
  const errors = [];
  const foreign = [];
  const expected401 = [];
  page.on('console', (message) => {
    if (message.type() !== 'error') return;
    // A write without the token is answered 401 once on purpose (the retry below).
    if (/status of 401/.test(message.text()) && expected401.length) return;
    errors.push(`console: ${message.text()}`);
  });
  page.on('pageerror', (error) => errors.push(`page error: ${error.message}`));
  page.on('request', (request) => {
    const url = request.url();
    if (!url.startsWith(`${origin}/`) && !url.startsWith('data:')) foreign.push(url);
  });
  page.on('requestfailed', (request) => {
    const failure = request.failure()?.errorText || '';
    if (failure !== 'net::ERR_ABORTED') errors.push(`request failed: ${request.url()} ${failure}`);
  });
  page.on('response', (response) => {
    if (response.status() === 401) expected401.push(response.url());
    else if (response.status() >= 400) errors.push(`HTTP ${response.status()}: ${response.url()}`);
  });
  const text = (selector) => page.$eval(selector, (e) => e.textContent);
  const waitText = (selector, wanted, timeout = 5000) => page.waitForFunction(
    (s, w) => [...document.querySelectorAll(s)].some((e) => e.textContent.includes(w)), {timeout}, selector, wanted);
  const clickLink = async (selector, wanted) => {
    const links = await page.$$(selector);
    for (const link of links) {
      if ((await link.evaluate((e) => e.textContent)).includes(wanted)) {
        await link.click();
        return;
      }
    }
    throw new Error(`no link ${selector} with "${wanted}"`);
  };
  // Clicks a button in one step in the page: the parked tables are drawn anew when what they
  // show changes, which may replace a button between finding it and clicking it from here.
  const clickButton = (selector) => page.waitForFunction((s) => {
    const button = document.querySelector(s);
    if (!button || button.disabled) return false;
    button.click();
    return true;
  }, {timeout: 5000}, selector);
  const shoot = async (name) => {
    if (!screenshots) return;
    await sleep(300);
    await page.screenshot({path: join(screenshots, `console-${name}.png`)});
    console.log(`  screenshot ${join(screenshots, `console-${name}.png`)}`);
  };

  // The dashboard, with a writer in the background so that its charts move.
  console.log('dashboard');
  let writing = true;
  const writer = (async () => {
    for (let i = 0; writing; ++i) {
      await api('POST', `/streams/metric-${i % 5}`, Array.from({length: 1 + (i % 4)}, () => ({type: 'Tick', data: {i}})));
      await sleep(50);
    }
  })();
  await page.goto(`${origin}/`, {waitUntil: 'domcontentloaded'});
  await page.waitForSelector('.card', {timeout: 5000});
  check((await text('h1')) === 'Dashboard', 'the dashboard answers at /');
  await page.waitForFunction(() => /^[\d.]+$/.test(document.querySelectorAll('.card-value')[1]?.textContent || ''), {timeout: 10000});
  check(await page.$('.uplot') !== null, 'the dashboard draws its charts (uPlot)');
  // Each append is a request: the request rate counts them (routes like /streams/{id} included).
  await sleep(2200);
  const [appendRate, requestRate] = await page.$$eval('.card-value', (v) => [Number(v[1].textContent), Number(v[2].textContent)]);
  check(appendRate > 0 && requestRate >= appendRate * 0.8, `appends/s and requests/s agree (${appendRate}, ${requestRate})`);
  await waitText('td', 'billing');
  check(true, 'the dashboard lists the subscriptions with their lag');
  await waitText('#archive-title', 'Archive');
  check((await text('#archive-title + p')).includes('archived up to position'), 'the dashboard shows the archive\'s state (--archive)');
  await sleep(screenshots ? 9000 : 2500);
  await shoot('dashboard');
  writing = false;
  await writer;
  // Keyboard: the first Tab reaches the skip link, which leads to the content.
  await page.keyboard.press('Tab');
  check(await page.evaluate(() => document.activeElement?.classList.contains('skip')), 'the first Tab reaches "Skip to content"');

  // Streams: search by prefix, open one, jump to the log.
  console.log('streams');
  await clickLink('nav a', 'Streams');
  await page.waitForSelector('#prefix');
  await page.type('#prefix', 'order-');
  await page.keyboard.press('Enter');
  await page.waitForFunction(() => location.search.includes('prefix=order-'), {timeout: 5000});
  await waitText('td a', 'order-2');
  const listed = await page.$$eval('tbody td a', (links) => links.map((a) => a.textContent));
  check(JSON.stringify(listed) === JSON.stringify(['order-1', 'order-2', 'order-3']), `the prefix search lists order-1..3 (${listed})`);
  await clickLink('tbody td a', 'order-2');
  await page.waitForFunction(() => location.pathname === '/ui/streams/order-2', {timeout: 5000});
  await waitText('td code', 'OrderPaid');
  const types = await page.$$eval('tbody td code', (c) => c.map((x) => x.textContent));
  check(types[0] === 'OrderPaid' && types[1] === 'OrderPlaced', 'a stream shows its events newest first');
  await page.click('tbody tr:last-child details summary');
  check((await text('tbody tr:last-child pre.json')).includes('"sku": "A-1"'), 'an event shows its data as formatted JSON');
  await shoot('stream');
  await clickLink('.toolbar a', 'Oldest first');
  await page.waitForFunction(() => location.search.includes('direction=forward'), {timeout: 5000});
  await waitText('tbody td code', 'OrderPlaced');
  check((await page.$$eval('tbody td code', (c) => c.map((x) => x.textContent)))[0] === 'OrderPlaced', 'oldest first on asking');
  const position = await page.$eval('tbody tr:first-child td:nth-child(2) a', (a) => a.textContent.replace(/,/g, ''));
  await page.click('tbody tr:first-child td:nth-child(2) a');
  await page.waitForSelector('tr.highlight', {timeout: 5000});
  check(await page.$eval('tr.highlight td', (td) => td.textContent.replace(/,/g, '')) === position,
    `the position links to its place in the global log (${position})`);
  check((await page.url()).endsWith(`/ui/log?at=${position}`), 'the log page has its own address');

  // A category stream: the events of order-* in log order.
  await page.goto(`${origin}/ui/streams/${encodeURIComponent('$ce-order')}`, {waitUntil: 'domcontentloaded'});
  await waitText('tbody td code', 'OrderPlaced');
  const categoryTypes = await page.$$eval('tbody td code', (c) => c.map((x) => x.textContent));
  check(categoryTypes.length === 6 && categoryTypes[0] === 'OrderPlaced', `a category stream lists its events in log order (${categoryTypes.length})`);

  // A deep link survives a reload; an unknown console page says so.
  await page.goto(`${origin}/ui/streams/order-3`, {waitUntil: 'domcontentloaded'});
  await waitText('h1', 'order-3');
  await page.reload({waitUntil: 'domcontentloaded'});
  await waitText('h1', 'order-3');
  check(true, 'a deep link (/ui/streams/order-3) works on reload');
  await page.goto(`${origin}/ui/nothing-here`, {waitUntil: 'domcontentloaded'});
  await waitText('h1', 'Not found');
  check(true, 'an unknown console page shows "Not found"');

  // The global log.
  console.log('log');
  await page.goto(`${origin}/ui/log`, {waitUntil: 'domcontentloaded'});
  await page.waitForSelector('table.events tbody tr', {timeout: 5000});
  check((await page.$$('table.events tbody tr')).length > 0, 'the global log lists events');
  await clickLink('.pager a', 'Earlier');
  await page.waitForFunction(() => location.search.includes('from='), {timeout: 5000});
  await page.waitForSelector('table.events tbody tr', {timeout: 5000});
  check(true, 'the log pages back');

  // The live tail: an event appended over HTTP shows within a second; pause holds, resume catches up.
  console.log('live');
  await page.goto(`${origin}/ui/live`, {waitUntil: 'domcontentloaded'});
  await page.waitForFunction(() => document.querySelector('#live-state')?.textContent.startsWith('live'), {timeout: 5000});
  const appendedAt = Date.now();
  await api('POST', '/streams/order-9', [{type: 'OrderShipped', data: {order: 9, carrier: 'post'}}]);
  await waitText('#live-rows td code', 'OrderShipped', 3000);
  const latency = Date.now() - appendedAt;
  check(latency < 1000, `an appended event shows in the live tail within 1 s (${latency} ms)`);
  await page.click('#live-pause');
  await waitText('#live-state', 'paused');
  await api('POST', '/streams/order-9', [{type: 'OrderDelivered', data: {order: 9}}]);
  await sleep(400);
  check(!(await page.$$eval('#live-rows td code', (c) => c.some((x) => x.textContent === 'OrderDelivered'))), 'a paused tail shows nothing new');
  await page.click('#live-pause');
  await waitText('#live-rows td code', 'OrderDelivered', 3000);
  check(true, 'resuming shows what was appended while paused');
  // Filters: only OrderShipped events of the order category.
  await page.type('#live-type', 'OrderShipped');
  await page.type('#live-category', 'order');
  await page.click('form.inline button[type="submit"]');
  await page.waitForFunction(() => document.querySelector('#live-state')?.textContent.startsWith('live'), {timeout: 5000});
  await api('POST', '/streams/order-10', [{type: 'OrderPlaced', data: {order: 10}}, {type: 'OrderShipped', data: {order: 10}}]);
  await waitText('#live-rows td a', 'order-10', 3000);
  const filtered = await page.$$eval('#live-rows td code', (c) => c.map((x) => x.textContent));
  check(filtered.length === 1 && filtered[0] === 'OrderShipped', `the type and category filters hold (${filtered})`);
  if (screenshots) {
    await page.goto(`${origin}/ui/live`, {waitUntil: 'domcontentloaded'});
    await page.waitForFunction(() => document.querySelector('#live-state')?.textContent.startsWith('live'), {timeout: 5000});
    for (let i = 0; i < 6; ++i) {
      await api('POST', `/streams/order-${20 + i}`, [{type: i % 2 ? 'OrderPaid' : 'OrderPlaced', data: {order: 20 + i}}]);
      await sleep(120);
    }
    await shoot('live');
  }

  // Subscriptions: the parked event, retried from the page (the token asked for on the 401).
  console.log('subscriptions');
  await page.goto(`${origin}/ui/subscriptions`, {waitUntil: 'domcontentloaded'});
  await waitText('th', 'billing');
  check(true, 'the subscriptions page lists the persistent subscription');
  await waitText('th', 'cart_summary');
  check(true, 'and the read side\'s projections');
  await page.waitForSelector('button.retry', {timeout: 8000});
  check((await text('#main')).includes('payment service down'), 'the parked event shows its reason');
  await shoot('subscriptions');
  await clickButton('button.retry');
  await page.waitForSelector('#token-dialog[open]', {timeout: 5000});
  check(true, 'a write without the token asks for it');
  await page.type('#token-input', TOKEN);
  await page.click('#token-form button[value="save"]');
  await waitText('#main td', 'retry requested', 5000);
  const parkedNow = await api('GET', '/subscriptions/billing/parked');
  check(parkedNow.parked.length === 1 && parkedNow.parked[0].retry_requested, 'the retry reached the server');
  check(expected401.length === 1, `exactly one write was answered 401 (${expected401.length})`);
  check(await page.evaluate(() => sessionStorage.getItem('evs-token')) === TOKEN, 'the token is kept in sessionStorage');
  // The projection's parked event: retried with the token kept; the projection tries it again
  // (and parks it again with one more attempt, since the event stays wrong).
  await waitText('#main h3', 'cart_summary (read side)');
  check((await text('#main')).includes('quantity'), 'the read side\'s parked event shows its reason');
  await clickButton('button.retry[aria-label*="cart_summary"]');
  let again = readSideParked;
  for (let i = 0; i < 100 && again.attempts <= readSideParked.attempts; ++i) {
    await sleep(100);
    again = (await projectionParked())[0];
  }
  check(again.attempts > readSideParked.attempts, `the projection retried its parked event (attempts ${readSideParked.attempts} -> ${again.attempts})`);

  // Carts: the read model, one cart's history, time travel.
  console.log('carts');
  await page.goto(`${origin}/ui/carts?status=checked_out`, {waitUntil: 'domcontentloaded'});
  await page.waitForFunction((id) => document.body.textContent.includes(id), {timeout: 10000}, cartId);
  await clickLink('tbody td a', cartId);
  await page.waitForSelector('ol.history li', {timeout: 5000});
  check((await page.$$('ol.history li')).length === 5, 'the cart page lists its 5 versions');
  await waitText('.cart-state h2', 'version 5');
  check((await text('.cart-state')).includes('checked_out'), 'the cart as it is: checked out');
  await clickLink('ol.history a', 'v3');
  await waitText('.cart-state h2', 'version 3');
  const state3 = await text('.cart-state');
  check(state3.includes('open') && state3.includes('pear') && state3.includes('2.10'), 'version 3: open, apple and pear, 2.10 in all');
  check((await page.url()).endsWith(`/ui/carts/${cartId}?version=3`), 'a version has its own address');
  await page.focus('#version');
  await page.keyboard.press('ArrowLeft');
  await waitText('.cart-state h2', 'version 2');
  check(!(await text('.cart-state')).includes('pear'), 'the version slider moves back by keyboard: version 2 has no pear');
  await clickLink('ol.history a', 'v4');
  await waitText('.cart-state h2', 'version 4');
  await shoot('cart');

  // A phone-sized dashboard, with the writer running again.
  if (screenshots) {
    writing = true;
    const phoneWriter = (async () => {
      for (let i = 0; writing; ++i) {
        await api('POST', `/streams/metric-${i % 5}`, [{type: 'Tick', data: {i}}]);
        await sleep(40);
      }
    })();
    await page.setViewport({width: 390, height: 844, deviceScaleFactor: 2});
    await page.goto(`${origin}/`, {waitUntil: 'domcontentloaded'});
    await page.waitForSelector('.uplot', {timeout: 5000});
    await sleep(7000);
    await shoot('phone');
    writing = false;
    await phoneWriter;
  }

  check(errors.length === 0, `no page logged an error or failed a request${errors.length ? `:\n    ${errors.join('\n    ')}` : ''}`);
  check(foreign.length === 0, `every request went to ${origin}${foreign.length ? `: ${foreign.join(', ')}` : ''}`);
} catch (error) {
  ++failures;
  console.log(`  FAILED: ${error.stack || error}`);
} finally {
  await cleanUp();
}
console.log(`console_browser: ${passed} passed, ${failures} failed (${((Date.now() - started) / 1000).toFixed(1)} s)`);
process.exit(failures ? 1 : 0);
