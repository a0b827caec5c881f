// OHIF interoperability check (scripts/ohif-interop): opens OHIF's viewer route for STUDY_UID in
// Chromium, served from OHIF_URL and configured to read the relay's DICOMweb subset under a link
// token, and checks that OHIF asked the relay for the study's metadata and frames and drew a
// non-black image. Saves a screenshot to OUT_PNG. Exits 1 with the reason when it did not.
// Usage: node ohif_interop.mjs OHIF_URL STUDY_UID OUT_PNG
import { chromium } from "playwright-core";

const [ohifUrl, studyUid, outPng] = process.argv.slice(2);
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--no-sandbox"],
});
let failed = "";
try {
  // The demo relay's certificate is from the demo CA; CORS is the relay's own (cors_origins).
  const page = await browser.newPage({ ignoreHTTPSErrors: true, viewport: { width: 1280, height: 800 } });
  const seen = { metadata: 0, frames: 0, errors: 0 };
  page.on("response", (r) => {
    const u = r.url();
    if (!u.includes("/dicomweb/")) return;
    if (r.status() >= 400) seen.errors++;
    if (u.endsWith("/metadata")) seen.metadata++;
    if (/\/frames\/\d+/.test(u)) seen.frames++;
  });
  await page.goto(`${ohifUrl}/viewer?StudyInstanceUIDs=${studyUid}`);
  let drawn = 0;
  for (let i = 0; i < 60 && drawn === 0; i++) {  // bounded: 60 x 0.5 s
    await page.waitForTimeout(500);
    drawn = await page.evaluate(() => {
      let best = 0;
      for (const c of document.querySelectorAll("canvas")) {
        const ctx = c.getContext("2d");
        if (!ctx || c.width < 64 || c.height < 64) continue;
        const d = ctx.getImageData(0, 0, c.width, c.height).data;
        let n = 0;
        for (let k = 0; k < d.length; k += 4) if (d[k] + d[k + 1] + d[k + 2] > 60) n++;
        best = Math.max(best, n);
      }
      return best;
    });
  }
  await page.screenshot({ path: outPng });
  console.log(`ohif: metadata requests ${seen.metadata}, frame requests ${seen.frames}, ` +
              `errors ${seen.errors}, non-black pixels in the viewport ${drawn}`);
  if (seen.metadata === 0) failed = "OHIF never asked the relay for the series metadata";
  else if (seen.frames === 0) failed = "OHIF never asked the relay for a frame";
  else if (drawn < 1000) failed = "OHIF drew no image";
} finally {
  await browser.close();
}
if (failed) {
  console.error(`ohif: FAIL: ${failed}`);
  process.exit(1);
}
console.log("ohif: ok: the study opened in OHIF from the relay's DICOMweb subset");
