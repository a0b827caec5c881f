// ChatService: the configured threads and connectors behind one object, for the gateway's
// link-posted stage, the send page (thread list) and `tsunagu-gateway chat test THREAD`.
//
// The gateway's pipeline calls, per job:
//   auto r = chat->Post(job.thread, card, route, "tsunagu-job-" + id);
//   r.ok()                      -> store r->destination and r->message_id with the job; Done
//   r.status().retryable()      -> Retry(after = r.retry_after() or the engine's backoff)
//   otherwise                   -> Failed(r.status()); its message is the job's `status`
// and later, when the relay reports the link expired, revoked or opened:
//   chat->Update(job.thread, card_with_new_state, stored_post, key + "-expired")
// and when the relay reports the first opening of the link (seen_receipts threads):
//   chat->NotifyOpened(job.thread, card, opened_at, stored_post, key + "-opened")
#ifndef TSUNAGU_CHAT_CHAT_SERVICE_H_
#define TSUNAGU_CHAT_CHAT_SERVICE_H_

#include <spdlog/logger.h>

#include <map>
#include <memory>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "tsunagu/chat/chat_metrics.h"
#include "tsunagu/chat/connector.h"
#include "tsunagu/chat/connectors.h"
#include "tsunagu/chat/patient_threads.h"
#include "tsunagu/config/gateway_options.h"

namespace tsunagu::chat {

// A thread as the send page and `send --thread` list it.
struct ThreadInfo {
  std::string name;
  std::string connector;
  config::ChatConnectorType type = config::ChatConnectorType::kWebhook;
  ConnectorCapabilities capabilities;
  common::Language language = common::Language::kJapanese;
  bool access_code_required = false;
  config::ChatThreadPolicy policy;
};

struct ChatServiceDeps {
  const common::Clock* clock = nullptr;  // required
  // Required when a thread has per_patient = true; outlives the service.
  PatientThreadStore* patient_rooms = nullptr;
  // Replaces the HTTP transport of every connector (tests); null: cpprestsdk per connector.
  std::shared_ptr<HttpTransport> transport;
  // The "chat" component's logger; null: nothing is logged. Events: chat.posted,
  // chat.updated (info), chat.room_created (info), chat.refused (warn; debug when retryable).
  // Fields are the thread, connector, job id, error code, retry delay and the error's message
  // (which holds at most a platform's short error text): never tokens, patient keys or the
  // card's text.
  std::shared_ptr<spdlog::logger> log;
  // Counts every platform request by connector, operation and result; null: not counted.
  // Outlives the service.
  ChatMetrics* metrics = nullptr;
};

// Thread-safe once created.
class ChatService {
 public:
  // Builds every connector of options.chat (reading their secret files). Errors: those of
  // MakeConnector, and kInvalidArgument for a thread naming no configured connector.
  static common::Result<std::unique_ptr<ChatService>> Create(const config::GatewayOptions& options,
                                                             ChatServiceDeps deps);

  const std::vector<ThreadInfo>& threads() const { return threads_; }

  // Posts `card` to `thread`. The thread's policy applies: its language, no thumbnail unless
  // thumbnails = true, access_code_required from the thread. `patient` routes a per-patient
  // thread (ignored otherwise); without it (a study without Patient ID) the card goes to the
  // thread's destination, kInvalidArgument when it has none. kNotFound for an unknown thread.
  ChatResult<PostResult> Post(const std::string& thread, Card card,
                              const std::optional<PatientRoute>& patient,
                              const std::string& idempotency_key);

  // Edits the card posted as `posted` (destination + message_id from Post). kFailedPrecondition
  // where the thread's platform cannot edit.
  ChatResult<PostResult> Update(const std::string& thread, Card card, const PostResult& posted,
                                const std::string& idempotency_key);

  // Seen receipt: the relay reported the link first opened at `opened_at`. Where the platform
  // can edit, the card becomes "Opened 03:14"; elsewhere a short notice is posted to the same
  // destination. Time only, never who or from where. kFailedPrecondition (nothing posted) when
  // the thread has seen_receipts = false.
  ChatResult<PostResult> NotifyOpened(const std::string& thread, Card card,
                                      std::chrono::system_clock::time_point opened_at,
                                      const PostResult& posted, const std::string& idempotency_key);

  // Posts a harmless test card to the thread's destination.
  common::Status Test(const std::string& thread);

 private:
  struct Thread {
    ThreadInfo info;
    std::string destination;
    ChatConnector* connector = nullptr;
  };
  ChatService() = default;
  common::Result<const Thread*> Find(const std::string& name) const;
  ThreadTarget TargetFor(const Thread& t, std::string destination) const;
  Card ApplyPolicy(const Thread& t, Card card) const;

  std::map<std::string, std::unique_ptr<ChatConnector>> connectors_;
  std::vector<Thread> by_index_;
  std::vector<ThreadInfo> threads_;
  std::chrono::minutes utc_offset_{0};
  PatientThreadStore* patient_rooms_ = nullptr;
  std::shared_ptr<spdlog::logger> log_;
  ChatMetrics* metrics_ = nullptr;
};

// `tsunagu-gateway chat ...` (args are the words after "chat"):
//   list                      the configured threads
//   test THREAD               posts a harmless test card
//   preview FORMAT [ja|en] [opened|expired]
//                             prints a card with synthetic values as a platform receives it
//                             (text, html, slack, mattermost, chatwork), for docs and checks
//   rooms                     the per-patient room mapping (HMAC key prefix, thread, room)
//   rooms forget THREAD KEY_PREFIX
//                             removes one mapping; the patient's next study creates a new room
// Returns the exit status: 0 done, 1 refused (the platform, or no such mapping; the reason is
// printed), 2 usage error or unknown thread. Output in options.language.
int RunChatCommand(const std::vector<std::string>& args, const config::GatewayOptions& options,
                   ChatServiceDeps deps, std::ostream& out, std::ostream& err);

// The card `chat preview` shows: synthetic values only (CT CHEST, …1234).
Card MakePreviewCard(std::chrono::system_clock::time_point now, common::Language language);

}  // namespace tsunagu::chat

#endif  // TSUNAGU_CHAT_CHAT_SERVICE_H_
