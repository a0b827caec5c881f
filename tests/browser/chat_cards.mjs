// The chat cards as people see them, rendered by Debian's headless Chromium from the exact text
// the gateway sends (`tsunagu-gateway chat preview`): the Matrix HTML body, Slack mrkdwn,
// Chatwork notation and plain text (XMPP, LINE WORKS link text), each in a neutral chat-like
// frame. These are our renderings of what the platforms receive, not screenshots of the
// platforms' own apps. Usage:
//   node chat_cards.mjs CARDS.json OUT_DIR
// CARDS.json: [{"name": "matrix-ja", "format": "html", "label": "Matrix (Element)", "body": ...}]
// Writes OUT_DIR/chat-card-<name>.png and checks each page; exits 0 when every check passed.
import { readFileSync } from "node:fs";
import { chromium } from "playwright-core";

const [cardsFile, outDir] = process.argv.slice(2);
const cards = JSON.parse(readFileSync(cardsFile, "utf8"));
let failed = 0;
function check(what, ok, detail = "") {
  console.log(`${ok ? "ok" : "FAIL"}: ${what}${ok || !detail ? "" : " (" + detail + ")"}`);
  if (!ok) failed++;
}

function escapeHtml(s) {
  return s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;")
    .replace(/"/g, "&quot;");
}

// Slack mrkdwn as Slack shows it: *bold*, <url|label> links, entities as the text they stand for.
function slackToHtml(text) {
  return text.split("\n").map((line) => {
    let out = "";
    const re = /<(https:[^|>]+)\|([^>]+)>|\*([^*]+)\*|([^<*]+|[<*])/g;
    for (const m of line.matchAll(re)) {
      if (m[1]) out += `<a href="${escapeHtml(m[1])}">${m[2]}</a>`;
      else if (m[3] !== undefined) out += `<b>${m[3]}</b>`;
      else out += m[4];
    }
    return out;
  }).join("<br>");
}

// Chatwork's [info][title]..[/title]..[/info] box.
function chatworkToHtml(text) {
  const m = /^\[info\]\[title\]([\s\S]*?)\[\/title\]([\s\S]*?)\[\/info\]\s*$/.exec(text);
  if (!m) return `<div class="plain">${escapeHtml(text)}</div>`;
  return `<div class="cw-info"><div class="cw-title">ⓘ ${escapeHtml(m[1])}</div>` +
    `<div class="plain">${escapeHtml(m[2].trim())}</div></div>`;
}

function bodyHtml(card) {
  switch (card.format) {
    case "html": return card.body;  // the gateway's own escaped org.matrix.custom.html
    case "slack": return slackToHtml(card.body);
    case "chatwork": return chatworkToHtml(card.body);
    default: return `<div class="plain">${escapeHtml(card.body)}</div>`;
  }
}

const style = `
  body { margin: 0; background: #eef1f4; font: 14px/1.5 "IPAPGothic", "DejaVu Sans", sans-serif; }
  #frame { width: 520px; padding: 12px; box-sizing: border-box; }
  .platform { color: #667; font-size: 11px; margin: 0 0 6px 44px; }
  .row { display: flex; gap: 8px; align-items: flex-start; }
  .avatar { width: 36px; height: 36px; border-radius: 8px; background: #2b6cb0; color: #fff;
            font-weight: bold; display: flex; align-items: center; justify-content: center; }
  .who { font-weight: bold; color: #234; font-size: 13px; }
  .bubble { background: #fff; border: 1px solid #d6dbe1; border-radius: 8px; padding: 8px 12px;
            max-width: 440px; }
  .bubble ul { margin: 4px 0; padding-left: 18px; } .bubble p { margin: 2px 0; }
  .plain { white-space: pre-wrap; }
  .cw-info { border: 1px solid #b7c7d9; border-radius: 4px; }
  .cw-title { background: #e8f0f8; padding: 2px 8px; font-weight: bold; }
  .cw-info .plain { padding: 4px 8px; }
  a { color: #1a5fb4; }`;

const browser = await chromium.launch({
  executablePath: "/usr/bin/chromium",
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
         "--disable-background-networking"],
});
try {
  const page = await browser.newPage({ viewport: { width: 520, height: 200 }, deviceScaleFactor: 1 });
  page.setDefaultTimeout(20000);
  for (const card of cards) {
    // No script runs in the page (as in a chat client, the card's text is data, never code).
    const html = `<!doctype html><html><head><meta charset="utf-8">` +
      `<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">` +
      `<style>${style}</style></head><body><div id="frame">` +
      `<div class="platform">${escapeHtml(card.label)}</div><div class="row">` +
      `<div class="avatar">T</div><div><div class="who">Tsunagu</div>` +
      `<div class="bubble">${bodyHtml(card)}</div></div></div></div></body></html>`;
    await page.setContent(html);
    const text = await page.locator(".bubble").innerText();
    check(`${card.name}: shows the last 4 of the patient ID`, text.includes("…1234"), text);
    check(`${card.name}: shows series and images`, text.includes("3 / 412"), text);
    check(`${card.name}: no markup is left as text`,
          !/\[\/?info\]|\[\/?title\]|<https:|\*\S/.test(text), text);
    const path = `${outDir}/chat-card-${card.name}.png`;
    await page.locator("#frame").screenshot({ path });
    const { size } = (await import("node:fs")).statSync(path);
    check(`${card.name}: PNG under 100 KB (${size} bytes)`, size < 100 * 1024);
  }
} finally {
  await browser.close();
}
process.exit(failed ? 1 : 0);
