// The gateway's send page in Debian's headless Chromium: search by patient ID, pick the study
// and a thread, press Send, watch the job progress. Usage:
//   node gateway_send_page.mjs URL PATIENT_ID MASKED_ID THREAD
// Exits 0 when every check passed; prints one line per check.
import { chromium } from "playwright-core";

const [url, patientId, maskedId, thread] = process.argv.slice(2);
let failed = 0;
function check(what, ok, detail = "") {
  console.log(`${ok ? "ok" : "FAIL"}: ${what}${ok || !detail ? "" : " (" + detail + ")"}`);
  if (!ok) failed++;
}

const browser = await chromium.launch({
  executablePath: "/usr/bin/chromium",
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
         "--disable-background-networking"],
});
try {
  const page = await browser.newPage();
  page.setDefaultTimeout(20000);
  await page.goto(url + "?lang=en");
  check("the page is in English with ?lang=en", (await page.locator("html").getAttribute("lang")) === "en");
  await page.fill("#patient_id", patientId);
  await page.click("#search-button");
  const row = page.locator("#studies tbody tr").first();
  await row.waitFor();
  const rowText = await row.innerText();
  check("the search shows the masked patient ID", rowText.includes(maskedId), rowText);
  const html = await page.content();
  check("the page never holds the full patient ID", !html.includes(patientId));
  await page.locator("#studies tbody input[type=radio]").first().check();
  await page.selectOption("#thread", thread);
  await page.fill("#note", "please look at the aortic root");
  await page.click("#send-button");
  // Locators, not waitForFunction: the page's Content-Security-Policy forbids eval, as it should.
  await page.locator("#message", { hasText: /^Sent: job \d+/ }).waitFor();
  const message = await page.locator("#message").innerText();
  const job = message.replace("Sent: job ", "").trim();
  check("Send answers with a job number", /^\d+$/.test(job), message);
  // Progress: the job's row leaves "retrieving" and counts received instances.
  const cells = page.locator(`#jobs tbody tr[data-job="${job}"] td`);
  let progressed = false;
  for (let i = 0; i < 300 && !progressed; i++) {  // bounded: 30 s
    if (await cells.count() >= 4) {
      const stage = await cells.nth(2).innerText();
      const progress = await cells.nth(3).innerText();
      progressed = !stage.startsWith("retrieving") && /^[1-9]\d*\//.test(progress.trim());
    }
    if (!progressed) await page.waitForTimeout(100);
  }
  check("the job leaves retrieving and shows received instances", progressed);
  const jobRow = await page.locator(`#jobs tbody tr[data-job="${job}"]`).innerText();
  check("the job row shows the thread and progress", jobRow.includes(thread), jobRow);
  const ja = await browser.newPage();
  await ja.goto(url + "?lang=ja");
  check("the page exists in Japanese", (await ja.locator("#send-button").innerText()) === "送信");
} catch (e) {
  check("no exception", false, String(e));
} finally {
  await browser.close();
}
process.exit(failed ? 1 : 0);
