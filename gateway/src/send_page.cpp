// The send page: plain HTML and a little JavaScript, no external resources. Text is filled in
// from a table in the page's language; values from the server are set with textContent only.
#include <string>

#include "tsunagu/gateway/web_server.h"

namespace tsunagu::gateway {
namespace {

struct Texts {
  const char* lang;
  const char* title;
  const char* patient_id;
  const char* accession;
  const char* date;
  const char* modality;
  const char* search;
  const char* searching;
  const char* no_results;
  const char* col_pick;
  const char* col_patient;
  const char* col_date;
  const char* col_mod;
  const char* col_desc;
  const char* col_images;
  const char* thread;
  const char* note;
  const char* send;
  const char* sent;
  const char* pick_first;
  const char* jobs;
  const char* col_job;
  const char* col_stage;
  const char* col_progress;
  const char* col_link;
  const char* privacy;
  const char* access_code;
};

constexpr Texts kJa = {"ja",
                       "Tsunagu 画像送信",
                       "患者ID",
                       "受付番号",
                       "検査日",
                       "モダリティ",
                       "検索",
                       "検索中…",
                       "該当なし",
                       "選択",
                       "患者ID(下4桁)",
                       "日付",
                       "種別",
                       "説明",
                       "画像数",
                       "送信先スレッド",
                       "メモ",
                       "送信",
                       "送信しました: ジョブ ",
                       "検査を選んでください",
                       "送信状況",
                       "ジョブ",
                       "段階",
                       "進捗",
                       "リンク",
                       "患者名・生年月日・患者IDの全桁は表示されません。",
                       "アクセスコード (チャットには載せていません。電話で伝えてください): "};
constexpr Texts kEn = {"en",
                       "Tsunagu: send a study",
                       "Patient ID",
                       "Accession number",
                       "Study date",
                       "Modality",
                       "Search",
                       "Searching…",
                       "No studies found",
                       "Pick",
                       "Patient (last 4)",
                       "Date",
                       "Mod",
                       "Description",
                       "Images",
                       "Thread",
                       "Note",
                       "Send",
                       "Sent: job ",
                       "Pick a study first",
                       "Sends",
                       "Job",
                       "Stage",
                       "Progress",
                       "Link",
                       "Names, birth dates and full patient IDs are never shown.",
                       "access code (not in the chat; tell the recipient by phone): "};

std::string Replace(std::string s, const std::string& from, const std::string& to) {
  for (size_t pos = s.find(from); pos != std::string::npos; pos = s.find(from, pos + to.size())) {
    s.replace(pos, from.size(), to);
  }
  return s;
}

constexpr char kTemplate[] = R"html(<!doctype html>
<html lang="{lang}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<style>
body { font-family: system-ui, sans-serif; margin: 1.5rem; max-width: 60rem; }
fieldset { border: 1px solid #bbb; margin-bottom: 1rem; }
label { display: inline-block; margin: 0 1rem 0.5rem 0; }
table { border-collapse: collapse; width: 100%; margin: 0.5rem 0 1rem; }
th, td { border-bottom: 1px solid #ddd; padding: 0.3rem; text-align: left; }
#message { min-height: 1.5rem; font-weight: bold; }
.privacy { color: #555; font-size: 0.9rem; }
progress { width: 8rem; }
</style>
</head>
<body>
<h1>{title}</h1>
<p class="privacy">{privacy}</p>
<form id="search">
<fieldset>
<label>{patient_id} <input id="patient_id" name="patient_id" autocomplete="off"></label>
<label>{accession} <input id="accession" name="accession" autocomplete="off"></label>
<label>{date} <input id="date" name="date" placeholder="YYYYMMDD"></label>
<label>{modality} <input id="modality" name="modality" size="4"></label>
<button id="search-button" type="submit">{search}</button>
</fieldset>
</form>
<table id="studies"><thead><tr><th>{col_pick}</th><th>{col_patient}</th><th>{col_date}</th>
<th>{col_mod}</th><th>{col_desc}</th><th>{col_images}</th></tr></thead><tbody></tbody></table>
<form id="send">
<fieldset>
<label>{thread} <select id="thread" name="thread"></select></label>
<label>{note} <input id="note" name="note" size="30"></label>
<button id="send-button" type="submit">{send}</button>
</fieldset>
</form>
<div id="message" role="status"></div>
<h2>{jobs}</h2>
<table id="jobs"><thead><tr><th>{col_job}</th><th>{col_thread}</th><th>{col_stage}</th>
<th>{col_progress}</th><th>{col_patient}</th><th>{col_link}</th></tr></thead><tbody></tbody></table>
<script>
"use strict";
const T = {searching: "{searching}", none: "{no_results}", sent: "{sent}", pick: "{pick_first}", code: "{access_code}"};
function cell(row, text) { const td = document.createElement("td"); td.textContent = text; row.appendChild(td); return td; }
function say(text) { document.getElementById("message").textContent = text; }
async function loadThreads() {
  const r = await fetch("api/threads");
  const sel = document.getElementById("thread");
  for (const t of await r.json()) { const o = document.createElement("option"); o.value = t; o.textContent = t; sel.appendChild(o); }
}
document.getElementById("search").addEventListener("submit", async (e) => {
  e.preventDefault();
  say(T.searching);
  const p = new URLSearchParams();
  for (const k of ["patient_id", "accession", "date", "modality"]) {
    const v = document.getElementById(k).value.trim(); if (v) p.set(k, v);
  }
  const r = await fetch("api/studies?" + p.toString());
  const body = await r.json();
  const tb = document.querySelector("#studies tbody");
  tb.replaceChildren();
  if (!r.ok) { say(body.error); return; }
  say(body.length ? "" : T.none);
  for (const s of body) {
    const tr = document.createElement("tr");
    const pick = document.createElement("input"); pick.type = "radio"; pick.name = "study"; pick.value = s.study;
    const td = document.createElement("td"); td.appendChild(pick); tr.appendChild(td);
    cell(tr, s.patient_id); cell(tr, s.date + " " + s.time); cell(tr, s.modalities);
    cell(tr, s.description); cell(tr, s.instances >= 0 ? String(s.instances) : "?");
    tb.appendChild(tr);
  }
});
document.getElementById("send").addEventListener("submit", async (e) => {
  e.preventDefault();
  const picked = document.querySelector("input[name=study]:checked");
  if (!picked) { say(T.pick); return; }
  const r = await fetch("api/send", {method: "POST", headers: {"Content-Type": "application/json"},
    body: JSON.stringify({study: picked.value, thread: document.getElementById("thread").value,
                          note: document.getElementById("note").value})});
  const body = await r.json();
  say(r.ok ? T.sent + body.job : body.error);
  refreshJobs();
});
async function refreshJobs() {
  const r = await fetch("api/jobs");
  if (!r.ok) return;
  const tb = document.querySelector("#jobs tbody");
  tb.replaceChildren();
  for (const j of await r.json()) {
    const tr = document.createElement("tr"); tr.dataset.job = j.job;
    cell(tr, String(j.job)); cell(tr, j.thread);
    cell(tr, j.stage + (j.error ? " (" + j.error + ")" : ""));
    const td = document.createElement("td");
    const bar = document.createElement("progress"); bar.max = Math.max(j.listed, 1); bar.value = j.uploaded;
    td.appendChild(bar);
    td.appendChild(document.createTextNode(" " + j.received + "/" + Math.max(j.listed, 0) + " · " + j.deidentified + " · " + j.uploaded));
    tr.appendChild(td);
    cell(tr, j.patient_id_last4 || "-");
    const lt = document.createElement("td");
    if (j.link) { const a = document.createElement("a"); a.href = j.link; a.textContent = j.link; a.rel = "noreferrer"; lt.appendChild(a); }
    if (j.link && j.access_code) { const c = document.createElement("div"); c.className = "code"; c.textContent = T.code + j.access_code; lt.appendChild(c); }
    tr.appendChild(lt);
    tb.appendChild(tr);
  }
}
loadThreads(); refreshJobs(); setInterval(refreshJobs, 1000);
</script>
</body>
</html>
)html";

}  // namespace

std::string SendPageHtml(common::Language language) {
  const Texts& t = language == common::Language::kJapanese ? kJa : kEn;
  std::string s = kTemplate;
  const std::pair<const char*, const char*> fields[] = {{"{lang}", t.lang},
                                                        {"{title}", t.title},
                                                        {"{patient_id}", t.patient_id},
                                                        {"{accession}", t.accession},
                                                        {"{date}", t.date},
                                                        {"{modality}", t.modality},
                                                        {"{search}", t.search},
                                                        {"{searching}", t.searching},
                                                        {"{no_results}", t.no_results},
                                                        {"{col_pick}", t.col_pick},
                                                        {"{col_patient}", t.col_patient},
                                                        {"{col_date}", t.col_date},
                                                        {"{col_mod}", t.col_mod},
                                                        {"{col_desc}", t.col_desc},
                                                        {"{col_images}", t.col_images},
                                                        {"{col_thread}", t.thread},
                                                        {"{thread}", t.thread},
                                                        {"{note}", t.note},
                                                        {"{send}", t.send},
                                                        {"{sent}", t.sent},
                                                        {"{pick_first}", t.pick_first},
                                                        {"{jobs}", t.jobs},
                                                        {"{col_job}", t.col_job},
                                                        {"{col_stage}", t.col_stage},
                                                        {"{col_progress}", t.col_progress},
                                                        {"{access_code}", t.access_code},
                                                        {"{col_link}", t.col_link},
                                                        {"{privacy}", t.privacy}};
  for (const auto& [from, to] : fields) s = Replace(s, from, to);
  return s;
}

}  // namespace tsunagu::gateway
