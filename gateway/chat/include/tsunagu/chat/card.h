// The card posted into a chat thread when a study reaches the relay, and its rendering.
//
// A Card holds only what may appear in a chat: there is deliberately no field for a patient
// name, a full patient ID, a birth date, an accession number or an access code, so no connector
// can leak them by mistake. Free text (study description, sender note) is escaped for the target
// format by the renderers below, so a study description cannot inject markup or links.
#ifndef TSUNAGU_CHAT_CARD_H_
#define TSUNAGU_CHAT_CARD_H_

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "tsunagu/common/language.h"
#include "tsunagu/common/status.h"

namespace tsunagu::chat {

// What the card says about the link. Connectors that can edit (Matrix, XMPP) update the card
// when this changes; the others post nothing (see docs/chat.md).
enum class CardState { kActive, kExpired, kRevoked };

struct Card {
  std::int64_t job_id = 0;        // the gateway job; also the default idempotency key
  std::string modality;           // e.g. "CT"
  std::string body_part;          // e.g. "CHEST"
  std::string study_description;  // as cleaned by the anonymizer
  std::string study_date;         // DICOM DA "YYYYMMDD" (may be empty)
  std::string study_time;         // DICOM TM "HHMMSS[.ffffff]" (may be empty)
  int series_count = 0;
  int image_count = 0;
  std::string patient_id_suffix;  // the retained last characters; at most 4
  std::string sender_note;        // typed by the sender on the send page
  std::chrono::system_clock::time_point expires_at;
  bool access_code_required = false;         // whether; never the code itself
  std::string viewer_url;                    // https:// link to the relay's viewer
  std::optional<std::string> thumbnail_url;  // https://, its own token; only where enabled
  CardState state = CardState::kActive;
  // First time the link was opened (seen receipt); time only, never who or from where.
  std::optional<std::chrono::system_clock::time_point> opened_at;
};

// Checks that a card can be posted: patient_id_suffix has at most 4 characters, viewer_url and
// thumbnail_url are https:// URLs without spaces or quotes, counts are not negative, job_id is
// positive. kInvalidArgument naming the field otherwise (never echoing its value).
common::Status ValidateCard(const Card& card);

// How times are shown: the offset from UTC of the thread's readers (hospitals in Japan: +09:00).
struct RenderOptions {
  common::Language language = common::Language::kJapanese;
  std::chrono::minutes utc_offset = std::chrono::hours(9);
};

// The card as labelled lines, before any markup. Every value has been stripped of control
// characters (newlines in a study description cannot forge extra lines).
struct CardText {
  std::string title;  // "CT CHEST" style heading with the state
  std::vector<std::pair<std::string, std::string>> fields;  // label, value
  std::string link_label;                                   // "画像を開く" / "Open images"
  std::string status_line;  // expired / revoked / opened notice; empty when none
};
CardText MakeCardText(const Card& card, const RenderOptions& options);

// Renderings. Each escapes free text for its format.
std::string RenderPlainText(const Card& card, const RenderOptions& options);
// HTML for Matrix' formatted_body (org.matrix.custom.html): & < > " ' escaped.
std::string RenderHtml(const Card& card, const RenderOptions& options);
// Slack mrkdwn / Mattermost markdown: & < > escaped as entities, markdown characters
// backslash-escaped, links as <url|label> (Slack) or [label](url) (Mattermost).
enum class MarkdownDialect { kSlack, kMattermost };
std::string RenderMarkdown(const Card& card, const RenderOptions& options, MarkdownDialect dialect);
// Chatwork message notation ([info][title]..[/title]..[/info]). Chatwork has no escape for its
// tags, so '[' and ']' in free text become full-width brackets.
std::string RenderChatwork(const Card& card, const RenderOptions& options);

// Escapers, exposed for tests and for connectors that build their own payloads.
std::string EscapeHtml(std::string_view text);
std::string EscapeSlack(std::string_view text);
std::string EscapeMarkdown(std::string_view text);
std::string EscapeChatwork(std::string_view text);
// Removes C0/C1 control characters (keeps none, not even newline) and invalid UTF-8 bytes.
std::string StripControl(std::string_view text);

// At most `max_code_points` UTF-8 characters of `text` (never cutting one in half), with "…"
// appended when something was cut.
std::string TruncateUtf8(std::string_view text, std::size_t max_code_points);

// Longest sender note shown on a card, in characters.
inline constexpr std::size_t kMaxSenderNote = 500;

// "2026-11-25 03:14 (+09:00)".
std::string FormatTime(std::chrono::system_clock::time_point t, std::chrono::minutes utc_offset);

}  // namespace tsunagu::chat

#endif  // TSUNAGU_CHAT_CARD_H_
