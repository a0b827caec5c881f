// The real implementations of the pipeline's stage interfaces: the anonymizer's Deidentifier and
// the relay's RelayClient behind InstanceDeidentifier and StudyUploader. Created only in main.
#ifndef TSUNAGU_GATEWAY_STAGE_ADAPTERS_H_
#define TSUNAGU_GATEWAY_STAGE_ADAPTERS_H_

#include <spdlog/logger.h>

#include <memory>
#include <string>
#include <vector>

#include "tsunagu/common/clock.h"
#include "tsunagu/common/reloadable_certificate.h"
#include "tsunagu/config/gateway_options.h"
#include "tsunagu/gateway/pipeline.h"

namespace tsunagu::chat {
class ChatService;
class LinkEventSource;
class PostedCardStore;
class ThumbnailLinks;
}  // namespace tsunagu::chat
namespace tsunagu::ipsec {
class TunnelMonitor;
}

namespace tsunagu::gateway {

// `site_secret` is the content of anonymizer.secret_file, or of a retired secret for the
// de-identifier of studies first sent under it. `patient_key_secrets` (site-secret rotation): the
// current secret then the retired ones, for DeidentifiedInstance::patient_key (JoinPatientKeys);
// empty: the patient key is under `site_secret` alone.
common::Result<std::unique_ptr<InstanceDeidentifier>> MakeAnonymizerDeidentifier(
    const config::AnonymizerOptions& options, const std::string& site_secret,
    std::vector<std::string> patient_key_secrets = {});

// `certificate`, when set, is the client certificate presented (reloadable on SIGHUP) instead of
// reading options' files at each connection.
common::Result<std::unique_ptr<StudyUploader>> MakeRelayUploader(
    const config::RelayEndpointOptions& options, std::shared_ptr<common::Clock> clock,
    std::shared_ptr<spdlog::logger> log,
    std::shared_ptr<common::ReloadableCertificate> certificate = nullptr);

// Stand-ins used when the real stage cannot be set up (bad certificate, missing secret): every
// call answers `why` (made retryable), so the service still receives studies and the jobs wait in
// their stage with the reason visible in `status` until the configuration is fixed and the
// service restarted.
std::unique_ptr<InstanceDeidentifier> MakeUnavailableDeidentifier(common::Status why);
std::unique_ptr<StudyUploader> MakeUnavailableUploader(common::Status why);

// Fail closed on IPsec ([transport] require_ipsec): before every upload and commit, asks
// `monitor` (at most once per `recheck`) whether the child SA to the relay is installed. While it
// is not, returns the retryable "IPsec tunnel to relay is down (...)" and sends nothing, so the
// engine retries with backoff and the job resumes when the tunnel is back. The state is published
// in metrics->ipsec_tunnel_up (1 up, 0 down) and logged when it changes.
std::unique_ptr<StudyUploader> MakeTunnelGuardedUploader(
    std::unique_ptr<StudyUploader> inner, std::unique_ptr<ipsec::TunnelMonitor> monitor,
    std::shared_ptr<common::Clock> clock, std::chrono::milliseconds recheck,
    PipelineMetrics* metrics, std::shared_ptr<spdlog::logger> log);

// The link-posted stage over the chat connectors (issue 9): the card is built from the LinkPost
// and posted with "tsunagu-job-<id>" as the idempotency key, to the patient's own room on
// per-patient threads (LinkPost::patient_key). Each posted card is recorded in `posts` (may be
// null; outlives the poster) for seen receipts and the expired notice.
// On threads with thumbnails = true the card gets a thumbnail link from `thumbnails` (may be
// null: no thumbnails; a failure posts the card without one).
std::unique_ptr<LinkPoster> MakeChatLinkPoster(std::shared_ptr<chat::ChatService> chat,
                                               chat::PostedCardStore* posts,
                                               chat::ThumbnailLinks* thumbnails,
                                               std::shared_ptr<spdlog::logger> log);

// The relay's side of chat cards, over the same mutual-TLS channel as the uploads (options of
// [relay]): seen receipts (GET /v1/studies/{uid}/events) and thumbnail links (POST
// /v1/studies/{uid}/thumbnail-link). Both members share one client.
struct RelayChatLinks {
  std::shared_ptr<chat::LinkEventSource> events;
  std::shared_ptr<chat::ThumbnailLinks> thumbnails;
};
// Revokes every link of the de-identified study `study_uid` at the relay (POST
// /v1/studies/{uid}/revoke); the relay's errors.
common::Status RevokeRelayLinks(const config::RelayEndpointOptions& options,
                                std::shared_ptr<common::Clock> clock,
                                std::shared_ptr<spdlog::logger> log, const std::string& study_uid);

common::Result<RelayChatLinks> MakeRelayChatLinks(const config::RelayEndpointOptions& options,
                                                  std::shared_ptr<common::Clock> clock,
                                                  std::shared_ptr<spdlog::logger> log);

}  // namespace tsunagu::gateway

#endif  // TSUNAGU_GATEWAY_STAGE_ADAPTERS_H_
