// PacsClient over DCMTK's DcmSCU: one association per call, non-blocking DIMSE with a timeout (the
// DCMTK default waits forever), and a total deadline for C-MOVE.
#include <dcmtk/config/osconfig.h>
// osconfig.h first.
#include <dcmtk/dcmdata/dcdeftag.h>
#include <dcmtk/dcmdata/dcuid.h>
#include <dcmtk/dcmnet/scu.h>
#include <fmt/format.h>

#include <algorithm>
#include <chrono>

#include "dcmtk_bridge.h"
#include "tsunagu/gateway/pacs_client.h"

namespace tsunagu::gateway {

using common::Result;
using common::Status;

Status StatusFromOFCondition(const OFCondition& cond, std::string_view what) {
  const std::string msg = std::string(what) + ": " + cond.text();
  if (cond == DIMSE_NODATAAVAILABLE || cond == DUL_READTIMEOUT) {
    return common::DeadlineExceededError(msg + " (DIMSE timeout)");
  }
  if (cond.module() == OFM_dcmnet) return common::UnavailableError(msg);
  return common::InternalError(msg);
}

namespace {

int Seconds(std::chrono::milliseconds d) {
  return static_cast<int>(std::max<std::int64_t>(1, (d.count() + 999) / 1000));
}

std::string Get(DcmItem* item, const DcmTagKey& tag) {
  OFString v;
  if (item != nullptr && item->findAndGetOFStringArray(tag, v).good()) return v.c_str();
  return "";
}

// C-FIND status -> Status (PS3.4 C.4.1.1.4).
Status StatusFromFindStatus(Uint16 status) {
  if (status == 0x0000 || status == 0xFF00 || status == 0xFF01) return Status();
  if (status == 0xA700) return common::PacsBusyError("the PACS is out of resources (0xA700)");
  if ((status & 0xF000) == 0xC000) {
    return common::UnavailableError("the PACS could not process the query (status 0x" +
                                    fmt::format("{:04X}", status) + ")");
  }
  if (status == 0xFE00) return common::CancelledError("the query was cancelled");
  return common::InvalidArgumentError("the PACS refused the query (status 0x" +
                                      fmt::format("{:04X}", status) + ")");
}

class MoveScu : public DcmSCU {
 public:
  std::function<void(const MoveProgress&)> on_progress;
  std::chrono::steady_clock::time_point deadline;
  bool deadline_hit = false;
  std::function<bool()> should_stop;
  bool stopped = false;
  MoveProgress last;
  Uint16 last_status = 0;

 protected:
  OFCondition handleMOVEResponse(const T_ASC_PresentationContextID pres_id,
                                 RetrieveResponse* response, OFBool& wait_for_next) override {
    OFCondition cond = DcmSCU::handleMOVEResponse(pres_id, response, wait_for_next);
    last.completed = response->m_numberOfCompletedSubops;
    last.remaining = response->m_numberOfRemainingSubops;
    last.failed = response->m_numberOfFailedSubops;
    last.warning = response->m_numberOfWarningSubops;
    last_status = response->m_status;
    if (on_progress) on_progress(last);
    if (wait_for_next && std::chrono::steady_clock::now() > deadline) {
      deadline_hit = true;
      (void)sendCANCELRequest(pres_id);
      wait_for_next = OFFalse;
    } else if (wait_for_next && should_stop && should_stop()) {
      stopped = true;
      (void)sendCANCELRequest(pres_id);
      wait_for_next = OFFalse;
    }
    return cond;
  }
};

class DcmtkPacsClient final : public PacsClient {
 public:
  explicit DcmtkPacsClient(PacsClientOptions options) : options_(std::move(options)) {}

  Status Echo() override {
    DcmSCU scu;
    TSUNAGU_RETURN_IF_ERROR(Connect(scu, {UID_VerificationSOPClass}));
    const T_ASC_PresentationContextID pc = scu.findPresentationContextID(
        UID_VerificationSOPClass, UID_LittleEndianExplicitTransferSyntax);
    OFCondition cond = scu.sendECHORequest(pc);
    scu.releaseAssociation();
    return cond.good() ? Status() : StatusFromOFCondition(cond, "C-ECHO");
  }

  Result<std::vector<FindMatch>> Find(const FindQuery& q) override {
    const char* model = q.level == QueryLevel::kPatient
                            ? UID_FINDPatientRootQueryRetrieveInformationModel
                            : UID_FINDStudyRootQueryRetrieveInformationModel;
    DcmSCU scu;
    TSUNAGU_RETURN_IF_ERROR(Connect(scu, {model}));
    DcmDataset ds;
    const char* level = "STUDY";
    switch (q.level) {
      case QueryLevel::kPatient:
        level = "PATIENT";
        break;
      case QueryLevel::kStudy:
        level = "STUDY";
        break;
      case QueryLevel::kSeries:
        level = "SERIES";
        break;
      case QueryLevel::kImage:
        level = "IMAGE";
        break;
    }
    ds.putAndInsertString(DCM_QueryRetrieveLevel, level);
    ds.putAndInsertString(DCM_PatientID, q.patient_id.c_str());
    if (q.level != QueryLevel::kPatient) {
      ds.putAndInsertString(DCM_StudyInstanceUID, q.study_uid.c_str());
    }
    if (q.level == QueryLevel::kStudy) {
      ds.putAndInsertString(DCM_AccessionNumber, q.accession_number.c_str());
      ds.putAndInsertString(DCM_StudyDate, q.study_date.c_str());
      ds.putAndInsertString(DCM_StudyTime, "");
      ds.putAndInsertString(DCM_ModalitiesInStudy, q.modality.c_str());
      ds.putAndInsertString(DCM_StudyDescription, "");
      ds.putAndInsertString(DCM_NumberOfStudyRelatedInstances, "");
    } else if (q.level == QueryLevel::kSeries) {
      ds.putAndInsertString(DCM_SeriesInstanceUID, q.series_uid.c_str());
      ds.putAndInsertString(DCM_Modality, q.modality.c_str());
      ds.putAndInsertString(DCM_SeriesDescription, "");
      ds.putAndInsertString(DCM_NumberOfSeriesRelatedInstances, "");
    } else if (q.level == QueryLevel::kImage) {
      ds.putAndInsertString(DCM_SeriesInstanceUID, q.series_uid.c_str());
      ds.putAndInsertString(DCM_SOPInstanceUID, "");
    }
    // dcmqrscp and many PACS refuse keys above the level that are not unique keys, so the
    // patient ID is only sent where it is matched.
    if (q.level == QueryLevel::kSeries || q.level == QueryLevel::kImage) {
      ds.findAndDeleteElement(DCM_PatientID);
    }
    const T_ASC_PresentationContextID pc = scu.findAnyPresentationContextID(model, "");
    OFList<QRResponse*> responses;
    OFCondition cond = scu.sendFINDRequest(pc, &ds, &responses);
    std::vector<FindMatch> out;
    Status status;
    for (QRResponse* r : responses) {
      if (r->m_dataset != nullptr) {
        FindMatch m;
        DcmDataset* d = r->m_dataset;
        m.patient_id = Get(d, DCM_PatientID);
        m.study_uid = Get(d, DCM_StudyInstanceUID);
        m.series_uid = Get(d, DCM_SeriesInstanceUID);
        m.sop_uid = Get(d, DCM_SOPInstanceUID);
        m.accession_number = Get(d, DCM_AccessionNumber);
        m.study_date = Get(d, DCM_StudyDate);
        m.study_time = Get(d, DCM_StudyTime);
        m.modalities =
            q.level == QueryLevel::kSeries ? Get(d, DCM_Modality) : Get(d, DCM_ModalitiesInStudy);
        m.description = q.level == QueryLevel::kSeries ? Get(d, DCM_SeriesDescription)
                                                       : Get(d, DCM_StudyDescription);
        const std::string n =
            Get(d, q.level == QueryLevel::kSeries ? DCM_NumberOfSeriesRelatedInstances
                                                  : DCM_NumberOfStudyRelatedInstances);
        if (!n.empty()) m.number_of_instances = std::atoi(n.c_str());
        out.push_back(std::move(m));
      }
      if (status.ok()) status = StatusFromFindStatus(r->m_status);
      delete r;
    }
    if (cond.bad()) {
      scu.abortAssociation();
      return StatusFromOFCondition(cond, "C-FIND");
    }
    scu.releaseAssociation();
    if (!status.ok()) return status;
    return out;
  }

  Result<MoveOutcome> Move(const MoveRequest& request, std::chrono::milliseconds deadline,
                           const std::function<void(const MoveProgress&)>& on_progress) override {
    MoveScu scu;
    const char* model = UID_MOVEStudyRootQueryRetrieveInformationModel;
    TSUNAGU_RETURN_IF_ERROR(Connect(scu, {model}));
    scu.on_progress = on_progress;
    scu.should_stop = request.should_stop;
    scu.deadline = std::chrono::steady_clock::now() + deadline;
    DcmDataset ds;
    if (request.sop_uids.empty()) {
      ds.putAndInsertString(DCM_QueryRetrieveLevel, "STUDY");
      ds.putAndInsertString(DCM_StudyInstanceUID, request.study_uid.c_str());
    } else {
      ds.putAndInsertString(DCM_QueryRetrieveLevel, "IMAGE");
      ds.putAndInsertString(DCM_StudyInstanceUID, request.study_uid.c_str());
      ds.putAndInsertString(DCM_SeriesInstanceUID, request.series_uid.c_str());
      std::string list;
      for (const std::string& uid : request.sop_uids) {
        if (!list.empty()) list += '\\';
        list += uid;
      }
      ds.putAndInsertString(DCM_SOPInstanceUID, list.c_str());
    }
    const T_ASC_PresentationContextID pc = scu.findAnyPresentationContextID(model, "");
    OFList<RetrieveResponse*> responses;
    OFCondition cond = scu.sendMOVERequest(pc, request.destination_ae.c_str(), &ds, &responses);
    for (RetrieveResponse* r : responses) delete r;
    if (scu.stopped) {
      scu.abortAssociation();
      return common::CancelledError("C-MOVE cancelled: the job was cancelled");
    }
    if (scu.deadline_hit) {
      scu.abortAssociation();
      return common::DeadlineExceededError("C-MOVE did not finish within " +
                                           std::to_string(deadline.count() / 1000) + " s");
    }
    if (cond.bad()) {
      scu.abortAssociation();
      return StatusFromOFCondition(cond, "C-MOVE");
    }
    scu.releaseAssociation();
    const Uint16 st = scu.last_status;
    if (st == 0xA801) {
      return common::FailedPreconditionError(
          "the PACS does not know the move destination " + request.destination_ae +
          " (status 0xA801): register the gateway's AE title, host and port in the PACS");
    }
    // 0xA702 with failed sub-operations means the PACS tried and could not send some instances
    // (e.g. a file it lists but has lost): not a busy PACS, and completeness decides.
    const bool sub_ops_failed = st == 0xA702 && scu.last.failed > 0;
    if ((st == 0xA701 || st == 0xA702 || st == 0xA700) && !sub_ops_failed) {
      return common::PacsBusyError("the PACS is out of resources for the C-MOVE (status 0x" +
                                   fmt::format("{:04X}", st) + ")");
    }
    MoveOutcome out;
    out.last = scu.last;
    out.final_status = st;
    return out;
  }

 private:
  Status Connect(DcmSCU& scu, std::initializer_list<const char*> models) {
    scu.setAETitle(options_.own_ae_title.c_str());
    scu.setPeerHostName(options_.peer_host.c_str());
    scu.setPeerPort(options_.peer_port);
    scu.setPeerAETitle(options_.peer_ae_title.c_str());
    scu.setACSETimeout(static_cast<Uint32>(Seconds(options_.acse_timeout)));
    scu.setConnectionTimeout(Seconds(options_.acse_timeout));
    scu.setDIMSEBlockingMode(DIMSE_NONBLOCKING);
    scu.setDIMSETimeout(static_cast<Uint32>(Seconds(options_.dimse_timeout)));
    scu.setVerbosePCMode(OFFalse);
    OFList<OFString> ts;
    ts.push_back(UID_LittleEndianExplicitTransferSyntax);
    ts.push_back(UID_LittleEndianImplicitTransferSyntax);
    for (const char* m : models) {
      OFCondition c = scu.addPresentationContext(m, ts);
      if (c.bad()) return StatusFromOFCondition(c, "add presentation context");
    }
    OFCondition cond = scu.initNetwork();
    if (cond.bad()) return StatusFromOFCondition(cond, "initialise network");
    cond = scu.negotiateAssociation();
    if (cond.bad()) {
      return common::UnavailableError("cannot open an association with the PACS " +
                                      options_.peer_ae_title + " at " + options_.peer_host + ":" +
                                      std::to_string(options_.peer_port) + ": " + cond.text());
    }
    return Status();
  }

  PacsClientOptions options_;
};

}  // namespace

std::unique_ptr<PacsClient> MakeDcmtkPacsClient(PacsClientOptions options) {
  return std::make_unique<DcmtkPacsClient>(std::move(options));
}

Result<std::vector<FindMatch>> ListStudyInstances(PacsClient& pacs, const std::string& study_uid) {
  FindQuery series;
  series.level = QueryLevel::kSeries;
  series.study_uid = study_uid;
  TSUNAGU_ASSIGN_OR_RETURN(std::vector<FindMatch> series_list, pacs.Find(series));
  std::vector<FindMatch> out;
  for (const FindMatch& s : series_list) {
    FindQuery image;
    image.level = QueryLevel::kImage;
    image.study_uid = study_uid;
    image.series_uid = s.series_uid;
    TSUNAGU_ASSIGN_OR_RETURN(std::vector<FindMatch> images, pacs.Find(image));
    for (FindMatch& m : images) {
      if (m.series_uid.empty()) m.series_uid = s.series_uid;
      if (!m.sop_uid.empty()) out.push_back(std::move(m));
    }
  }
  return out;
}

std::string MaskPatientId(std::string_view id) {
  if (id.size() <= 4) return std::string(id);
  return "****" + std::string(id.substr(id.size() - 4));
}

}  // namespace tsunagu::gateway
