// Screenshots for the docs (scripts/docs-screenshots): the gateway's send page after a search
// (ja, en; desktop) and the relay's web viewer and its access-code page on a 375x667 phone and on
// a desktop (ja, en).
// Usage: node docs_screenshots.mjs GATEWAY_WEB_URL VIEWER_LINK PATIENT_ID LAST4 OUT_DIR
// Checks that no page shows the full (synthetic) patient ID; exits 1 if one does.
import { chromium } from "playwright-core";
import path from "node:path";

const [web, link, patientId, last4, out] = process.argv.slice(2);
const PHONE = { viewport: { width: 375, height: 667 }, isMobile: true, hasTouch: true,
                deviceScaleFactor: 2 };
const DESKTOP = { viewport: { width: 1280, height: 800 } };
let failed = 0;
function check(what, ok) {
  console.log(`${ok ? "ok" : "FAIL"}: ${what}`);
  if (!ok) failed++;
}

const browser = await chromium.launch({
  executablePath: "/usr/bin/chromium",
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
         "--disable-background-networking"],
});
try {
  for (const lang of ["ja", "en"]) {
    const page = await browser.newPage(DESKTOP);
    page.setDefaultTimeout(20000);
    await page.goto(`${web}/?lang=${lang}`);
    await page.fill("#patient_id", patientId);
    await page.click("#search-button");
    await page.locator("#studies tbody tr").first().waitFor();
    await page.locator("#studies tbody input[type=radio]").first().check();
    await page.locator("#jobs tbody tr").first().waitFor();
    // The search box would show the whole ID typed in: empty it for the picture.
    await page.fill("#patient_id", "");
    const html = await page.content();
    check(`send page (${lang}) shows only the last 4 of the patient ID`,
          !html.includes(patientId) && html.includes(last4));
    const file = path.join(out, `gateway-send-page-${lang}.png`);
    await page.screenshot({ path: file, fullPage: true });
    console.log(file);
    await page.close();
  }
  for (const lang of ["ja", "en"]) {
    for (const [name, device] of [["phone", PHONE], ["desktop", DESKTOP]]) {
      const context = await browser.newContext({ ...device, ignoreHTTPSErrors: true,
                                                 locale: lang === "ja" ? "ja-JP" : "en-US" });
      const page = await context.newPage();
      page.setDefaultTimeout(30000);
      await page.goto(link);
      // The viewer sets #app[data-state] to "viewer" once the study is open.
      await page.locator('#app[data-state="viewer"]').waitFor();
      await page.waitForTimeout(1500);  // let the first image and thumbnails paint
      const html = await page.content();
      check(`viewer (${lang}, ${name}) never holds the full patient ID`, !html.includes(patientId));
      const file = path.join(out, `viewer-${name}-${lang}.png`);
      await page.screenshot({ path: file });
      console.log(file);
      // The access-code page: the demo's thread asks for no code, so the browser answers the
      // page's summary request as the relay does for a link with a code (401
      // access_code_required); the page itself is the relay's.
      await page.route("**/summary.json", (route) => route.fulfill({
        status: 401, contentType: "application/json",
        body: JSON.stringify({ error: "access_code_required" }) }));
      await page.goto(link);
      await page.locator('#app[data-state="code"]').waitFor();
      const codeFile = path.join(out, `viewer-access-code-${name}-${lang}.png`);
      await page.screenshot({ path: codeFile });
      console.log(codeFile);
      await context.close();
    }
  }
} catch (e) {
  check(`no exception (${e})`, false);
} finally {
  await browser.close();
}
process.exit(failed ? 1 : 0);
