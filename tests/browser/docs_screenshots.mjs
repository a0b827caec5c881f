// Screenshots for the docs (scripts/docs-screenshots): the gateway's send page after a search
// (ja, en; desktop) and the relay's access-code page and web viewer on a 375x667 phone and on a
// desktop (ja, en): CODE_LINK asks for CODE (the demo's send to a thread with
// access_code_required), which the script enters to open the viewer; VIEWER_LINK asks for none.
// Usage: node docs_screenshots.mjs GATEWAY_WEB_URL VIEWER_LINK PATIENT_ID LAST4 OUT_DIR \
//          CODE_LINK CODE
// Checks that no page shows the full (synthetic) patient ID; exits 1 if one does.
import { chromium } from "playwright-core";
import path from "node:path";

const [web, link, patientId, last4, out, codeLink, code] = process.argv.slice(2);
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
      // The demo's second link asks for an access code: the relay answers its summary with 401
      // access_code_required and the page shows the code form.
      await page.goto(codeLink);
      await page.locator('#app[data-state="code"]').waitFor();
      check(`access-code page (${lang}, ${name}) never holds the full patient ID`,
            !(await page.content()).includes(patientId));
      const codeFile = path.join(out, `viewer-access-code-${name}-${lang}.png`);
      await page.screenshot({ path: codeFile });
      console.log(codeFile);
      // The real code opens the study (#app[data-state] becomes "viewer").
      await page.fill("#code-input", code);
      await page.click('#code-form button[type="submit"]');
      await page.locator('#app[data-state="viewer"]').waitFor();
      await page.waitForTimeout(1500);  // let the first image and thumbnails paint
      const html = await page.content();
      check(`viewer (${lang}, ${name}) never holds the full patient ID`, !html.includes(patientId));
      check(`viewer (${lang}, ${name}) shows the last 4 of the patient ID`, html.includes(last4));
      const file = path.join(out, `viewer-${name}-${lang}.png`);
      await page.screenshot({ path: file });
      console.log(file);
      await context.close();
    }
  }
  // The demo's first link asks for no code: it opens the study straight away.
  {
    const context = await browser.newContext({ ignoreHTTPSErrors: true });
    const page = await context.newPage();
    page.setDefaultTimeout(30000);
    await page.goto(link);
    await page.locator('#app[data-state="viewer"], #app[data-state="code"]').waitFor();
    check("the link without a code opens the viewer, not the code page",
          (await page.locator("#app").getAttribute("data-state")) === "viewer");
    await context.close();
  }
} catch (e) {
  check(`no exception (${e})`, false);
} finally {
  await browser.close();
}
process.exit(failed ? 1 : 0);
