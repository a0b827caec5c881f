// Private: the relay's two HTTP APIs over a StudyStore (relay/PROTOCOL.md):
//  - the upload API for enrolled gateways (mutual TLS is enforced by the listener);
//  - the viewer API: the DICOMweb subset under a link token.
#ifndef TSUNAGU_RELAY_SRC_RELAY_SERVICE_H_
#define TSUNAGU_RELAY_SRC_RELAY_SERVICE_H_

#include <chrono>
#include <condition_variable>
#include <deque>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "http_server.h"
#include "render_cache.h"
#include "tsunagu/common/clock.h"
#include "tsunagu/retention/study_store.h"

namespace tsunagu::viewer {
struct RenderParams;
struct Window;
class FrameSource;
}  // namespace tsunagu::viewer

namespace tsunagu::relay {

// A named VOI window the web viewer offers (relay config [viewer.presets]).
struct ViewerPreset {
  std::string name;
  std::int64_t center = 0;
  std::int64_t width = 1;
};

struct RelayServiceOptions {
  std::string public_url;  // https://relay.example.jp, base of viewer links
  std::vector<std::string> cors_origins;
  std::size_t patient_id_max_length = 4;
  // Retention per enrolled gateway (client certificate common name), each at most the store's
  // period; gateways not listed get the store's period.
  std::map<std::string, std::chrono::milliseconds> gateway_retention;
  std::chrono::milliseconds revocation_cache = std::chrono::seconds(2);
  // Failed link look-ups (unknown, revoked, wrong code) tolerated per client address per window
  // before that address is refused with 429 until the window ends.
  int max_link_failures = 20;
  std::chrono::milliseconds failure_window = std::chrono::minutes(1);
  // Decoded frames kept in memory (plaintext, never on disk), so that scrolling through a study
  // does not decrypt and parse an instance per frame. Entries leave when their study expires.
  std::size_t frame_cache_bytes = 512ULL << 20;
  // QIDO-RS and metadata answers of committed studies, also dropped when the study expires.
  std::size_t answer_cache_bytes = 64ULL << 20;
  // The web viewer's files (viewer-lib/web), served under /v/<token>/.
  std::filesystem::path viewer_assets_directory = "/usr/share/tsunagu/viewer";
  // Per DICOM Modality, in display order; sent in summary.json.
  std::map<std::string, std::vector<ViewerPreset>> window_presets;
  // Decrypted instances kept in memory (never on disk) for rendering frames and thumbnails, so
  // that scrolling does not decrypt an instance per frame. Entries leave when their study expires.
  std::size_t render_cache_bytes = 256ULL << 20;
  // A web viewer session (after a right access code) lasts at most this long, and never past the
  // study's expiry.
  std::chrono::milliseconds session_lifetime = std::chrono::hours(12);
  // Rendered frames, thumbnails and summaries kept in memory (render_cache.h); those worth
  // keeping are also stored encrypted with their study.
  std::size_t rendered_cache_bytes = 128ULL << 20;
};

class RelayMetrics;

struct RelayServiceDeps {
  std::shared_ptr<retention::StudyStore> store;
  std::shared_ptr<common::Clock> clock;
  std::shared_ptr<spdlog::logger> logger;
  // Counts link opens when set (relay_metrics.h); outlives the service.
  std::shared_ptr<RelayMetrics> metrics = nullptr;
};

class RelayService {
 public:
  RelayService(RelayServiceOptions options, RelayServiceDeps deps);
  ~RelayService();  // web_viewer.cpp: stops the viewer preparation thread

  HttpResponse HandleUpload(const HttpRequest& request);
  HttpResponse HandleViewer(const HttpRequest& request);

  // Writes the buffered access-log entries and drops cached frames of expired studies (called
  // every second and at shutdown).
  void FlushAccessLog();

  RenderCache::Counters RenderCacheCountersForTest() const { return render_cache_.counters(); }

 private:
  struct CachedLink {
    retention::ReachableStudy study;
    std::chrono::steady_clock::time_point checked;
  };
  struct FailureWindow {
    std::chrono::steady_clock::time_point start;
    int failures = 0;
  };

  // Frames are kept as ready answers: bodies[i] is the whole multipart/related answer for frame
  // i + 1 alone (sent as it is, without a copy); a request for several frames joins them.
  struct CachedFrames {
    std::string series_uid;
    std::string transfer_syntax_uid;
    bool encapsulated = false;
    std::string boundary;  // random per instance, so no frame's bytes can contain it
    std::vector<std::shared_ptr<const std::string>> bodies;
    std::chrono::system_clock::time_point expires_at;
    std::size_t bytes = 0;
  };

  struct CachedAnswer {
    HttpResponse response;
    std::chrono::system_clock::time_point expires_at;
  };

  // The web viewer under /v/<token>/ (web_viewer.cpp; viewer-lib/web/README.md).
  struct Session {
    std::string token_hash;
    std::optional<std::string> access_code;
    std::chrono::system_clock::time_point expires_at;
  };
  struct StudyLayout {
    struct Series {
      std::string uid;
      long number = 0;
      std::string modality;
      std::string description;
      std::vector<std::string> sops;            // stack order
      std::vector<std::uint32_t> longest_side;  // per instance, max(Rows, Columns) or 0
    };
    std::vector<Series> series;  // display order
    std::string patient_id_last4, study_date, description;
    std::chrono::system_clock::time_point expires_at;
  };
  // FrameSources opened on one instance's bytes and idle now. Opening parses the header (DCMTK),
  // which costs about as much as windowing the frame; a FrameSource serves one thread at a time,
  // so a render takes one from here (or opens one) and gives it back.
  struct SourcePool {
    std::mutex mu;
    std::vector<std::unique_ptr<viewer::FrameSource>> idle;  // GUARDED_BY(mu)
    // The file's windows, once a source has been opened (they decide which renders persist).
    std::optional<std::vector<viewer::Window>> windows;  // GUARDED_BY(mu)
    ~SourcePool();
  };
  struct CachedInstance {
    std::shared_ptr<const std::string> bytes;
    std::chrono::system_clock::time_point expires_at;
    std::shared_ptr<SourcePool> sources;
  };
  HttpResponse WebViewer(const HttpRequest& request);
  HttpResponse WebAsset(const std::string& name);
  HttpResponse WebAccessCode(const HttpRequest& request, const std::string& token);
  HttpResponse WebSummary(const retention::ReachableStudy& study, const StudyLayout& layout);
  HttpResponse WebRender(const retention::ReachableStudy& study, const HttpRequest& request,
                         const StudyLayout& layout, std::size_t series, std::size_t instance,
                         std::optional<std::uint32_t> frame);
  // PS3.18 rendered frames and thumbnails under the DICOMweb root: rest is studies/{uid}/...
  HttpResponse DicomwebRendered(const retention::ReachableStudy& study, const HttpRequest& request,
                                const std::vector<std::string>& rest);
  // One access-log entry per link and client address per 10 s of renders.
  void LogRendered(const retention::ReachableStudy& study, const HttpRequest& request);
  common::Result<std::shared_ptr<const StudyLayout>> LayoutOf(const retention::ReachableStudy& s);
  // The study-wide part of summary.json (its "series" array), computed once per study and kept
  // in the render cache.
  common::Result<std::shared_ptr<const std::string>> SummarySeries(
      const retention::ReachableStudy& study, const StudyLayout& layout);
  // After a commit: computes the summary, the thumbnails and the first image of every series in
  // the background, so that the first open of the link is served from the cache.
  void PrepareViewer(const std::string& study_uid, std::chrono::system_clock::time_point expires);
  void PrepareLoop();
  void Prepare(const retention::ReachableStudy& study);
  // A rendered frame (frame set) or the thumbnail of `sop`, through the render cache.
  common::Result<std::shared_ptr<const std::string>> RenderCached(
      const retention::ReachableStudy& study, const StudyLayout& layout, std::size_t series,
      std::size_t instance, std::optional<std::uint32_t> frame, const viewer::RenderParams& params);
  common::Result<std::shared_ptr<const std::string>> InstanceBytes(
      const retention::ReachableStudy& s, const std::string& sop);
  // The decrypted instance with its pool of opened sources (a pool of its own when the instance
  // is too large for the cache).
  // Whether `window` is one of the configured presets for `modality` (such renders persist).
  bool IsPreset(const std::string& modality, const viewer::Window& window) const;
  common::Result<CachedInstance> InstanceOf(const retention::ReachableStudy& s,
                                            const std::string& sop);
  bool Throttled(const std::string& client_address);
  void CountFailure(const std::string& client_address);

  HttpResponse Viewer(const HttpRequest& request);
  HttpResponse Content(const retention::ReachableStudy& study, const HttpRequest& request,
                       const std::vector<std::string>& rest);
  common::Result<std::shared_ptr<const CachedFrames>> FramesOf(const retention::ReachableStudy& s,
                                                               const std::string& sop);
  common::Result<retention::ReachableStudy> Resolve(const std::string& token,
                                                    const std::optional<std::string>& code);
  void Log(const retention::ReachableStudy& s, const HttpRequest& r, const char* event);

  const RelayServiceOptions options_;
  const RelayServiceDeps deps_;
  std::mutex mu_;
  std::map<std::string, CachedLink> link_cache_;                             // GUARDED_BY(mu_)
  std::map<std::string, FailureWindow> failures_;                            // GUARDED_BY(mu_)
  std::vector<std::pair<std::string, retention::AccessEntry>> pending_log_;  // GUARDED_BY(mu_)
  std::uint64_t boundary_counter_ = 0;                                       // GUARDED_BY(mu_)
  std::map<std::string, std::shared_ptr<const CachedFrames>> frame_cache_;   // GUARDED_BY(mu_)
  std::vector<std::string> frame_cache_order_;        // GUARDED_BY(mu_), oldest first
  std::size_t frame_cache_bytes_ = 0;                 // GUARDED_BY(mu_)
  std::map<std::string, CachedAnswer> answer_cache_;  // GUARDED_BY(mu_)
  std::size_t answer_cache_bytes_ = 0;                // GUARDED_BY(mu_)
  std::map<std::string, Session> sessions_;           // GUARDED_BY(mu_), by SHA-256 of the id
  std::map<std::string, std::shared_ptr<const StudyLayout>> layouts_;  // GUARDED_BY(mu_)
  std::map<std::string, CachedInstance> instance_cache_;               // GUARDED_BY(mu_)
  std::vector<std::string> instance_cache_order_;  // GUARDED_BY(mu_), oldest first
  std::size_t instance_cache_bytes_ = 0;           // GUARDED_BY(mu_)
  std::map<std::string, std::chrono::steady_clock::time_point> render_logged_;  // GUARDED_BY(mu_)
  RenderCache render_cache_{deps_.store, options_.rendered_cache_bytes};
  std::mutex summary_mu_;  // one summary computed at a time (a request waits for the preparation)
  std::mutex prepare_mu_;
  std::condition_variable prepare_cv_;
  std::deque<retention::ReachableStudy> prepare_queue_;  // GUARDED_BY(prepare_mu_)
  bool prepare_stop_ = false;                            // GUARDED_BY(prepare_mu_)
  std::thread prepare_thread_;                           // started on the first commit
};

}  // namespace tsunagu::relay

#endif  // TSUNAGU_RELAY_SRC_RELAY_SERVICE_H_
