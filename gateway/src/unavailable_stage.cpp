// Stand-ins for stages that cannot be set up: every call answers the reason.
#include "tsunagu/gateway/stage_adapters.h"

namespace tsunagu::gateway {

namespace {

class UnavailableStage final : public InstanceDeidentifier, public StudyUploader {
 public:
  explicit UnavailableStage(common::Status why)
      : why_(common::Status(why.code(), why.message(), true)) {}
  common::Result<DeidentifiedInstance> Deidentify(const std::filesystem::path&,
                                                  const std::filesystem::path&) override {
    return why_;
  }
  common::Status Upload(const std::string&, const std::string&,
                        const std::filesystem::path&) override {
    return why_;
  }
  common::Result<CommitOutcome> Commit(const std::string&, const std::vector<UploadedInstance>&,
                                       const std::string&, std::optional<std::chrono::milliseconds>,
                                       const std::string&) override {
    return why_;
  }

 private:
  common::Status why_;
};

}  // namespace

std::unique_ptr<InstanceDeidentifier> MakeUnavailableDeidentifier(common::Status why) {
  return std::make_unique<UnavailableStage>(std::move(why));
}

std::unique_ptr<StudyUploader> MakeUnavailableUploader(common::Status why) {
  return std::make_unique<UnavailableStage>(std::move(why));
}

}  // namespace tsunagu::gateway
