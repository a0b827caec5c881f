// StudyUploader decorator that refuses to send while the IPsec child SA to the relay is down
// ([transport] require_ipsec): no cleartext path, and nothing is lost, only delayed.
#include <mutex>

#include "tsunagu/gateway/stage_adapters.h"
#include "tsunagu/ipsec/tunnel_monitor.h"

namespace tsunagu::gateway {
namespace {

class TunnelGuardedUploader final : public StudyUploader {
 public:
  TunnelGuardedUploader(std::unique_ptr<StudyUploader> inner,
                        std::unique_ptr<ipsec::TunnelMonitor> monitor,
                        std::shared_ptr<common::Clock> clock, std::chrono::milliseconds recheck,
                        PipelineMetrics* metrics, std::shared_ptr<spdlog::logger> log)
      : inner_(std::move(inner)),
        monitor_(std::move(monitor)),
        clock_(std::move(clock)),
        recheck_(recheck),
        metrics_(metrics),
        log_(std::move(log)) {}

  common::Status Upload(const std::string& study_uid, const std::string& sop_uid,
                        const std::filesystem::path& file) override {
    TSUNAGU_RETURN_IF_ERROR(CheckTunnel());
    return inner_->Upload(study_uid, sop_uid, file);
  }

  common::Status UploadKnown(const std::string& study_uid, const UploadedInstance& known,
                             const std::filesystem::path& file) override {
    TSUNAGU_RETURN_IF_ERROR(CheckTunnel());
    return inner_->UploadKnown(study_uid, known, file);
  }

  common::Result<CommitOutcome> Commit(const std::string& study_uid,
                                       const std::vector<UploadedInstance>& instances,
                                       const std::string& thread,
                                       std::optional<std::chrono::milliseconds> retention,
                                       const std::string& access_code) override {
    TSUNAGU_RETURN_IF_ERROR(CheckTunnel());
    return inner_->Commit(study_uid, instances, thread, retention, access_code);
  }

 private:
  // The cached answer when it is younger than recheck_, else a fresh one from strongSwan.
  common::Status CheckTunnel() {
    std::lock_guard lock(mu_);
    const auto now = clock_->SteadyNow();
    if (!checked_ || now - checked_at_ >= recheck_) {
      auto state = monitor_->Check();
      const bool up = state.ok() && state->up;
      const std::string detail = state.ok() ? state->detail : state.status().message();
      if (!checked_ || up != up_) {
        if (up) {
          log_->info("ipsec.tunnel_up detail=\"{}\"", detail);
        } else {
          log_->warn("ipsec.tunnel_down detail=\"{}\" effect=\"uploads wait\"", detail);
        }
      }
      checked_ = true;
      checked_at_ = now;
      up_ = up;
      detail_ = detail;
      if (metrics_ != nullptr) metrics_->ipsec_tunnel_up = up ? 1 : 0;
    }
    return up_ ? common::Status::Ok() : ipsec::TunnelDownError(detail_);
  }

  const std::unique_ptr<StudyUploader> inner_;
  const std::unique_ptr<ipsec::TunnelMonitor> monitor_;
  const std::shared_ptr<common::Clock> clock_;
  const std::chrono::milliseconds recheck_;
  PipelineMetrics* const metrics_;
  const std::shared_ptr<spdlog::logger> log_;
  std::mutex mu_;
  bool checked_ = false;                              // GUARDED_BY(mu_)
  std::chrono::steady_clock::time_point checked_at_;  // GUARDED_BY(mu_)
  bool up_ = false;                                   // GUARDED_BY(mu_)
  std::string detail_;                                // GUARDED_BY(mu_)
};

}  // namespace

std::unique_ptr<StudyUploader> MakeTunnelGuardedUploader(
    std::unique_ptr<StudyUploader> inner, std::unique_ptr<ipsec::TunnelMonitor> monitor,
    std::shared_ptr<common::Clock> clock, std::chrono::milliseconds recheck,
    PipelineMetrics* metrics, std::shared_ptr<spdlog::logger> log) {
  return std::make_unique<TunnelGuardedUploader>(
      std::move(inner), std::move(monitor), std::move(clock), recheck, metrics, std::move(log));
}

}  // namespace tsunagu::gateway
