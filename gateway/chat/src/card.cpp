#include "tsunagu/chat/card.h"

#include <cstdio>

namespace tsunagu::chat {
namespace {

using common::Language;
using common::Pick;

// Number of UTF-8 code points (continuation bytes not counted).
std::size_t CodePoints(std::string_view s) {
  std::size_t n = 0;
  for (unsigned char c : s) {
    if ((c & 0xC0) != 0x80) ++n;
  }
  return n;
}

bool SafeUrl(std::string_view url) {
  if (url.rfind("https://", 0) != 0 || url.size() <= 8) return false;
  for (unsigned char c : url) {
    if (c <= 0x20 || c >= 0x7f || c == '"' || c == '\'' || c == '<' || c == '>' || c == '\\' ||
        c == '`' || c == '|' || c == '[' || c == ']' || c == '{' || c == '}') {
      return false;
    }
  }
  return true;
}

bool AllDigits(std::string_view s) {
  for (char c : s) {
    if (c < '0' || c > '9') return false;
  }
  return !s.empty();
}

std::string FormatStudyDateTime(const Card& card) {
  std::string out;
  const std::string date = StripControl(card.study_date);
  if (date.size() == 8 && AllDigits(date)) {
    out = date.substr(0, 4) + "-" + date.substr(4, 2) + "-" + date.substr(6, 2);
  } else {
    out = date;
  }
  const std::string time = StripControl(card.study_time);
  if (time.size() >= 4 && AllDigits(time.substr(0, 4))) {
    if (!out.empty()) out += " ";
    out += time.substr(0, 2) + ":" + time.substr(2, 2);
  } else if (!time.empty()) {
    if (!out.empty()) out += " ";
    out += time;
  }
  return out;
}

std::string FormatClock(std::chrono::system_clock::time_point t, std::chrono::minutes offset) {
  const std::string full = FormatTime(t, offset);
  // "YYYY-MM-DD HH:MM (+hh:mm)" -> "HH:MM"
  return full.substr(11, 5);
}

}  // namespace

std::string StripControl(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  std::size_t i = 0;
  while (i < text.size()) {
    const auto c = static_cast<unsigned char>(text[i]);
    std::size_t len = 0;
    if (c < 0x80) {
      len = 1;
    } else if ((c & 0xE0) == 0xC0 && c >= 0xC2) {
      len = 2;
    } else if ((c & 0xF0) == 0xE0) {
      len = 3;
    } else if ((c & 0xF8) == 0xF0 && c <= 0xF4) {
      len = 4;
    } else {
      ++i;  // invalid lead byte: dropped
      continue;
    }
    if (i + len > text.size()) break;
    bool valid = true;
    for (std::size_t k = 1; k < len; ++k) {
      if ((static_cast<unsigned char>(text[i + k]) & 0xC0) != 0x80) valid = false;
    }
    if (!valid) {
      ++i;
      continue;
    }
    const std::string_view cp = text.substr(i, len);
    const bool c0 = len == 1 && (c < 0x20 || c == 0x7f);
    const bool c1 = len == 2 && c == 0xC2 && static_cast<unsigned char>(cp[1]) < 0xA0;
    // Bidirectional overrides and isolates (U+202A..U+202E, U+2066..U+2069) can make a link or a
    // number read differently from what it is.
    const bool bidi =
        len == 3 && c == 0xE2 &&
        ((static_cast<unsigned char>(cp[1]) == 0x80 && static_cast<unsigned char>(cp[2]) >= 0xAA &&
          static_cast<unsigned char>(cp[2]) <= 0xAE) ||
         (static_cast<unsigned char>(cp[1]) == 0x81 && static_cast<unsigned char>(cp[2]) >= 0xA6 &&
          static_cast<unsigned char>(cp[2]) <= 0xA9));
    if (c0 || c1 || bidi) {
      if (c == '\n' || c == '\t' || c == '\r') out += ' ';
    } else {
      out.append(cp);
    }
    i += len;
  }
  return out;
}

std::string EscapeHtml(std::string_view text) {
  std::string out;
  for (char c : text) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&#39;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

std::string EscapeSlack(std::string_view text) {
  // Slack's documented escapes: only &, < and > are control characters in mrkdwn; escaping them
  // makes <url|label> links and <!channel> mentions impossible to forge.
  std::string out;
  for (char c : text) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

std::string EscapeMarkdown(std::string_view text) {
  std::string out;
  for (char c : text) {
    switch (c) {
      case '\\':
      case '`':
      case '*':
      case '_':
      case '{':
      case '}':
      case '[':
      case ']':
      case '(':
      case ')':
      case '#':
      case '+':
      case '-':
      case '.':
      case '!':
      case '|':
      case '<':
      case '>':
      case '~':
      case '@':
      case ':':
        out += '\\';
        out += c;
        break;
      default:
        out += c;
    }
  }
  return out;
}

std::string EscapeChatwork(std::string_view text) {
  std::string out;
  for (char c : text) {
    if (c == '[') {
      out += "\xEF\xBC\xBB";  // U+FF3B FULLWIDTH LEFT SQUARE BRACKET
    } else if (c == ']') {
      out += "\xEF\xBC\xBD";  // U+FF3D
    } else {
      out += c;
    }
  }
  return out;
}

std::string TruncateUtf8(std::string_view text, std::size_t max_code_points) {
  std::size_t count = 0;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if ((static_cast<unsigned char>(text[i]) & 0xC0) != 0x80) {
      if (count == max_code_points) return std::string(text.substr(0, i)) + "\xE2\x80\xA6";
      ++count;
    }
  }
  return std::string(text);
}

std::string FormatTime(std::chrono::system_clock::time_point t, std::chrono::minutes utc_offset) {
  using namespace std::chrono;
  const auto local = floor<minutes>(t) + utc_offset;
  const auto day = floor<days>(local);
  const year_month_day ymd(day);
  const hh_mm_ss hms(local - day);
  const long off = utc_offset.count();
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04d-%02u-%02u %02ld:%02ld (%c%02ld:%02ld)",
                static_cast<int>(ymd.year()), static_cast<unsigned>(ymd.month()),
                static_cast<unsigned>(ymd.day()), static_cast<long>(hms.hours().count()),
                static_cast<long>(hms.minutes().count()), off < 0 ? '-' : '+',
                (off < 0 ? -off : off) / 60, (off < 0 ? -off : off) % 60);
  return buf;
}

common::Status ValidateCard(const Card& card) {
  if (card.job_id <= 0) return common::InvalidArgumentError("card: job_id must be positive");
  if (CodePoints(card.patient_id_suffix) > 4) {
    return common::InvalidArgumentError(
        "card: patient_id_suffix must hold at most the last 4 characters of the patient ID");
  }
  if (!SafeUrl(card.viewer_url)) {
    return common::InvalidArgumentError(
        "card: viewer_url must be an https:// URL without spaces, quotes or brackets");
  }
  if (card.thumbnail_url && !SafeUrl(*card.thumbnail_url)) {
    return common::InvalidArgumentError(
        "card: thumbnail_url must be an https:// URL without spaces, quotes or brackets");
  }
  if (card.series_count < 0 || card.image_count < 0) {
    return common::InvalidArgumentError("card: series_count and image_count must not be negative");
  }
  return common::Status::Ok();
}

CardText MakeCardText(const Card& card, const RenderOptions& o) {
  const Language l = o.language;
  CardText t;
  std::string what = StripControl(card.modality);
  const std::string part = StripControl(card.body_part);
  if (!part.empty()) what += (what.empty() ? "" : " ") + part;
  t.title = std::string(Pick(l, "画像共有", "Images shared")) + (what.empty() ? "" : ": " + what);
  auto add = [&](std::string_view ja, std::string_view en, std::string value) {
    if (!value.empty()) t.fields.emplace_back(std::string(Pick(l, ja, en)), std::move(value));
  };
  add("モダリティ", "Modality", StripControl(card.modality));
  add("部位", "Body part", part);
  add("検査", "Study", StripControl(card.study_description));
  add("検査日時", "Study date", FormatStudyDateTime(card));
  add("シリーズ / 画像", "Series / images",
      std::to_string(card.series_count) + " / " + std::to_string(card.image_count));
  const std::string suffix = StripControl(card.patient_id_suffix);
  if (!suffix.empty() && CodePoints(suffix) <= 4) {
    add("患者ID (末尾)", "Patient ID (last 4)", "\xE2\x80\xA6" + suffix);  // "…1234"
  }
  add("送信者メモ", "Note", TruncateUtf8(StripControl(card.sender_note), kMaxSenderNote));
  add("有効期限", "Expires", FormatTime(card.expires_at, o.utc_offset));
  add("アクセスコード", "Access code",
      std::string(card.access_code_required
                      ? Pick(l, "必要 (別途お伝えします)", "required (given separately)")
                      : Pick(l, "不要", "not required")));
  t.link_label = std::string(Pick(l, "画像を開く", "Open images"));
  switch (card.state) {
    case CardState::kExpired:
      t.status_line = std::string(Pick(l, "このリンクは期限切れです", "This link has expired"));
      break;
    case CardState::kRevoked:
      t.status_line = std::string(Pick(l, "このリンクは取り消されました", "This link was revoked"));
      break;
    case CardState::kActive:
      if (card.opened_at) {
        t.status_line =
            std::string(Pick(l, "既読 ", "Opened ")) + FormatClock(*card.opened_at, o.utc_offset);
      }
      break;
  }
  return t;
}

namespace {
bool ShowLink(const Card& card) { return card.state == CardState::kActive; }
}  // namespace

std::string RenderPlainText(const Card& card, const RenderOptions& o) {
  const CardText t = MakeCardText(card, o);
  std::string out = t.title + "\n";
  if (!t.status_line.empty()) out += t.status_line + "\n";
  for (const auto& [label, value] : t.fields) out += label + ": " + value + "\n";
  if (ShowLink(card)) out += t.link_label + ": " + card.viewer_url + "\n";
  return out;
}

std::string RenderHtml(const Card& card, const RenderOptions& o) {
  const CardText t = MakeCardText(card, o);
  std::string out = "<p><strong>" + EscapeHtml(t.title) + "</strong></p>";
  if (!t.status_line.empty()) out += "<p><em>" + EscapeHtml(t.status_line) + "</em></p>";
  out += "<ul>";
  for (const auto& [label, value] : t.fields) {
    out += "<li><strong>" + EscapeHtml(label) + "</strong>: " + EscapeHtml(value) + "</li>";
  }
  out += "</ul>";
  if (ShowLink(card)) {
    out += "<p><a href=\"" + EscapeHtml(card.viewer_url) + "\">" + EscapeHtml(t.link_label) +
           "</a></p>";
  }
  return out;
}

std::string RenderMarkdown(const Card& card, const RenderOptions& o, MarkdownDialect dialect) {
  const CardText t = MakeCardText(card, o);
  const bool slack = dialect == MarkdownDialect::kSlack;
  auto esc = [&](std::string_view s) { return slack ? EscapeSlack(s) : EscapeMarkdown(s); };
  std::string out = (slack ? "*" : "**") + esc(t.title) + (slack ? "*" : "**") + "\n";
  if (!t.status_line.empty()) out += "_" + esc(t.status_line) + "_\n";
  for (const auto& [label, value] : t.fields) {
    out += "\xE2\x80\xA2 " + esc(label) + ": " + esc(value) + "\n";  // "• "
  }
  if (ShowLink(card)) {
    out += slack ? "<" + card.viewer_url + "|" + esc(t.link_label) + ">\n"
                 : "[" + esc(t.link_label) + "](" + card.viewer_url + ")\n";
  }
  return out;
}

std::string RenderChatwork(const Card& card, const RenderOptions& o) {
  const CardText t = MakeCardText(card, o);
  std::string out = "[info][title]" + EscapeChatwork(t.title) + "[/title]";
  if (!t.status_line.empty()) out += EscapeChatwork(t.status_line) + "\n";
  for (const auto& [label, value] : t.fields) {
    out += EscapeChatwork(label) + ": " + EscapeChatwork(value) + "\n";
  }
  if (ShowLink(card)) out += EscapeChatwork(t.link_label) + ": " + card.viewer_url + "\n";
  out += "[/info]";
  return out;
}

}  // namespace tsunagu::chat
