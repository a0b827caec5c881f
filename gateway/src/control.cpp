#include "tsunagu/gateway/control.h"

#include <fmt/format.h>

#include <algorithm>

#include "tsunagu/chat/chat_metrics.h"
#include "tsunagu/common/prometheus_text.h"

namespace tsunagu::gateway {

using common::Result;
using common::Status;

Status Control::CheckThread(const std::string& thread) const {
  if (std::find(threads_.begin(), threads_.end(), thread) != threads_.end()) return Status();
  std::string known;
  for (const std::string& t : threads_) known += (known.empty() ? "" : ", ") + t;
  return common::InvalidArgumentError("unknown thread \"" + thread +
                                      "\" (configured: " + (known.empty() ? "none" : known) + ")");
}

Result<std::vector<StudyRow>> Control::FindStudies(const FindQuery& query) {
  if (pacs_ == nullptr) {
    return common::FailedPreconditionError("no [pacs] is configured: nothing to search");
  }
  FindQuery q = query;
  q.level = QueryLevel::kStudy;
  TSUNAGU_ASSIGN_OR_RETURN(std::vector<FindMatch> matches, pacs_->Find(q));
  // Some PACS (dcmqrscp among them) do not return Modalities in Study or the number of
  // instances at study level: ask at series level for the first rows.
  constexpr size_t kDetailRows = 50;
  for (size_t i = 0; i < matches.size() && i < kDetailRows; ++i) {
    FindMatch& m = matches[i];
    if (!m.modalities.empty() && m.number_of_instances >= 0) continue;
    FindQuery sq;
    sq.level = QueryLevel::kSeries;
    sq.study_uid = m.study_uid;
    auto series = pacs_->Find(sq);
    if (!series.ok()) continue;
    std::vector<std::string> mods;
    int total = 0;
    bool counted = true;
    for (const FindMatch& s : *series) {
      if (!s.modalities.empty() &&
          std::find(mods.begin(), mods.end(), s.modalities) == mods.end()) {
        mods.push_back(s.modalities);
      }
      if (s.number_of_instances < 0) counted = false;
      total += std::max(0, s.number_of_instances);
    }
    if (m.modalities.empty()) {
      for (const std::string& mod : mods) m.modalities += (m.modalities.empty() ? "" : "\\") + mod;
    }
    if (m.number_of_instances < 0 && counted && !series->empty()) m.number_of_instances = total;
  }
  std::vector<StudyRow> rows;
  std::lock_guard<std::mutex> lock(mu_);
  for (const FindMatch& m : matches) {
    if (m.study_uid.empty()) continue;
    StudyRow r;
    r.key = keyer_->Key(m.study_uid);
    r.patient_id_masked = MaskPatientId(m.patient_id);
    r.study_date = m.study_date;
    r.study_time = m.study_time.substr(0, std::min<size_t>(6, m.study_time.size()));
    r.modalities = m.modalities;
    r.description = m.description;
    r.instances = m.number_of_instances;
    study_by_key_[r.key] = m.study_uid;
    rows.push_back(std::move(r));
  }
  std::sort(rows.begin(), rows.end(), [](const StudyRow& a, const StudyRow& b) {
    return std::tie(b.study_date, b.study_time) < std::tie(a.study_date, a.study_time);
  });
  return rows;
}

Result<std::string> Control::ResolveStudy(const FindQuery& query) {
  if (!query.study_uid.empty()) return query.study_uid;
  TSUNAGU_ASSIGN_OR_RETURN(std::vector<StudyRow> rows, FindStudies(query));
  if (rows.empty()) return common::NotFoundError("the PACS has no study matching the query");
  if (rows.size() > 1) {
    std::string list;
    for (const StudyRow& r : rows) {
      list += fmt::format("\n  {} {} {} {} {}", r.patient_id_masked, r.study_date, r.study_time,
                          r.modalities, r.description);
    }
    return common::InvalidArgumentError(
        std::to_string(rows.size()) +
        " studies match; narrow the query (e.g. --date YYYYMMDD):" + list);
  }
  std::lock_guard<std::mutex> lock(mu_);
  return study_by_key_[rows.front().key];
}

Result<JobId> Control::SendStudyUid(const std::string& study_uid, const std::string& thread,
                                    const std::string& note) {
  TSUNAGU_RETURN_IF_ERROR(CheckThread(thread));
  if (study_uid.empty()) return common::InvalidArgumentError("empty study UID");
  return store_->CreateSend(study_uid, keyer_->Key(study_uid), thread, note);
}

Result<JobId> Control::SendByKey(const std::string& key, const std::string& thread,
                                 const std::string& note) {
  std::string uid;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = study_by_key_.find(key);
    if (it == study_by_key_.end()) {
      return common::NotFoundError("unknown study; search again before sending");
    }
    uid = it->second;
  }
  return SendStudyUid(uid, thread, note);
}

Result<JobView> Control::Job(JobId id) {
  JobView v;
  TSUNAGU_ASSIGN_OR_RETURN(v.job, store_->GetJob(id));
  TSUNAGU_ASSIGN_OR_RETURN(v.progress, store_->Progress(id));
  return v;
}

Result<std::vector<JobView>> Control::Jobs(int limit) {
  TSUNAGU_ASSIGN_OR_RETURN(std::vector<JobRecord> jobs, store_->ListJobs(limit));
  std::vector<JobView> out;
  for (JobRecord& j : jobs) {
    JobView v;
    TSUNAGU_ASSIGN_OR_RETURN(v.progress, store_->Progress(j.id));
    v.job = std::move(j);
    out.push_back(std::move(v));
  }
  return out;
}

std::string Control::MetricsText(const DicomNodeCounters& node, const PipelineMetrics& p) {
  using common::PrometheusText;
  PrometheusText out;
  out.Counter("tsunagu_gateway_dicom_associations_total", "DICOM associations accepted.",
              node.associations);
  out.Counter("tsunagu_gateway_dicom_associations_rejected_total", "DICOM associations rejected.",
              node.associations_rejected);
  out.Counter("tsunagu_gateway_instances_received_total", "Instances received by C-STORE.",
              node.instances_received);
  out.Counter("tsunagu_gateway_received_bytes_total", "Bytes of instances received by C-STORE.",
              node.bytes_received);
  out.Counter("tsunagu_gateway_stores_refused_total", "C-STOREs answered with a failure status.",
              node.stores_refused);
  out.Counter("tsunagu_gateway_instances_deidentified_total", "Instances de-identified.",
              p.instances_deidentified);
  out.Counter("tsunagu_gateway_instances_uploaded_total", "Instances uploaded to the relay.",
              p.instances_uploaded);
  out.Counter("tsunagu_gateway_studies_committed_total", "Studies committed at the relay.",
              p.studies_committed);
  out.Counter("tsunagu_gateway_links_posted_total", "Viewer links posted.", p.links_posted);
  out.Counter("tsunagu_gateway_spool_files_expired_total",
              "Spool files deleted by the spool_max_age ceiling.", p.spool_files_expired);
  constexpr std::string_view kRefused = "tsunagu_gateway_intake_refused_total";
  out.Family(kRefused, "C-STOREs refused by the intake, by reason.",
             PrometheusText::Type::kCounter);
  out.Sample(kRefused, {{"reason", "disk_full"}},
             static_cast<std::uint64_t>(p.intake_refused_disk_full.load()));
  out.Sample(kRefused, {{"reason", "no_route"}},
             static_cast<std::uint64_t>(p.intake_refused_no_route.load()));
  if (const int tunnel = p.ipsec_tunnel_up.load(); tunnel >= 0) {
    out.Gauge("tsunagu_gateway_ipsec_tunnel_up",
              "Whether the IPsec child SA to the relay is installed.",
              static_cast<std::int64_t>(tunnel));
  }
  out.Family("tsunagu_gateway_jobs", "Jobs by stage.", PrometheusText::Type::kGauge);
  std::int64_t queued = 0;
  if (auto by_stage = store_->CountByStage(); by_stage.ok()) {
    for (const auto& [st, n] : *by_stage) {
      out.Sample("tsunagu_gateway_jobs", {{"stage", st}}, static_cast<std::int64_t>(n));
      if (st != stage::kCleaned && st != stage::kFailed) queued += n;
    }
  }
  out.Gauge("tsunagu_gateway_queue_depth", "Unfinished jobs.", queued);
  out.Family("tsunagu_gateway_job_failures", "Failed jobs by error code.",
             PrometheusText::Type::kGauge);
  if (auto failures = store_->CountFailuresByCode(); failures.ok()) {
    for (const auto& [code, n] : *failures) {
      out.Sample("tsunagu_gateway_job_failures", {{"code", code}}, static_cast<std::int64_t>(n));
    }
  }
  std::string text = std::move(out).Take();
  if (p.chat != nullptr) text += p.chat->PrometheusText();
  return text;
}

std::string FormatJobLine(const JobView& v) {
  const JobRecord& j = v.job;
  const int total = std::max(v.progress.total, j.expected_count);
  std::string line =
      fmt::format("{:>5}  {:<4}  {:<12}  {:<16}  {:>4}/{:<4} {:>4} {:>4}  {:<4} {:<4}",
                  j.id.value(), JobKindName(j.kind), j.stage, j.thread, v.progress.received,
                  total < 0 ? 0 : total, v.progress.deidentified, v.progress.uploaded,
                  j.patient_id_suffix.empty() ? "-" : j.patient_id_suffix,
                  j.modality.empty() ? "-" : j.modality);
  if (!j.last_error.empty()) line += "  " + j.last_error;
  return line;
}

}  // namespace tsunagu::gateway
