// Headless Chromium (Debian's /usr/bin/chromium via playwright-core) against the real relay,
// started by run_viewer_bench.sh. For each open of the link, in a fresh browser context (no
// browser cache, new TLS session), on a phone viewport:
//   first_image_ms  navigation start -> the first slice drawn on the canvas (viewer.js sets
//                   firstImageMs with performance.now(), whose origin is the navigation start);
//   all_ready_ms    navigation start -> every slice of the series loaded by the prefetch;
//   then it steps through every slice with the arrow key, waiting for each to be drawn, and
//   reports the slowest and the median time from the key press to the slice on screen
//   (viewer.js latencies: show() called -> drawn).
// Prints one JSON line per open. Environment: TSUNAGU_LINK, TSUNAGU_NODE_MODULES, OPENS (2),
// TSUNAGU_ARTIFACTS (optional: screenshots).
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';

const require = createRequire(path.join(process.env.TSUNAGU_NODE_MODULES, 'noop.js'));
const { chromium } = require('playwright-core');
const PHONE = { viewport: { width: 375, height: 667 }, isMobile: true, hasTouch: true, deviceScaleFactor: 2 };
const opens = Number(process.env.OPENS || 2);
const artifacts = process.env.TSUNAGU_ARTIFACTS;

async function waitFor(page, predicate, arg, timeout = 60000) {
  const deadline = Date.now() + timeout;
  for (;;) {
    if (await page.evaluate(predicate, arg)) return;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeout} ms: ${predicate}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

const browser = await chromium.launch({
  executablePath: '/usr/bin/chromium',
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking'],
});
try {
  for (let run = 1; run <= opens; ++run) {
    const context = await browser.newContext({ ...PHONE, locale: 'en-US', ignoreHTTPSErrors: true });
    const page = await context.newPage();
    await page.goto(process.env.TSUNAGU_LINK);
    await waitFor(page, () => window.__tsunagu.snapshot().firstImageMs !== null);
    const first = await page.evaluate(() => window.__tsunagu.snapshot());
    await waitFor(page, () => {
      const s = window.__tsunagu.snapshot();
      return s.total > 0 && s.prefetched === s.total;
    });
    const allReadyMs = await page.evaluate(() => performance.now());
    const before = first.latencies.length;
    const total = first.total;
    for (let i = 1; i < total; ++i) {
      await page.keyboard.press('ArrowDown');
      await waitFor(page, (want) => window.__tsunagu.snapshot().index === want &&
        window.__tsunagu.snapshot().latencies.length > 0, i);
    }
    await waitFor(page, (n) => window.__tsunagu.snapshot().latencies.length >= n, before + total - 1);
    const s = await page.evaluate(() => window.__tsunagu.snapshot());
    const steps = s.latencies.slice(before).sort((a, b) => a - b);
    if (artifacts) {
      fs.mkdirSync(artifacts, { recursive: true });
      await page.screenshot({ path: path.join(artifacts, `viewer-bench-open${run}.png`) });
    }
    console.log(JSON.stringify({
      open: run, slices: total, first_image_ms: Math.round(first.firstImageMs),
      all_ready_ms: Math.round(allReadyMs), steps: steps.length,
      step_median_ms: Number(steps[Math.floor(steps.length / 2)].toFixed(1)),
      step_max_ms: Number(steps[steps.length - 1].toFixed(1)),
    }));
    await context.close();
  }
} finally {
  await browser.close();
}
