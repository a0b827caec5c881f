// PacsClient: what the gateway asks of the hospital PACS (C-ECHO, C-FIND, C-MOVE as an SCU).
// DcmtkPacsClient (MakeDcmtkPacsClient) is the real one; tests substitute fakes.
#ifndef TSUNAGU_GATEWAY_PACS_CLIENT_H_
#define TSUNAGU_GATEWAY_PACS_CLIENT_H_

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "tsunagu/common/result.h"

namespace tsunagu::gateway {

enum class QueryLevel { kPatient, kStudy, kSeries, kImage };

// A C-FIND query. Empty fields are not matched. Dates are DICOM dates or ranges
// ("20250101", "20250101-20250131").
struct FindQuery {
  QueryLevel level = QueryLevel::kStudy;
  std::string patient_id;
  std::string accession_number;
  std::string study_uid;
  std::string series_uid;
  std::string study_date;
  std::string modality;  // study level: matched against Modalities in Study
};

// One C-FIND match. Identifying values (patient_id, accession, UIDs) are for the caller's use in
// memory; never log them.
struct FindMatch {
  std::string patient_id;
  std::string study_uid;
  std::string series_uid;
  std::string sop_uid;
  std::string accession_number;
  std::string study_date;
  std::string study_time;
  std::string modalities;  // study: Modalities in Study; series: Modality
  std::string description;
  int number_of_instances = -1;  // -1 when the PACS did not say
  friend bool operator==(const FindMatch&, const FindMatch&) = default;
};

// The advisory counters of a C-MOVE response (PS3.4 C.4.2.1.4): some PACS never send them.
struct MoveProgress {
  int completed = 0;
  int remaining = -1;
  int failed = 0;
  int warning = 0;
};

// What to move: a whole study, or the listed instances of one series.
struct MoveRequest {
  std::string study_uid;
  std::string series_uid;             // with sop_uids: image-level move
  std::vector<std::string> sop_uids;  // empty: the whole study
  std::string destination_ae;
  // Asked after each C-MOVE response; true sends C-CANCEL and Move answers kCancelled (an
  // operator cancelled the job). May be empty.
  std::function<bool()> should_stop = {};
};

struct MoveOutcome {
  MoveProgress last;
  std::uint16_t final_status = 0;
};

class PacsClient {
 public:
  virtual ~PacsClient() = default;
  virtual common::Status Echo() = 0;
  // Runs a C-FIND. Errors: kUnavailable (cannot connect, association rejected, peer died),
  // kDeadlineExceeded (DIMSE timeout), kPacsBusy (out of resources), kInvalidArgument (the PACS
  // refused the query).
  virtual common::Result<std::vector<FindMatch>> Find(const FindQuery& query) = 0;
  // Runs a C-MOVE and returns when the PACS sends its final response or `deadline` passes (a
  // C-CANCEL is sent then). `on_progress` is called for each pending response. A final status of
  // failure or warning is not an error here: completeness is checked against the instance list.
  // Errors as for Find, and kFailedPrecondition when the PACS does not know the destination.
  virtual common::Result<MoveOutcome> Move(
      const MoveRequest& request, std::chrono::milliseconds deadline,
      const std::function<void(const MoveProgress&)>& on_progress) = 0;
};

struct PacsClientOptions {
  std::string own_ae_title;
  std::string peer_host;
  std::uint16_t peer_port = 104;
  std::string peer_ae_title;
  std::chrono::milliseconds acse_timeout = std::chrono::seconds(30);
  std::chrono::milliseconds dimse_timeout = std::chrono::seconds(60);
};

// A PacsClient over DCMTK's DcmSCU; one association per call. Thread-safe (calls do not share
// state).
std::unique_ptr<PacsClient> MakeDcmtkPacsClient(PacsClientOptions options);

// Lists every instance of a study: a series-level C-FIND, then an image-level C-FIND per series
// (hierarchical, as PS3.4 C.4.1.3.1 requires). Matches carry series_uid and sop_uid.
common::Result<std::vector<FindMatch>> ListStudyInstances(PacsClient& pacs,
                                                          const std::string& study_uid);

// "PAT0012345" -> "****2345": the last 4 characters only, the length hidden.
std::string MaskPatientId(std::string_view id);

}  // namespace tsunagu::gateway

#endif  // TSUNAGU_GATEWAY_PACS_CLIENT_H_
