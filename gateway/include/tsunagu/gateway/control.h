// What people can ask of the gateway (the CLI and the send page share it): search the PACS with
// patient IDs masked, queue a send, read job status, render metrics.
#ifndef TSUNAGU_GATEWAY_CONTROL_H_
#define TSUNAGU_GATEWAY_CONTROL_H_

#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "tsunagu/gateway/dicom_node.h"
#include "tsunagu/gateway/job_store.h"
#include "tsunagu/gateway/pacs_client.h"
#include "tsunagu/gateway/pipeline.h"

namespace tsunagu::gateway {

// A study as shown to people: no name, no full ID, no accession number, no UID. `key` is an
// opaque handle (HMAC of the Study UID) to send it.
struct StudyRow {
  std::string key;
  std::string patient_id_masked;
  std::string study_date;
  std::string study_time;
  std::string modalities;
  std::string description;
  int instances = -1;
};

struct JobView {
  JobRecord job;
  JobProgress progress;
};

class Control {
 public:
  Control(JobStore* store, PacsClient* pacs, const UidKeyer* keyer,
          std::vector<std::string> thread_names)
      : store_(store), pacs_(pacs), keyer_(keyer), threads_(std::move(thread_names)) {}

  // Study-level C-FIND; remembers the UIDs of the rows so SendByKey can use them.
  common::Result<std::vector<StudyRow>> FindStudies(const FindQuery& query);
  // Resolves --study-uid / --accession / --patient-id [--date] to one study UID. kNotFound when
  // nothing matches; kInvalidArgument when several do (the message lists them, masked).
  common::Result<std::string> ResolveStudy(const FindQuery& query);
  common::Result<JobId> SendStudyUid(const std::string& study_uid, const std::string& thread,
                                     const std::string& note);
  common::Result<JobId> SendByKey(const std::string& key, const std::string& thread,
                                  const std::string& note);
  common::Result<JobView> Job(JobId id);
  common::Result<std::vector<JobView>> Jobs(int limit);
  const std::vector<std::string>& threads() const { return threads_; }

  // Prometheus text exposition format (version 0.0.4).
  std::string MetricsText(const DicomNodeCounters& node, const PipelineMetrics& pipeline);

 private:
  common::Status CheckThread(const std::string& thread) const;

  JobStore* store_;
  PacsClient* pacs_;
  const UidKeyer* keyer_;
  std::vector<std::string> threads_;
  std::mutex mu_;
  std::map<std::string, std::string> study_by_key_;  // GUARDED_BY(mu_)
};

// One line of a job for `status`: id, kind, stage, thread, counts, last-4, error.
std::string FormatJobLine(const JobView& v);

}  // namespace tsunagu::gateway

#endif  // TSUNAGU_GATEWAY_CONTROL_H_
