// The real implementations of the pipeline's stage interfaces: the anonymizer's Deidentifier and
// the relay's RelayClient behind InstanceDeidentifier and StudyUploader. Created only in main.
#ifndef TSUNAGU_GATEWAY_STAGE_ADAPTERS_H_
#define TSUNAGU_GATEWAY_STAGE_ADAPTERS_H_

#include <spdlog/logger.h>

#include <memory>
#include <string>

#include "tsunagu/common/clock.h"
#include "tsunagu/config/gateway_options.h"
#include "tsunagu/gateway/pipeline.h"

namespace tsunagu::gateway {

// `site_secret` is the content of anonymizer.secret_file.
common::Result<std::unique_ptr<InstanceDeidentifier>> MakeAnonymizerDeidentifier(
    const config::AnonymizerOptions& options, const std::string& site_secret);

common::Result<std::unique_ptr<StudyUploader>> MakeRelayUploader(
    const config::RelayEndpointOptions& options, std::shared_ptr<common::Clock> clock,
    std::shared_ptr<spdlog::logger> log);

// Stand-ins used when the real stage cannot be set up (bad certificate, missing secret): every
// call answers `why` (made retryable), so the service still receives studies and the jobs wait in
// their stage with the reason visible in `status` until the configuration is fixed and the
// service restarted.
std::unique_ptr<InstanceDeidentifier> MakeUnavailableDeidentifier(common::Status why);
std::unique_ptr<StudyUploader> MakeUnavailableUploader(common::Status why);

}  // namespace tsunagu::gateway

#endif  // TSUNAGU_GATEWAY_STAGE_ADAPTERS_H_
