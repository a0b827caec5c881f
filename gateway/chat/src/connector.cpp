#include "tsunagu/chat/connector.h"

namespace tsunagu::chat {

ChatResult<PostResult> ChatConnector::Update(const Card&, const ThreadTarget&, const std::string&,
                                             const std::string&) {
  return common::Status(common::ErrorCode::kFailedPrecondition,
                        "this chat platform cannot edit a posted card", false);
}

ChatResult<std::string> ChatConnector::CreateRoom(const RoomRequest&) {
  return common::Status(common::ErrorCode::kFailedPrecondition,
                        "this chat platform cannot create rooms; configure a destination", false);
}

ChatResult<PostResult> ChatConnector::PostNotice(const std::string&, const ThreadTarget&,
                                                 const std::string&) {
  return common::Status(common::ErrorCode::kFailedPrecondition,
                        "this connector does not post notices; it edits the card instead", false);
}

std::string MakeOpenedNotice(const Card& card, const RenderOptions& options) {
  Card opened = card;
  if (!opened.opened_at) return "";
  const CardText t = MakeCardText(opened, options);
  std::string out = t.status_line + ": " + t.title;
  const std::string suffix = StripControl(card.patient_id_suffix);
  if (!suffix.empty() && suffix.size() <= 16) out += " \xE2\x80\xA6" + suffix;
  return out;
}

common::Status ChatConnector::Test(const ThreadTarget& target) {
  const auto now = std::chrono::system_clock::now();
  const Card card = MakeTestCard(now, "https://tsunagu.invalid/test");
  const auto key =
      "tsunagu-test-" +
      std::to_string(
          std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count());
  auto r = Post(card, target, key);
  return r.status();
}

Card MakeTestCard(std::chrono::system_clock::time_point now, std::string viewer_url) {
  Card c;
  c.job_id = 1;
  c.modality = "TEST";
  c.study_description = "Tsunagu connection test / 接続テスト";
  c.series_count = 0;
  c.image_count = 0;
  c.expires_at = now + std::chrono::hours(1);
  c.viewer_url = std::move(viewer_url);
  return c;
}

}  // namespace tsunagu::chat
