// StudyUploader over the relay's RelayClient (mutual TLS, resumable, idempotent).
#include <algorithm>
#include <condition_variable>
#include <ctime>
#include <mutex>
#include <vector>

#include "tsunagu/chat/card_follow_up.h"
#include "tsunagu/gateway/stage_adapters.h"
#include "tsunagu/relay/relay_client.h"

namespace tsunagu::gateway {
namespace {

std::string Iso8601(std::chrono::system_clock::time_point t) {
  const std::time_t tt = std::chrono::system_clock::to_time_t(t);
  std::tm tm{};
  gmtime_r(&tt, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

// Holds one RelayClient per upload connection and lends each to one upload at a time, so that
// every concurrent upload has its own keep-alive TLS connection (no hand-over of a connection
// between threads, no request waiting behind another one's round trip). The commit borrows one
// like an upload.
class RelayUploader final : public StudyUploader {
 public:
  explicit RelayUploader(std::vector<std::unique_ptr<relay::RelayClient>> clients)
      : clients_(std::move(clients)) {
    for (auto& c : clients_) free_.push_back(c.get());
  }

  common::Status Upload(const std::string& study_uid, const std::string& sop_uid,
                        const std::filesystem::path& file) override {
    Lent client(*this);
    return client->UploadInstance(study_uid, sop_uid, file);
  }

  common::Status UploadKnown(const std::string& study_uid, const UploadedInstance& known,
                             const std::filesystem::path& file) override {
    if (known.sha256_hex.empty()) return Upload(study_uid, known.sop_uid, file);
    Lent client(*this);
    return client->UploadKnownInstance(
        study_uid,
        relay::InstanceRef{known.sop_uid, known.sha256_hex, static_cast<std::uint64_t>(known.size)},
        file);
  }

  common::Result<CommitOutcome> Commit(const std::string& study_uid,
                                       const std::vector<UploadedInstance>& instances,
                                       const std::string& thread,
                                       std::optional<std::chrono::milliseconds> retention,
                                       const std::string& access_code) override {
    relay::CommitRequest req;
    req.study_uid = study_uid;
    for (const UploadedInstance& u : instances) {
      req.instances.push_back(
          relay::InstanceRef{u.sop_uid, u.sha256_hex, static_cast<std::uint64_t>(u.size)});
    }
    req.thread = thread;
    req.retention = retention;
    if (!access_code.empty()) req.access_code = access_code;
    Lent client(*this);
    TSUNAGU_ASSIGN_OR_RETURN(relay::CommitResult r, client->Commit(req));
    return CommitOutcome{r.viewer_url, Iso8601(r.expires_at), r.already_committed};
  }

 private:
  // A client borrowed for one call. Waits while all are lent: each call that holds one is bounded
  // by the client's timeout and attempt limit.
  class Lent {
   public:
    explicit Lent(RelayUploader& owner) : owner_(owner) {
      std::unique_lock<std::mutex> lock(owner_.mu_);
      owner_.cv_.wait(lock, [this] { return !owner_.free_.empty(); });
      client_ = owner_.free_.back();
      owner_.free_.pop_back();
    }
    ~Lent() {
      {
        std::lock_guard<std::mutex> lock(owner_.mu_);
        owner_.free_.push_back(client_);
      }
      owner_.cv_.notify_one();
    }
    Lent(const Lent&) = delete;
    Lent& operator=(const Lent&) = delete;
    relay::RelayClient* operator->() const { return client_; }

   private:
    RelayUploader& owner_;
    relay::RelayClient* client_ = nullptr;
  };

  const std::vector<std::unique_ptr<relay::RelayClient>> clients_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<relay::RelayClient*> free_;  // GUARDED_BY(mu_)
};

class RelayLinkEvents final : public chat::LinkEventSource, public chat::ThumbnailLinks {
 public:
  explicit RelayLinkEvents(std::unique_ptr<relay::RelayClient> client)
      : client_(std::move(client)) {}
  common::Result<std::optional<std::chrono::system_clock::time_point>> FirstOpened(
      const std::string& study_uid) override {
    return client_->FirstOpened(study_uid);
  }
  common::Result<Events> Get(const std::string& study_uid) override {
    TSUNAGU_ASSIGN_OR_RETURN(relay::RelayClient::LinkEvents e, client_->GetLinkEvents(study_uid));
    return Events{e.first_opened, e.revoked};
  }
  common::Result<std::string> ThumbnailUrl(const std::string& study_uid) override {
    return client_->ThumbnailLink(study_uid);
  }

 private:
  std::unique_ptr<relay::RelayClient> client_;
};

relay::RelayClientOptions ClientOptions(const config::RelayEndpointOptions& options) {
  relay::RelayClientOptions o;
  o.base_url = options.url;
  o.ca_file = options.ca_file;
  o.client_cert_file = options.client_cert_file;
  o.client_key_file = options.client_key_file;
  o.timeout = options.timeout;
  o.chunk_size = options.chunk_size;
  // The job engine retries with its own backoff; the client only rides out short blips.
  o.max_attempts = 3;
  return o;
}

}  // namespace

common::Status RevokeRelayLinks(const config::RelayEndpointOptions& options,
                                std::shared_ptr<common::Clock> clock,
                                std::shared_ptr<spdlog::logger> log, const std::string& study_uid) {
  TSUNAGU_ASSIGN_OR_RETURN(
      std::unique_ptr<relay::RelayClient> client,
      relay::MakeHttpsRelayClient(ClientOptions(options), {std::move(clock), std::move(log), {}}));
  return client->RevokeLinks(study_uid);
}

common::Result<RelayChatLinks> MakeRelayChatLinks(const config::RelayEndpointOptions& options,
                                                  std::shared_ptr<common::Clock> clock,
                                                  std::shared_ptr<spdlog::logger> log) {
  relay::RelayClientOptions o = ClientOptions(options);
  o.max_attempts = 1;  // the follow-up asks again next round; a card goes without a thumbnail
  TSUNAGU_ASSIGN_OR_RETURN(std::unique_ptr<relay::RelayClient> client,
                           relay::MakeHttpsRelayClient(o, {std::move(clock), std::move(log), {}}));
  auto both = std::make_shared<RelayLinkEvents>(std::move(client));
  return RelayChatLinks{both, both};
}

common::Result<std::unique_ptr<StudyUploader>> MakeRelayUploader(
    const config::RelayEndpointOptions& options, std::shared_ptr<common::Clock> clock,
    std::shared_ptr<spdlog::logger> log,
    std::shared_ptr<common::ReloadableCertificate> certificate) {
  relay::RelayClientOptions o = ClientOptions(options);
  o.client_certificate = std::move(certificate);
  std::vector<std::unique_ptr<relay::RelayClient>> clients;
  for (int i = 0; i < std::max(1, options.upload_connections); ++i) {
    TSUNAGU_ASSIGN_OR_RETURN(std::unique_ptr<relay::RelayClient> client,
                             relay::MakeHttpsRelayClient(o, {clock, log, {}}));
    clients.push_back(std::move(client));
  }
  return std::unique_ptr<StudyUploader>(std::make_unique<RelayUploader>(std::move(clients)));
}

}  // namespace tsunagu::gateway
