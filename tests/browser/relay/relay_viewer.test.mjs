// Chromium (Debian's /usr/bin/chromium via playwright-core, headless) against the REAL relay:
// started, loaded with a de-identified CT and given two links by
// tests/integration/relay/relay_viewer_browser_test.cpp, which runs this file.
//
// Environment: TSUNAGU_LINK (a link without access code), TSUNAGU_CODE_LINK and TSUNAGU_CODE (a
// link with one), TSUNAGU_NODE_MODULES (playwright-core), TSUNAGU_ARTIFACTS (screenshots).
// The relay's certificate is issued by the test's own CA on 127.0.0.1; the browser context ignores
// certificate errors for that reason only (the TLS itself is real).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';

const require = createRequire(path.join(process.env.TSUNAGU_NODE_MODULES, 'noop.js'));
const { chromium } = require('playwright-core');
const artifacts = process.env.TSUNAGU_ARTIFACTS;
fs.mkdirSync(artifacts, { recursive: true });
const PHONE = { viewport: { width: 375, height: 667 }, isMobile: true, hasTouch: true, deviceScaleFactor: 2 };

let browser;
before(async () => {
  browser = await chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking'],
  });
});
after(async () => { await browser?.close(); });

// Bounded polling from the test side (the viewer's CSP refuses eval, so no waitForFunction).
async function waitFor(page, predicate, arg, timeout = 20000) {
  const deadline = Date.now() + timeout;
  for (;;) {
    if (await page.evaluate(predicate, arg)) return;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeout} ms: ${predicate}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

async function open(url, locale) {
  const context = await browser.newContext({ ...PHONE, locale, ignoreHTTPSErrors: true });
  const page = await context.newPage();
  const problems = [];
  page.on('console', (m) => {
    if (m.type() === 'error' && !m.text().startsWith('Failed to load resource')) problems.push(m.text());
  });
  page.on('pageerror', (e) => problems.push(String(e)));
  page.on('response', (r) => {
    if (r.status() >= 400 && !r.url().endsWith('/favicon.ico') && !r.url().endsWith('/summary.json') &&
        !r.url().endsWith('/access-code')) {
      problems.push(`${r.status()} ${r.url()}`);
    }
  });
  const started = Date.now();
  await page.goto(url);
  return { context, page, problems, started };
}

test('phone: the link from chat opens the study and draws the first image', async () => {
  const { context, page, problems } = await open(process.env.TSUNAGU_LINK, 'ja-JP');
  await waitFor(page, () => window.__tsunagu.snapshot().firstImageMs !== null);
  const s = await page.evaluate(() => window.__tsunagu.snapshot());
  assert.equal(s.state, 'viewer');
  assert.equal(s.total, 5);
  assert.match(await page.textContent('#ov-patient'), /\*\*\*\*5678/);
  // The first image is really on the canvas: not a blank frame.
  const drawn = await page.evaluate(() => {
    const c = document.querySelector('canvas');
    const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
    let lit = 0;
    for (let i = 0; i < d.length; i += 4) if (d[i] > 16) lit += 1;
    return lit;
  });
  assert.ok(drawn > 1000, `only ${drawn} pixels drawn`);
  // Scrolling to the last slice asks the relay for it.
  await page.keyboard.press('End');
  await waitFor(page, () => window.__tsunagu.snapshot().index === 4);
  fs.writeFileSync(path.join(artifacts, 'relay-first-image.json'), JSON.stringify({ firstImageMs: s.firstImageMs }));
  await page.screenshot({ path: path.join(artifacts, 'relay-phone-ct.png') });
  assert.deepEqual(problems, []);
  await context.close();
});

test('phone: an access-code link asks for the code, then opens with the session cookie', async () => {
  const { context, page, problems } = await open(process.env.TSUNAGU_CODE_LINK, 'en-US');
  await waitFor(page, () => document.getElementById('app').dataset.state === 'code');
  await page.fill('#code-input', '0000');
  await page.click('#code-form button');
  await waitFor(page, () => document.getElementById('code-error').textContent !== '');
  assert.equal(await page.textContent('#code-error'), 'Wrong access code.');
  // The relay refuses another attempt within 1 s of a wrong one.
  await new Promise((resolve) => setTimeout(resolve, 1100));
  await page.fill('#code-input', process.env.TSUNAGU_CODE);
  await page.click('#code-form button');
  await waitFor(page, () => window.__tsunagu.snapshot().firstImageMs !== null);
  const cookies = await context.cookies();
  assert.equal(cookies.length, 1);
  assert.equal(cookies[0].name, 'tsunagu_session');
  assert.equal(cookies[0].httpOnly, true);
  assert.equal(cookies[0].secure, true);
  assert.equal(cookies[0].sameSite, 'Strict');
  await page.screenshot({ path: path.join(artifacts, 'relay-phone-code.png') });
  assert.deepEqual(problems, []);
  await context.close();
});
