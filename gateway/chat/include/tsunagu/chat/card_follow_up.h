// After a card is posted: seen receipts (既読) and the expired notice.
//
// The gateway keeps every posted card (PostedCardStore: the card's own de-identified fields, the
// destination and the platform's message id) so that later events can change it:
//  - the relay reports the link's first opening (LinkEventSource, over the gateway's mutual-TLS
//    channel to the relay): on threads with seen_receipts = true the card becomes "開封 03:14" /
//    "Opened 03:14" where the platform can edit, else a one-line notice is posted in the same
//    place (ChatService::NotifyOpened). Time only, never who or from where.
//  - the link expires, or is revoked (`tsunagu-gateway revoke JOB` stores state kRevoked with
//    done = false; a revocation at the relay itself comes with the link events): where the
//    platform can edit, the card says so (ChatService::Update);
//    elsewhere nothing is posted (docs/chat.md lists what holds per connector).
#ifndef TSUNAGU_CHAT_CARD_FOLLOW_UP_H_
#define TSUNAGU_CHAT_CARD_FOLLOW_UP_H_

#include <spdlog/logger.h>

#include <chrono>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "tsunagu/chat/card.h"
#include "tsunagu/chat/chat_service.h"
#include "tsunagu/common/clock.h"
#include "tsunagu/common/result.h"
#include "tsunagu/common/sqlite_schema.h"

namespace tsunagu::chat {

// A card as posted. `card` holds only what a card may hold (see card.h).
struct PostedCard {
  std::string thread;
  std::string study_uid;  // de-identified: the relay's name of the study
  PostResult posted;      // destination + message id
  Card card;              // state kActive until expired/revoked; opened_at once seen
  bool done = false;      // nothing more will change it
};

// The post store's versioned schema (for `tsunagu-gateway backup` / `restore`).
const common::Schema& PostedCardStoreSchema();

// The posted cards, in their own SQLite table `chat_posted_cards`. Thread-safe.
class PostedCardStore {
 public:
  // Opens (creating when needed) the database at `path` (":memory:" for tests).
  static common::Result<std::unique_ptr<PostedCardStore>> Open(const std::filesystem::path& path);
  virtual ~PostedCardStore() = default;

  // Records the post of card.job_id. A repeated record (the post stage ran again after a crash)
  // updates the destination and message id and keeps what was learnt since (opened, state).
  virtual common::Status Record(const PostedCard& posted) = 0;
  // Cards not done, oldest first, at most `limit`.
  virtual common::Result<std::vector<PostedCard>> Pending(int limit) = 0;
  // Stores card.state, card.opened_at and `done` of an existing record.
  virtual common::Status Save(const PostedCard& posted) = 0;
  virtual common::Result<std::optional<PostedCard>> Get(std::int64_t job_id) = 0;
};

// Where the gateway learns that a link was opened: the relay (GET /v1/studies/{uid}/events over
// the mutual-TLS upload API). nullopt while nobody has opened the study's link; errors are the
// relay client's (retryable ones are tried again next round).
class LinkEventSource {
 public:
  virtual ~LinkEventSource() = default;
  virtual common::Result<std::optional<std::chrono::system_clock::time_point>> FirstOpened(
      const std::string& study_uid) = 0;

  // The first opening and whether the study's links were revoked at the relay (not through the
  // gateway), in one question. The default asks FirstOpened and reports no revocation.
  struct Events {
    std::optional<std::chrono::system_clock::time_point> first_opened;
    bool revoked = false;
  };
  virtual common::Result<Events> Get(const std::string& study_uid) {
    TSUNAGU_ASSIGN_OR_RETURN(auto first, FirstOpened(study_uid));
    return Events{first, false};
  }
};

// Thumbnail links for cards on threads with thumbnails = true: the relay mints a token that opens
// one thumbnail only (POST /v1/studies/{uid}/thumbnail-link). Errors are the relay client's; the
// card is then posted without a thumbnail.
class ThumbnailLinks {
 public:
  virtual ~ThumbnailLinks() = default;
  virtual common::Result<std::string> ThumbnailUrl(const std::string& study_uid) = 0;
};

struct CardFollowUpDeps {
  ChatService* chat = nullptr;        // required
  PostedCardStore* posts = nullptr;   // required
  LinkEventSource* events = nullptr;  // null: no seen receipts
  const common::Clock* clock = nullptr;
  std::shared_ptr<spdlog::logger> log;  // may be null; events chat.followup_* (job ids only)
  ChatMetrics* metrics = nullptr;       // may be null; CountFollowUp per relay question and change
};

class CardFollowUp {
 public:
  explicit CardFollowUp(CardFollowUpDeps deps) : deps_(std::move(deps)) {}

  // One round over at most `limit` pending cards: marks expired ones (updating the card where the
  // platform can edit), asks the relay about unopened links on seen_receipts threads and posts the
  // receipt. Returns how many cards were changed or notified. Errors of single cards are logged
  // and retried next round; only a failing store is returned.
  //
  // The relay is not asked about every unopened card every round: after each answer "not opened
  // yet" (or a failed question) a card waits kFirstPollInterval, then twice as long each time, up
  // to kMaxPollInterval, measured on the clock's steady time. So 200 unopened cards cost about
  // 200 / 60 s = 3.3 relay requests a second instead of 67 with a 3 s round, and a receipt comes
  // at most kMaxPollInterval after the opening. The waits live in this object (a restart asks
  // about every card once more). Not thread-safe: one thread runs the rounds.
  common::Result<int> RunOnce(int limit = 200);

  static constexpr std::chrono::milliseconds kFirstPollInterval{3000};
  static constexpr std::chrono::milliseconds kMaxPollInterval{60000};

 private:
  struct Poll {
    std::chrono::steady_clock::time_point next;
    std::chrono::milliseconds interval{0};
  };
  // Whether the relay may be asked about `job` now.
  void Count(std::string_view event) {
    if (deps_.metrics != nullptr) deps_.metrics->CountFollowUp(event);
  }
  bool DuePoll(std::int64_t job, std::chrono::steady_clock::time_point now) const;
  // The relay answered "not yet" or failed: wait longer before asking again.
  void BackOff(std::int64_t job, std::chrono::steady_clock::time_point now);

  CardFollowUpDeps deps_;
  std::map<std::int64_t, Poll> polls_;  // unopened cards asked about, by job id
};

}  // namespace tsunagu::chat

#endif  // TSUNAGU_CHAT_CARD_FOLLOW_UP_H_
