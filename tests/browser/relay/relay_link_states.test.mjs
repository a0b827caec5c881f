// Chromium against the REAL relay for the link states a doctor can meet: a revoked link and a
// link whose study has expired. tests/integration/relay/relay_viewer_browser_test.cpp commits a
// study with a few seconds of retention, revokes that link with `tsunagu-relay revoke` (another
// process: the service sees it within its revocation cache time), commits again for a second link
// with the same expiry, and runs this file.
//
// Environment: TSUNAGU_REVOKED_LINK, TSUNAGU_EXPIRING_LINK, TSUNAGU_NODE_MODULES,
// TSUNAGU_ARTIFACTS (screenshots).
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

// Reloads the link until the page reaches `state` (bounded), returning the page's title text.
async function reloadUntil(page, url, state, timeout) {
  const deadline = Date.now() + timeout;
  for (;;) {
    await page.goto(url);
    for (let i = 0; i < 100; ++i) {
      const s = await page.evaluate(() => document.getElementById('app').dataset.state);
      if (s !== 'loading') break;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    if (await page.evaluate(() => document.getElementById('app').dataset.state) === state) {
      return page.textContent('#message-title');
    }
    if (Date.now() > deadline) throw new Error(`the page did not reach '${state}' in ${timeout} ms`);
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

test('phone: a revoked link shows the revoked page, in Japanese', async () => {
  const context = await browser.newContext({ ...PHONE, locale: 'ja-JP', ignoreHTTPSErrors: true });
  const page = await context.newPage();
  const title = await reloadUntil(page, process.env.TSUNAGU_REVOKED_LINK, 'revoked', 15000);
  assert.equal(title, 'このリンクは取り消されました');
  assert.equal(await page.isVisible('#viewer'), false);
  await page.screenshot({ path: path.join(artifacts, 'relay-phone-revoked.png') });
  await context.close();
});

test('phone: once the study expires its link shows the expired page, in English', async () => {
  const context = await browser.newContext({ ...PHONE, locale: 'en-US', ignoreHTTPSErrors: true });
  const page = await context.newPage();
  // Opened while the study may still be there; reloaded until it has expired.
  await page.goto(process.env.TSUNAGU_EXPIRING_LINK);
  const title = await reloadUntil(page, process.env.TSUNAGU_EXPIRING_LINK, 'expired', 30000);
  assert.equal(title, 'This link has expired');
  assert.equal(await page.isVisible('#viewer'), false);
  await page.screenshot({ path: path.join(artifacts, 'relay-phone-expired.png') });
  await context.close();
});
