// Browser tests of viewer-lib/web with playwright-core driving Debian's /usr/bin/chromium
// (headless, never a downloaded browser), against server.mjs on 127.0.0.1.
//
// Environment: TSUNAGU_WEB_DIR (viewer-lib/web), TSUNAGU_STUDY_DIR (exported study: a 300-slice CT
// and an XA cine), TSUNAGU_NODE_MODULES (where playwright-core is installed), TSUNAGU_ARTIFACTS
// (screenshots and timings are written there).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import { startServer, ACCESS_CODE } from './server.mjs';

const require = createRequire(path.join(process.env.TSUNAGU_NODE_MODULES, 'noop.js'));
const { chromium } = require('playwright-core');
const artifacts = process.env.TSUNAGU_ARTIFACTS;
fs.mkdirSync(artifacts, { recursive: true });

const PHONE = { viewport: { width: 375, height: 667 }, isMobile: true, hasTouch: true, deviceScaleFactor: 2 };
const DESKTOP = { viewport: { width: 1280, height: 800 } };
const timings = {};

let browser;
let mock;
let base;

before(async () => {
  mock = await startServer({ webDir: process.env.TSUNAGU_WEB_DIR, studyDir: process.env.TSUNAGU_STUDY_DIR });
  base = `http://127.0.0.1:${mock.port}`;
  browser = await chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking'],
  });
});

after(async () => {
  fs.writeFileSync(path.join(artifacts, 'timings.json'), JSON.stringify(timings, null, 2));
  await browser?.close();
  mock?.server.close();
});

async function open(device, token, locale = 'ja-JP') {
  const context = await browser.newContext({ ...device, locale });
  const page = await context.newPage();
  // Script errors, CSP violations and failed requests (except the favicon nobody serves; the
  // pages for expired/revoked/locked links expect their 4xx summary answer).
  const problems = [];
  page.on('console', (m) => {
    if (m.type() === 'error' && !m.text().startsWith('Failed to load resource')) problems.push(m.text());
  });
  page.on('pageerror', (e) => problems.push(String(e)));
  page.on('response', (r) => {
    if (r.status() >= 400 && !r.url().endsWith('/favicon.ico') && !r.url().endsWith('/summary.json')) {
      problems.push(`${r.status()} ${r.url()}`);
    }
  });
  const requests = [];
  page.on('request', (r) => requests.push(r.url()));
  await page.goto(`${base}/v/${token}/`);
  return { context, page, problems, requests };
}

const snap = (page) => page.evaluate(() => window.__tsunagu.snapshot());

// Polls from the test side: page.waitForFunction evaluates its predicate with eval(), which the
// viewer's Content-Security-Policy (no 'unsafe-eval') rightly refuses. Bounded by `timeout`.
async function waitFor(page, predicate, arg, timeout = 30000) {
  const deadline = Date.now() + timeout;
  for (;;) {
    if (await page.evaluate(predicate, arg)) return;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeout} ms: ${predicate}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

for (const [name, device] of [['phone', PHONE], ['desktop', DESKTOP]]) {
  test(`${name}: opens a link, first image under 500 ms, overlay, orientation`, async () => {
    const { context, page, problems } = await open(device, 'demo');
    await waitFor(page, () => window.__tsunagu.snapshot().firstImageMs !== null);
    // Time from navigation start to the first image drawn, over 3 loads (the machine is shared
    // and noisy): the median must be under 500 ms; every figure is kept in timings.json.
    const firsts = [(await snap(page)).firstImageMs];
    for (let i = 0; i < 2; ++i) {
      await page.reload();
      await waitFor(page, () => window.__tsunagu.snapshot().firstImageMs !== null);
      firsts.push((await snap(page)).firstImageMs);
    }
    timings[`${name}_first_image_ms`] = firsts;
    const median = [...firsts].sort((a, b) => a - b)[1];
    const s = await snap(page);
    assert.equal(s.state, 'viewer');
    assert.ok(median < 500, `first image after ${firsts.join(', ')} ms`);
    // The first series is the XA run (series 1); the CT is series 2.
    await page.click('#strip button[data-series="1"]');
    await waitFor(page, () => window.__tsunagu.snapshot().seriesIndex === 1 && window.__tsunagu.snapshot().total === 300);
    assert.match(await page.textContent('#ov-patient'), /\*\*\*\*5678/);
    assert.match(await page.textContent('#ov-expiry'), /あと \d+ 時間で削除|1 時間以内に削除/);
    assert.match(await page.textContent('#ov-slice'), /画像 1\/300/);
    assert.match(await page.textContent('#ov-window'), /WL 40 \/ WW 400/);
    assert.equal(await page.textContent('#or-left'), 'R');
    assert.equal(await page.textContent('#or-right'), 'L');
    assert.equal(await page.textContent('#or-top'), 'A');
    assert.equal(await page.textContent('#or-bottom'), 'P');
    await page.screenshot({ path: path.join(artifacts, `${name}-ct.png`) });
    assert.deepEqual(problems, []);
    await context.close();
  });
}

test('phone: scroll through the 300-slice CT without waiting once prefetched', async () => {
  const { context, page } = await open(PHONE, 'demo');
  await waitFor(page, () => window.__tsunagu.snapshot().firstImageMs !== null);
  const start = Date.now();
  await page.click('#strip button[data-series="1"]');
  await waitFor(page, () => {
    const s = window.__tsunagu.snapshot();
    return s.seriesIndex === 1 && s.prefetched === 300;
  }, null, 60000);
  timings.ct_all_slices_displayable_ms = Date.now() - start;
  const before = (await snap(page)).latencies.length;
  for (let i = 0; i < 299; ++i) await page.keyboard.press('ArrowDown');
  await waitFor(page, (n) => window.__tsunagu.snapshot().latencies.length >= n, before + 299);
  const s = await snap(page);
  assert.equal(s.index, 299);
  assert.match(await page.textContent('#ov-slice'), /画像 300\/300/);
  const latencies = s.latencies.slice(before);
  const worst = Math.max(...latencies);
  timings.ct_scroll_worst_latency_ms = worst;
  assert.ok(worst < 50, `a slice waited ${worst} ms`);
  // Swipe (scroll tool is the default): a vertical touch drag moves through the stack.
  const box = await page.locator('#stage').boundingBox();
  const cx = box.x + box.width / 2;
  const cy = box.y + box.height / 2;
  await page.mouse.move(cx, cy);
  await page.mouse.down();
  await page.mouse.move(cx, cy - 120, { steps: 6 });
  await page.mouse.up();
  assert.equal((await snap(page)).index, 289);
  // Slider.
  await page.locator('#slider').fill('150');
  assert.equal((await snap(page)).index, 150);
  await page.screenshot({ path: path.join(artifacts, 'phone-ct-scrolled.png') });
  await context.close();
});

test('desktop: window by drag and by preset, zoom, reset', async () => {
  const { context, page, requests } = await open(DESKTOP, 'demo');
  await waitFor(page, () => window.__tsunagu.snapshot().firstImageMs !== null);
  await page.click('#strip button[data-series="1"]');
  await waitFor(page, () => window.__tsunagu.snapshot().seriesIndex === 1);
  await page.click('[data-tool="window"]');
  const box = await page.locator('#stage').boundingBox();
  const cx = box.x + box.width / 2;
  const cy = box.y + box.height / 2;
  await page.mouse.move(cx, cy);
  await page.mouse.down();
  await page.mouse.move(cx + 150, cy + 60, { steps: 5 });
  await page.mouse.up();
  let s = await snap(page);
  assert.notDeepEqual(s.window, { center: 40, width: 400 });
  assert.ok(s.window.width > 400 && s.window.center < 40, JSON.stringify(s.window));
  const dragged = `window=${s.window.center}%2C${s.window.width}%2Clinear`;
  const deadline = Date.now() + 5000;
  while (!requests.some((u) => u.includes(dragged)) && Date.now() < deadline) {
    await page.waitForTimeout(20);
  }
  assert.ok(requests.some((u) => u.includes(dragged)), `no render asked with ${dragged}`);
  await page.click('#presets button[data-preset="lung"]');
  s = await snap(page);
  assert.deepEqual(s.window, { center: -600, width: 1500 });
  assert.match(await page.textContent('#ov-window'), /WL -600 \/ WW 1500/);
  assert.equal(await page.textContent('#presets button[data-preset="lung"]'), '肺野');
  await page.mouse.move(cx, cy);
  await page.keyboard.down('Control');
  await page.mouse.wheel(0, -300);
  await page.keyboard.up('Control');
  await page.keyboard.press('+');
  s = await snap(page);
  assert.ok(s.zoom > 1.2, `zoom ${s.zoom}`);
  await page.click('[data-tool="pan"]');
  await page.mouse.move(cx, cy);
  await page.mouse.down();
  await page.mouse.move(cx + 40, cy + 30, { steps: 3 });
  await page.mouse.up();
  s = await snap(page);
  assert.equal(s.panX, 40);
  assert.equal(s.panY, 30);
  await page.screenshot({ path: path.join(artifacts, 'desktop-lung-zoomed.png') });
  await page.click('#reset');
  s = await snap(page);
  assert.equal(s.zoom, 1);
  assert.equal(s.panX, 0);
  await context.close();
});

test('phone: a two-finger pinch zooms and a two-finger move pans', async () => {
  const { context, page } = await open(PHONE, 'demo');
  await waitFor(page, () => window.__tsunagu.snapshot().firstImageMs !== null);
  // Playwright has no multi-touch API: dispatch the touch pointer events the browser would send.
  await page.evaluate(() => {
    const stage = document.getElementById('stage');
    const r = stage.getBoundingClientRect();
    const y = r.top + r.height / 2;
    const x = r.left + r.width / 2;
    const ev = (type, id, px, py) => stage.dispatchEvent(new PointerEvent(type, {
      pointerId: id, pointerType: 'touch', clientX: px, clientY: py, bubbles: true, isPrimary: id === 1,
    }));
    ev('pointerdown', 1, x - 50, y);
    ev('pointerdown', 2, x + 50, y);
    for (let k = 1; k <= 5; ++k) {
      ev('pointermove', 1, x - 50 - 10 * k, y + 4 * k);
      ev('pointermove', 2, x + 50 + 10 * k, y + 4 * k);
    }
    ev('pointerup', 1, x - 100, y + 20);
    ev('pointerup', 2, x + 100, y + 20);
  });
  const s = await snap(page);
  assert.ok(Math.abs(s.zoom - 2) < 0.01, `zoom ${s.zoom}`);  // fingers 100 px -> 200 px apart
  assert.equal(s.panY, 20);
  assert.equal(s.index, 0, 'a pinch must not scroll the stack');
  await page.screenshot({ path: path.join(artifacts, 'phone-pinched.png') });
  await context.close();
});

test('phone: the XA cine plays at its frame time and pauses', async () => {
  const { context, page } = await open(PHONE, 'demo');
  await waitFor(page, () => window.__tsunagu.snapshot().firstImageMs !== null);
  let s = await snap(page);
  assert.equal(s.seriesIndex, 0);
  assert.equal(s.total, 20);
  await waitFor(page, () => window.__tsunagu.snapshot().prefetched === 20);
  const t0 = Date.now();
  await page.click('#play');
  await page.waitForTimeout(1000);
  s = await snap(page);
  const elapsed = Date.now() - t0;
  assert.ok(s.playing);
  // 66.67 ms per frame: about 15 frames in a second (bounds allow for a loaded machine).
  const expected = elapsed / 66.67;
  assert.ok(s.index >= 5 && s.index <= expected + 2, `frame ${s.index} after ${elapsed} ms`);
  assert.match(await page.textContent('#ov-slice'), /フレーム \d+\/20/);
  await page.click('#play');
  const paused = (await snap(page)).index;
  await page.waitForTimeout(300);
  assert.equal((await snap(page)).index, paused);
  assert.equal(await page.textContent('#play'), '再生');
  await context.close();
});

test('desktop: two clicks measure the 50.0 mm marker pair of the CT phantom', async () => {
  const { context, page } = await open(DESKTOP, 'demo', 'en-US');
  await waitFor(page, () => window.__tsunagu.snapshot().firstImageMs !== null);
  await page.click('#strip button[data-series="1"]');
  await waitFor(page, () => window.__tsunagu.snapshot().seriesIndex === 1);
  await page.click('[data-tool="measure"]');
  // Marker centres of samples/generate_study.py for 512x512 (spacing 0.7 mm): row 128, columns
  // 238 and 238 + round(50 / 0.7) = 309.
  for (const x of [238, 309]) {
    const p = await page.evaluate(([ix, iy]) => window.__tsunagu.imageToClient(ix + 0.5, iy + 0.5), [x, 128]);
    await page.mouse.click(p.x, p.y);
  }
  const s = await snap(page);
  const mm = Number(s.measureText.match(/([\d.]+) mm/)[1]);
  timings.measured_marker_mm = mm;
  assert.ok(Math.abs(mm - 50.0) <= 0.7, `measured ${mm} mm`);
  assert.equal(await page.textContent('#ov-measure'), s.measureText);
  await page.screenshot({ path: path.join(artifacts, 'desktop-measure.png') });
  // XA has Imager Pixel Spacing: labelled as at the detector.
  await page.click('#strip button[data-series="0"]');
  await page.click('[data-tool="measure"]');
  for (const x of [100, 200]) {
    const p = await page.evaluate(([ix, iy]) => window.__tsunagu.imageToClient(ix, iy), [x, 100]);
    await page.mouse.click(p.x, p.y);
  }
  assert.match((await snap(page)).measureText, /^20\.0 mm \(at detector\)$/);
  await context.close();
});

for (const [token, ja, en] of [
  ['expired', 'リンクの有効期限が切れました', 'This link has expired'],
  ['revoked', 'このリンクは取り消されました', 'This link was revoked'],
  ['locked', 'このリンクはロックされました', 'This link is locked'],
]) {
  test(`${token} link: clear page in Japanese and English`, async () => {
    const { context, page, problems } = await open(PHONE, token);
    await waitFor(page, (t) => document.getElementById('app').dataset.state === t, token);
    assert.equal(await page.textContent('#message-title'), ja);
    // Only the message: no viewer controls around it.
    assert.equal(await page.isVisible('#toolbar'), false);
    assert.equal(await page.isVisible('#stage'), false);
    await page.screenshot({ path: path.join(artifacts, `phone-${token}.png`) });
    await context.close();
    const en_ = await open(PHONE, token, 'en-US');
    await waitFor(en_.page, (t) => document.getElementById('app').dataset.state === t, token);
    assert.equal(await en_.page.textContent('#message-title'), en);
    assert.deepEqual(problems, []);
    await en_.context.close();
  });
}

test('access-code link: wrong code refused, right code opens the study', async () => {
  const { context, page } = await open(PHONE, 'code', 'en-US');
  await waitFor(page, () => document.getElementById('app').dataset.state === 'code');
  assert.equal(await page.textContent('#code-form h1'), 'Access code');
  assert.equal(await page.isVisible('#toolbar'), false);
  await page.fill('#code-input', '0000');
  await page.click('#code-form button');
  await waitFor(page, () => document.getElementById('code-error').textContent !== '');
  assert.equal(await page.textContent('#code-error'), 'Wrong access code.');
  await page.screenshot({ path: path.join(artifacts, 'phone-code-wrong.png') });
  await page.fill('#code-input', ACCESS_CODE);
  await page.click('#code-form button');
  await waitFor(page, () => window.__tsunagu.snapshot().firstImageMs !== null);
  assert.equal((await snap(page)).state, 'viewer');
  await context.close();
});

test('language follows the browser and can be switched', async () => {
  const { context, page } = await open(PHONE, 'demo', 'en-US');
  await waitFor(page, () => window.__tsunagu.snapshot().firstImageMs !== null);
  assert.equal(await page.textContent('[data-tool="window"]'), 'Window');
  assert.match(await page.textContent('#ov-expiry'), /Deleted in \d+ h|Deleted within 1 h/);
  await page.click('#lang');
  assert.equal(await page.textContent('[data-tool="window"]'), '濃度');
  assert.equal(await page.evaluate(() => document.documentElement.lang), 'ja');
  await context.close();
});
