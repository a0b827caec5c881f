// Private: thumbnails for chat cards (issue 9), each under its own token.
//
// Chat platforms fetch a card's image from their own servers, so a thumbnail must be reachable
// without the viewer link and must open nothing else. The gateway asks for one over the
// mutual-TLS upload API:
//   POST /v1/studies/{uid}/thumbnail-link  ->  {"thumbnail_url": "<public_url>/thumb/<token>.jpg"}
// and the viewer listener serves it:
//   GET /thumb/<token>.jpg  ->  image/jpeg, at most 256 pixels on its longest side, rendered from
//                               the de-identified pixels of the middle image of the first series.
// The token (32 random bytes, hex) is stored only as its SHA-256 in chat-thumbnails.sqlite (in the
// data directory, created with the first link); it
// opens that one thumbnail, never the study, and stops working when the study expires (its
// instances are no longer readable). A fetch is not an opening: seen receipts ignore it.
#ifndef TSUNAGU_RELAY_SRC_CHAT_THUMBNAILS_H_
#define TSUNAGU_RELAY_SRC_CHAT_THUMBNAILS_H_

#include <spdlog/logger.h>

#include <filesystem>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "http_server.h"
#include "tsunagu/retention/study_store.h"

struct sqlite3;

namespace tsunagu::relay {

class ChatThumbnails {
 public:
  // Opens (creating) the token table at `db_path`.
  static common::Result<std::unique_ptr<ChatThumbnails>> Open(
      const std::filesystem::path& db_path, std::shared_ptr<retention::StudyStore> store,
      std::string public_url, std::shared_ptr<spdlog::logger> log);
  ~ChatThumbnails();

  // The routes above, or nullopt for any other request (the caller's handler answers it).
  std::optional<HttpResponse> HandleUpload(const HttpRequest& request);
  std::optional<HttpResponse> HandleViewer(const HttpRequest& request);

 private:
  ChatThumbnails() = default;
  HttpResponse Mint(const std::string& study_uid);
  HttpResponse Serve(const std::string& token);
  // Opens (creating) the table on first use.
  common::Status OpenDbLocked();

  std::mutex mu_;
  std::filesystem::path db_path_;
  sqlite3* db_ = nullptr;  // GUARDED_BY(mu_); null until the first thumbnail link
  std::shared_ptr<retention::StudyStore> store_;
  std::string public_url_;
  std::shared_ptr<spdlog::logger> log_;
};

}  // namespace tsunagu::relay

#endif  // TSUNAGU_RELAY_SRC_CHAT_THUMBNAILS_H_
