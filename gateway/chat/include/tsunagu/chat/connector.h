// ChatConnector: posts cards into a chat platform. One implementation per platform; the gateway's
// link-posted stage drives it (bounded retries, backoff, Retry-After honoured).
#ifndef TSUNAGU_CHAT_CONNECTOR_H_
#define TSUNAGU_CHAT_CONNECTOR_H_

#include <chrono>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "tsunagu/chat/card.h"
#include "tsunagu/common/result.h"
#include "tsunagu/common/status.h"

namespace tsunagu::chat {

// Where a card goes: the configured thread and its resolved destination (room id, channel id,
// room JID; for webhooks usually empty: the URL is the connector's).
struct ThreadTarget {
  std::string thread_name;
  std::string destination;
  RenderOptions render;
};

// What a successful post returns: the platform's id of the message, when it gives one (needed to
// edit it later), and whether the platform guarantees that a retry with the same idempotency key
// does not post twice.
struct PostResult {
  std::string message_id;
  bool exactly_once = false;
  // Where it was posted (filled in by ChatService; keep it with message_id for Update()).
  std::string destination;
};

// The error of a chat call. `status` is retryable for 429 (kResourceExhausted), 5xx and
// connection failures (kUnavailable) and timeouts (kDeadlineExceeded); not for a bad token
// (kUnauthenticated), refused access (kPermissionDenied) or an unknown room (kNotFound).
// `retry_after` is the platform's requested delay (Retry-After header, Matrix retry_after_ms).
// Messages are for people (the job's `status`) and never contain tokens or card contents.
template <typename T>
class [[nodiscard]] ChatResult {
 public:
  ChatResult(T value) : result_(std::move(value)) {}  // NOLINT(google-explicit-constructor)
  ChatResult(common::Status status,                   // NOLINT(google-explicit-constructor)
             std::optional<std::chrono::milliseconds> retry_after = std::nullopt)
      : result_(std::move(status)), retry_after_(retry_after) {}

  bool ok() const { return result_.ok(); }
  common::Status status() const { return result_.status(); }
  std::optional<std::chrono::milliseconds> retry_after() const { return retry_after_; }
  const T& value() const& { return result_.value(); }
  T& value() & { return result_.value(); }
  const T& operator*() const& { return *result_; }
  const T* operator->() const { return result_.operator->(); }

 private:
  common::Result<T> result_;
  std::optional<std::chrono::milliseconds> retry_after_;
};

// A room to create for one patient (Matrix, XMPP): never a name; see PatientRoomName().
struct RoomRequest {
  std::string name;
  std::vector<std::string> invite;  // platform user ids (@u:hs, user@host)
};

// What a connector can do, for docs, the send page and the pipeline's choice of update path.
struct ConnectorCapabilities {
  bool can_edit = false;          // Update() changes the posted card
  bool can_create_rooms = false;  // CreateRoom() works
  bool exactly_once = false;      // the platform honours the idempotency key
};

// Thread-safety: implementations are safe to call from several threads at once.
class ChatConnector {
 public:
  virtual ~ChatConnector() = default;

  virtual ConnectorCapabilities capabilities() const = 0;

  // Posts `card` to `target`. `idempotency_key` identifies this post across retries and restarts
  // (the job id): platforms with idempotency keys (Matrix txnId, webhook Idempotency-Key) post it
  // once; others may post twice if a retry follows a post whose answer was lost.
  virtual ChatResult<PostResult> Post(const Card& card, const ThreadTarget& target,
                                      const std::string& idempotency_key) = 0;

  // Replaces the card posted as `message_id` with `card` (expired, revoked, opened at ...).
  // kFailedPrecondition (not retryable) where the platform cannot edit; callers check
  // capabilities().can_edit first and may post a follow-up instead.
  virtual ChatResult<PostResult> Update(const Card& card, const ThreadTarget& target,
                                        const std::string& message_id,
                                        const std::string& idempotency_key);

  // Creates a room and invites `request.invite`; returns its destination id.
  // kFailedPrecondition where the platform cannot create rooms.
  virtual ChatResult<std::string> CreateRoom(const RoomRequest& request);

  // Posts a short plain-text notice (a seen receipt where the card cannot be edited) to
  // `target`. `text` is escaped here. kFailedPrecondition where not implemented (the platforms
  // that can edit use Update instead).
  virtual ChatResult<PostResult> PostNotice(const std::string& text, const ThreadTarget& target,
                                            const std::string& idempotency_key);

  // Posts a harmless test card to `target` (tsunagu-gateway chat test THREAD) and returns OK
  // when the platform accepted it.
  virtual common::Status Test(const ThreadTarget& target);
};

// The harmless card posted by Test(): no patient data, a link to `viewer_url`.
// The seen-receipt follow-up for platforms that cannot edit: "既読 03:14: 画像共有: CT HEAD …1234"
// / "Opened 03:14: Images shared: CT HEAD …1234". Time only, never who or from where.
std::string MakeOpenedNotice(const Card& card, const RenderOptions& options);

Card MakeTestCard(std::chrono::system_clock::time_point now, std::string viewer_url);

}  // namespace tsunagu::chat

#endif  // TSUNAGU_CHAT_CONNECTOR_H_
