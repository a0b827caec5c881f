// Until the anonymizer and relay branches are merged, the service refuses to start its pipeline
// with a clear reason instead of pretending to de-identify or upload.
#include "tsunagu/gateway/stage_adapters.h"

namespace tsunagu::gateway {

common::Result<std::unique_ptr<InstanceDeidentifier>> MakeAnonymizerDeidentifier(
    const config::AnonymizerOptions&, const std::string&) {
  return common::FailedPreconditionError("this build has no anonymizer (branch not merged)");
}

common::Result<std::unique_ptr<StudyUploader>> MakeRelayUploader(
    const config::RelayEndpointOptions&, std::shared_ptr<common::Clock>,
    std::shared_ptr<spdlog::logger>) {
  return common::FailedPreconditionError("this build has no relay client (branch not merged)");
}

}  // namespace tsunagu::gateway
