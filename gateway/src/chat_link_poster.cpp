// LinkPoster over the chat connectors (issue 9): turns the pipeline's LinkPost into a card and
// posts it through ChatService, with the job id as the idempotency key.
#include <ctime>

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
  explicit ChatLinkPoster(std::shared_ptr<chat::ChatService> chat) : chat_(std::move(chat)) {}

  common::Status Post(const LinkPost& post) override {
    chat::Card card;
    card.job_id = post.job.value();
    card.modality = post.modality;
    card.patient_id_suffix = post.patient_id_suffix;
    card.sender_note = post.note;
    card.image_count = post.instances;
    card.viewer_url = post.viewer_url;
    card.expires_at = ParseIso8601(post.expires_at);
    auto result = chat_->Post(post.thread, card, std::nullopt,
                              "tsunagu-job-" + std::to_string(post.job.value()));
    return result.status();
  }

 private:
  std::shared_ptr<chat::ChatService> chat_;
};

}  // namespace

std::unique_ptr<LinkPoster> MakeChatLinkPoster(std::shared_ptr<chat::ChatService> chat) {
  return std::make_unique<ChatLinkPoster>(std::move(chat));
}

}  // namespace tsunagu::gateway
