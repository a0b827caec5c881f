// LinkPoster over the chat connectors (issue 9): turns the pipeline's LinkPost into a card and
// posts it through ChatService, with the job id as the idempotency key, then keeps the posted
// card for seen receipts and the expired notice (CardFollowUp).
#include <ctime>

#include "tsunagu/chat/card_follow_up.h"
#include "tsunagu/chat/chat_service.h"
#include "tsunagu/gateway/stage_adapters.h"

namespace tsunagu::gateway {
namespace {

// The relay's ISO 8601 UTC expiry ("2026-11-25T00:00:00Z").
std::chrono::system_clock::time_point ParseIso8601(const std::string& text) {
  std::tm tm{};
  if (strptime(text.c_str(), "%Y-%m-%dT%H:%M:%SZ", &tm) == nullptr) return {};
  return std::chrono::system_clock::from_time_t(timegm(&tm));
}

class ChatLinkPoster final : public LinkPoster {
 public:
  ChatLinkPoster(std::shared_ptr<chat::ChatService> chat, chat::PostedCardStore* posts,
                 chat::ThumbnailLinks* thumbnails, std::shared_ptr<spdlog::logger> log)
      : chat_(std::move(chat)), posts_(posts), thumbnails_(thumbnails), log_(std::move(log)) {}

  common::Status Post(const LinkPost& post) override { return PostWithRetryAfter(post).status; }

  Outcome PostWithRetryAfter(const LinkPost& post) override {
    chat::Card card = CardOf(post);
    if (thumbnails_ != nullptr && WantsThumbnail(post.thread) && !post.deid_study_uid.empty()) {
      auto url = thumbnails_->ThumbnailUrl(post.deid_study_uid);
      if (url.ok()) {
        card.thumbnail_url = *url;
      } else if (log_) {
        log_->warn("chat.thumbnail_unavailable job={} code={} reason=\"{}\"", post.job.value(),
                   common::ErrorCodeName(url.status().code()), url.status().message());
      }
    }
    std::optional<chat::PatientRoute> route;
    if (!post.patient_key.empty()) {
      std::vector<std::string> keys = SplitPatientKeys(post.patient_key);
      route = chat::PatientRoute{keys.front(), card.patient_id_suffix,
                                 std::vector<std::string>(keys.begin() + 1, keys.end())};
    }
    auto result =
        chat_->Post(post.thread, card, route, "tsunagu-job-" + std::to_string(post.job.value()));
    if (!result.ok()) return {result.status(), result.retry_after()};
    if (posts_ != nullptr) {
      // The card is posted: failing to remember it only costs its seen receipt, so it is not a
      // reason to post again.
      chat::PostedCard posted{post.thread, post.deid_study_uid, *result, card, false};
      const common::Status st = posts_->Record(posted);
      if (!st.ok() && log_) {
        log_->warn("chat.record_failed job={} reason=\"{}\"", post.job.value(), st.message());
      }
    }
    return {common::Status(), std::nullopt};
  }

 private:
  bool WantsThumbnail(const std::string& thread) const {
    for (const auto& t : chat_->threads()) {
      if (t.name == thread) return t.policy.thumbnails;
    }
    return false;
  }

  static chat::Card CardOf(const LinkPost& post) {
    chat::Card card;
    card.job_id = post.job.value();
    card.modality = post.modality;
    card.body_part = post.body_part;
    card.study_description = post.study_description;
    card.study_date = post.study_date;
    card.study_time = post.study_time;
    card.series_count = post.series;
    card.image_count = post.instances;
    card.patient_id_suffix = post.patient_id_suffix;
    card.sender_note = post.note;
    card.viewer_url = post.viewer_url;
    card.expires_at = ParseIso8601(post.expires_at);
    return card;
  }

  std::shared_ptr<chat::ChatService> chat_;
  chat::PostedCardStore* posts_;
  chat::ThumbnailLinks* thumbnails_;
  std::shared_ptr<spdlog::logger> log_;
};

}  // namespace

std::unique_ptr<LinkPoster> MakeChatLinkPoster(std::shared_ptr<chat::ChatService> chat,
                                               chat::PostedCardStore* posts,
                                               chat::ThumbnailLinks* thumbnails,
                                               std::shared_ptr<spdlog::logger> log) {
  return std::make_unique<ChatLinkPoster>(std::move(chat), posts, thumbnails, std::move(log));
}

}  // namespace tsunagu::gateway
