// The C-ECHO / C-STORE SCP on DCMTK's association and DIMSE layers. One accept thread (non-
// blocking with a 1 s poll so Stop() is prompt), one thread per association.
#include <dcmtk/config/osconfig.h>
// osconfig.h first.
#include <arpa/inet.h>
#include <dcmtk/dcmdata/dcdeftag.h>
#include <dcmtk/dcmdata/dcdict.h>
#include <dcmtk/dcmdata/dcfilefo.h>
#include <dcmtk/dcmdata/dcmetinf.h>
#include <dcmtk/dcmdata/dcuid.h>
#include <dcmtk/dcmnet/assoc.h>
#include <dcmtk/dcmnet/dimse.h>
#include <dcmtk/dcmnet/dulstruc.h>
#include <dcmtk/oflog/oflog.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <list>
#include <mutex>
#include <set>
#include <thread>

#include "dcmtk_bridge.h"
#include "tsunagu/common/crypto.h"
#include "tsunagu/gateway/dicom_node.h"

namespace tsunagu::gateway {
namespace {

using common::Result;
using common::Status;

// Transfer syntaxes accepted for storage, in order of preference. Compressed data is stored as
// received (no transcoding).
const char* kStorageTransferSyntaxes[] = {
    UID_LittleEndianExplicitTransferSyntax,
    UID_LittleEndianImplicitTransferSyntax,
    UID_BigEndianExplicitTransferSyntax,
    UID_DeflatedExplicitVRLittleEndianTransferSyntax,
    UID_JPEGProcess1TransferSyntax,
    UID_JPEGProcess2_4TransferSyntax,
    UID_JPEGProcess14SV1TransferSyntax,
    UID_JPEGProcess14TransferSyntax,
    UID_JPEGLSLosslessTransferSyntax,
    UID_JPEGLSLossyTransferSyntax,
    UID_JPEG2000LosslessOnlyTransferSyntax,
    UID_JPEG2000TransferSyntax,
    UID_RLELosslessTransferSyntax,
    UID_MPEG2MainProfileAtMainLevelTransferSyntax,
    UID_MPEG4HighProfileLevel4_1TransferSyntax,
};
const char* kEchoTransferSyntaxes[] = {UID_LittleEndianExplicitTransferSyntax,
                                       UID_LittleEndianImplicitTransferSyntax};

// The largest PDU the node offers to receive (DCMTK's limit, 128 KiB). A sender splits each data
// set into PDVs of at most this size; DCMTK's default of 16 KiB means eight times as many reads,
// spool writes and DIMSE loop turns per instance on both sides.
constexpr Uint32 kMaxReceivePdu = ASC_MAXIMUMPDUSIZE;

constexpr Uint16 kStatusSuccess = 0x0000;
constexpr Uint16 kStatusOutOfResources = 0xA700;
constexpr Uint16 kStatusDataSetMismatch = 0xA900;
constexpr Uint16 kStatusCannotProcess = 0xC000;

int Seconds(std::chrono::milliseconds d) {
  return static_cast<int>(std::max<std::int64_t>(1, (d.count() + 999) / 1000));
}

std::string Get(DcmItem* item, const DcmTagKey& tag) {
  OFString v;
  if (item->findAndGetOFStringArray(tag, v).good()) return std::string(v.c_str());
  return "";
}

// A listening TCP socket (SO_REUSEADDR, close-on-exec) on address:port; the caller owns it.
Result<int> BindListenSocket(const std::string& address, std::uint16_t port) {
  const std::string host = address.empty() ? "0.0.0.0" : address;
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV | AI_PASSIVE;
  addrinfo* found = nullptr;
  if (::getaddrinfo(host.c_str(), std::to_string(port).c_str(), &hints, &found) != 0 ||
      found == nullptr) {
    return common::InvalidArgumentError("dicom.bind_address: \"" + host +
                                        "\" is not an IP address (e.g. 0.0.0.0, 10.1.2.3, ::)");
  }
  std::unique_ptr<addrinfo, decltype(&::freeaddrinfo)> owner(found, &::freeaddrinfo);
  const int fd = ::socket(found->ai_family, found->ai_socktype | SOCK_CLOEXEC, found->ai_protocol);
  if (fd < 0) return common::StatusFromErrno(errno, "create the DICOM listening socket");
  const int one = 1;
  (void)::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  if (::bind(fd, found->ai_addr, found->ai_addrlen) != 0 || ::listen(fd, SOMAXCONN) != 0) {
    const int err = errno;
    ::close(fd);
    return common::UnavailableError("cannot listen on DICOM address " + host + " port " +
                                    std::to_string(port) + ": " + std::strerror(err));
  }
  return fd;
}

class Node final : public DicomNode {
 public:
  Node(DicomNodeOptions options, StoreHandler* handler, std::shared_ptr<spdlog::logger> log)
      : options_(std::move(options)), handler_(handler), log_(std::move(log)) {
    accepted_called_.insert(options_.ae_title);
    for (const auto& ae : options_.extra_called_ae_titles) accepted_called_.insert(ae);
  }
  ~Node() override { Stop(); }

  // DCMTK 3.6.7 binds its listening socket to the wildcard address and has no setting to choose
  // another (dcmnet/libsrc/dul.cc, initializeNetworkTCP). So the node binds its own socket to
  // bind_address and hands it to DCMTK in place of DCMTK's: the network is initialised on an
  // ephemeral port, whose socket is closed at once, and networkSpecific.TCP.listenSocket
  // (dcmnet/dulstruc.h, installed with the headers) is the only thing ASC_receiveAssociation uses
  // to select() and accept(). ASC_dropNetwork closes ours as it would have closed its own.
  Status Listen() {
    TSUNAGU_ASSIGN_OR_RETURN(int fd, BindListenSocket(options_.bind_address, options_.port));
    T_ASC_Network* net = nullptr;
    OFCondition cond = ASC_initializeNetwork(NET_ACCEPTOR, 0, Seconds(options_.acse_timeout), &net);
    if (cond.bad()) {
      ::close(fd);
      return common::UnavailableError(std::string("cannot set up the DICOM network: ") +
                                      cond.text());
    }
    net_.reset(net);
    auto* key = reinterpret_cast<PRIVATE_NETWORKKEY*>(net->network);
    if (key->networkSpecific.TCP.listenSocket != DCMNET_INVALID_SOCKET) {
      ::close(key->networkSpecific.TCP.listenSocket);
    }
    key->networkSpecific.TCP.listenSocket = fd;
    sockaddr_storage bound{};
    socklen_t len = sizeof(bound);
    if (::getsockname(fd, reinterpret_cast<sockaddr*>(&bound), &len) == 0) {
      port_ = ntohs(bound.ss_family == AF_INET6 ? reinterpret_cast<sockaddr_in6*>(&bound)->sin6_port
                                                : reinterpret_cast<sockaddr_in*>(&bound)->sin_port);
    }
    key->networkSpecific.TCP.port = port_;
    net->acceptorPort = port_;
    accept_thread_ = std::thread([this] { AcceptLoop(); });
    log_->info("dicom.listen ae_title={} address={} port={} max_associations={}", options_.ae_title,
               options_.bind_address, port_, options_.max_associations);
    return Status();
  }

  std::uint16_t port() const override { return port_; }

  void Stop() override {
    if (stopping_.exchange(true)) return;
    if (accept_thread_.joinable()) accept_thread_.join();
    std::list<Worker> workers;
    {
      std::lock_guard<std::mutex> lock(mu_);
      workers.swap(workers_);
    }
    for (Worker& w : workers) w.thread.join();
    net_.reset();
  }

  DicomNodeCounters counters() const override {
    DicomNodeCounters c;
    c.associations = associations_;
    c.associations_rejected = rejected_;
    c.instances_received = instances_;
    c.bytes_received = bytes_;
    c.stores_refused = refused_;
    c.echoes = echoes_;
    return c;
  }

 private:
  void AcceptLoop() {
    while (!stopping_) {
      T_ASC_Association* raw = nullptr;
      OFCondition cond = ASC_receiveAssociation(net_.get(), &raw, kMaxReceivePdu, nullptr, nullptr,
                                                OFFalse, DUL_NOBLOCK, 1);
      AssociationPtr assoc(raw);
      if (cond == DUL_NOASSOCIATIONREQUEST) continue;
      if (cond.bad()) {
        log_->debug("dicom.accept_failed reason={}", cond.text());
        continue;
      }
      if (active_ >= options_.max_associations) {
        T_ASC_RejectParameters rej = {ASC_RESULT_REJECTEDTRANSIENT,
                                      ASC_SOURCE_SERVICEPROVIDER_PRESENTATION_RELATED,
                                      ASC_REASON_SP_PRES_LOCALLIMITEXCEEDED};
        (void)ASC_rejectAssociation(assoc.get(), &rej);
        ++rejected_;
        log_->warn("dicom.association_rejected reason=too_many active={}", active_.load());
        continue;
      }
      char calling[64] = {0};
      char called[64] = {0};
      (void)ASC_getAPTitles(assoc->params, calling, sizeof(calling), called, sizeof(called),
                            nullptr, 0);
      if (accepted_called_.count(called) == 0) {
        T_ASC_RejectParameters rej = {ASC_RESULT_REJECTEDPERMANENT, ASC_SOURCE_SERVICEUSER,
                                      ASC_REASON_SU_CALLEDAETITLENOTRECOGNIZED};
        (void)ASC_rejectAssociation(assoc.get(), &rej);
        ++rejected_;
        log_->warn("dicom.association_rejected reason=called_ae_unknown called={} calling={}",
                   called, calling);
        continue;
      }
      const char* echo_class[] = {UID_VerificationSOPClass};
      cond = ASC_acceptContextsWithPreferredTransferSyntaxes(assoc->params, echo_class, 1,
                                                             kEchoTransferSyntaxes, 2);
      if (cond.good()) {
        cond = ASC_acceptContextsWithPreferredTransferSyntaxes(
            assoc->params, dcmAllStorageSOPClassUIDs, numberOfDcmAllStorageSOPClassUIDs,
            kStorageTransferSyntaxes,
            static_cast<int>(sizeof(kStorageTransferSyntaxes) /
                             sizeof(kStorageTransferSyntaxes[0])));
      }
      if (cond.good()) cond = ASC_acknowledgeAssociation(assoc.get());
      if (cond.bad()) {
        log_->warn("dicom.association_failed reason={}", cond.text());
        continue;
      }
      ++associations_;
      ++active_;
      std::lock_guard<std::mutex> lock(mu_);
      ReapLocked();
      auto* shared = assoc.release();
      auto done = std::make_shared<std::atomic<bool>>(false);
      workers_.push_back(Worker{
          std::thread([this, shared, done, c = std::string(called), g = std::string(calling)] {
            Serve(AssociationPtr(shared), c, g);
            --active_;
            *done = true;
          }),
          done});
    }
  }

  // Joins the threads of associations that have ended; running ones are left alone.
  void ReapLocked() {
    for (auto it = workers_.begin(); it != workers_.end();) {
      if (*it->done) {
        it->thread.join();
        it = workers_.erase(it);
      } else {
        ++it;
      }
    }
  }

  void Serve(AssociationPtr assoc, const std::string& called, const std::string& calling) {
    ::pthread_setname_np(::pthread_self(), "tsu-dicom");
    log_->debug("dicom.association_start calling={} called={}", calling, called);
    // One line per association with the thread's CPU time: where the receiving time goes.
    struct EndLog {
      Node* node;
      const std::string& calling;
      std::chrono::steady_clock::time_point start = std::chrono::steady_clock::now();
      int stores = 0;
      ~EndLog() {
        timespec ts{};
        ::clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
        const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
            std::chrono::steady_clock::now() - start);
        node->log_->info("dicom.association_end calling={} stores={} cpu_ms={} duration_ms={}",
                         calling, stores, ts.tv_sec * 1000 + ts.tv_nsec / 1000000, ms.count());
      }
    } end_log{this, calling};
    for (;;) {
      T_DIMSE_Message msg;
      T_ASC_PresentationContextID pres_id = 0;
      OFCondition cond = DIMSE_receiveCommand(
          assoc.get(), DIMSE_NONBLOCKING, Seconds(options_.dimse_timeout), &pres_id, &msg, nullptr);
      if (cond == DUL_PEERREQUESTEDRELEASE) {
        (void)ASC_acknowledgeRelease(assoc.get());
        break;
      }
      if (cond == DUL_PEERABORTEDASSOCIATION) break;
      if (cond.bad()) {
        if (stopping_ || cond == DIMSE_NODATAAVAILABLE) {
          log_->debug("dicom.association_idle_abort calling={}", calling);
        } else {
          log_->warn("dicom.association_error calling={} reason={}", calling, cond.text());
        }
        (void)ASC_abortAssociation(assoc.get());
        break;
      }
      if (msg.CommandField == DIMSE_C_ECHO_RQ) {
        ++echoes_;
        cond =
            DIMSE_sendEchoResponse(assoc.get(), pres_id, &msg.msg.CEchoRQ, STATUS_Success, nullptr);
      } else if (msg.CommandField == DIMSE_C_STORE_RQ) {
        ++end_log.stores;
        cond = HandleStore(assoc.get(), pres_id, msg.msg.CStoreRQ, called, calling);
      } else {
        log_->warn("dicom.unsupported_command command={}", static_cast<unsigned>(msg.CommandField));
        cond = DIMSE_BADCOMMANDTYPE;
      }
      if (cond.bad()) {
        log_->warn("dicom.association_error calling={} reason={}", calling, cond.text());
        (void)ASC_abortAssociation(assoc.get());
        break;
      }
    }
  }

  OFCondition HandleStore(T_ASC_Association* assoc, T_ASC_PresentationContextID pres_id,
                          T_DIMSE_C_StoreRQ& req, const std::string& called,
                          const std::string& calling) {
    Status can = handler_->CheckCanReceive();
    if (!can.ok()) {
      // Read the data set off the wire without keeping it, then refuse.
      DIC_UL bytes = 0;
      DIC_UL pdvs = 0;
      OFCondition cond = DIMSE_ignoreDataSet(assoc, DIMSE_NONBLOCKING,
                                             Seconds(options_.dimse_timeout), &bytes, &pdvs);
      if (cond.bad()) return cond;
      ++refused_;
      log_->error("dicom.store_refused status=0xA700 reason=\"{}\"", can.message());
      return SendStoreResponse(assoc, pres_id, req,
                               can.code() == common::ErrorCode::kDiskFull ? kStatusOutOfResources
                                                                          : kStatusCannotProcess);
    }
    auto name = common::RandomBytes(12);
    if (!name.ok()) return SendStoreResponse(assoc, pres_id, req, kStatusCannotProcess);
    const std::filesystem::path file = options_.incoming_dir / (common::HexEncode(*name) + ".part");
    // DIMSE_storeProvider streams the data set into `file` (with a meta header) and sends the
    // response with the status set by the callback, which runs once the file is complete.
    struct Callback {
      Node* node;
      const std::filesystem::path* file;
      const std::string* called;
      const std::string* calling;
      T_DIMSE_C_StoreRQ* req;
      T_ASC_PresentationContextID pres_id;
      T_ASC_Association* assoc;
    } cb{this, &file, &called, &calling, &req, pres_id, assoc};
    OFCondition cond = DIMSE_storeProvider(
        assoc, pres_id, &req, file.c_str(), OFTrue, nullptr,
        [](void* data, T_DIMSE_StoreProgress* progress, T_DIMSE_C_StoreRQ*, char*, DcmDataset**,
           T_DIMSE_C_StoreRSP* response, DcmDataset**) {
          if (progress->state != DIMSE_StoreEnd) return;
          auto* c = static_cast<Callback*>(data);
          response->DimseStatus = c->node->Finish(*c->file, *c->req, *c->called, *c->calling);
        },
        &cb, DIMSE_NONBLOCKING, Seconds(options_.dimse_timeout));
    if (cond.bad()) {
      std::error_code ec;
      std::filesystem::remove(file, ec);
      log_->warn("dicom.store_failed calling={} reason={}", calling, cond.text());
    }
    return cond;
  }

  Uint16 Finish(const std::filesystem::path& file, const T_DIMSE_C_StoreRQ& req,
                const std::string& called, const std::string& calling) {
    std::error_code ec;
    ReceivedInstance in;
    in.called_ae_title = called;
    in.calling_ae_title = calling;
    in.file = file;
    in.bytes = std::filesystem::file_size(file, ec);
    if (ec) {
      ++refused_;
      log_->error("dicom.store_failed reason=\"received file missing\"");
      return kStatusCannotProcess;
    }
    {
      DcmFileFormat ff;
      // Only the head of the data set: every attribute read below comes before (0020,0010),
      // so parsing stops there, and values longer than 4 KiB are not loaded anyway. The whole
      // file is parsed when it is de-identified.
      OFCondition cond = ff.loadFileUntilTag(file.c_str(), EXS_Unknown, EGL_noChange, 4096,
                                             ERM_autoDetect, DCM_StudyID);
      if (cond.bad()) {
        std::filesystem::remove(file, ec);
        ++refused_;
        log_->warn("dicom.store_unreadable calling={} reason={}", calling, cond.text());
        return kStatusCannotProcess;
      }
      DcmDataset* ds = ff.getDataset();
      in.study_uid = Get(ds, DCM_StudyInstanceUID);
      in.series_uid = Get(ds, DCM_SeriesInstanceUID);
      in.sop_uid = Get(ds, DCM_SOPInstanceUID);
      in.sop_class_uid = Get(ds, DCM_SOPClassUID);
      in.modality = Get(ds, DCM_Modality);
      in.institution_department = Get(ds, DCM_InstitutionalDepartmentName);
      in.transfer_syntax_uid = Get(ff.getMetaInfo(), DCM_TransferSyntaxUID);
    }
    if (in.study_uid.empty() || in.sop_uid.empty() || in.series_uid.empty() ||
        in.sop_uid != req.AffectedSOPInstanceUID || in.sop_class_uid != req.AffectedSOPClassUID) {
      std::filesystem::remove(file, ec);
      ++refused_;
      log_->warn("dicom.store_mismatch calling={} reason=\"UIDs missing or not as in request\"",
                 calling);
      return kStatusDataSetMismatch;
    }
    Status st = handler_->OnReceived(in);
    if (!st.ok()) {
      std::filesystem::remove(file, ec);
      ++refused_;
      const bool full = st.code() == common::ErrorCode::kDiskFull;
      log_->error("dicom.store_refused status={} code={} reason=\"{}\"", full ? "0xA700" : "0xC000",
                  common::ErrorCodeName(st.code()), st.message());
      return full ? kStatusOutOfResources : kStatusCannotProcess;
    }
    ++instances_;
    bytes_ += in.bytes;
    return kStatusSuccess;
  }

  OFCondition SendStoreResponse(T_ASC_Association* assoc, T_ASC_PresentationContextID pres_id,
                                const T_DIMSE_C_StoreRQ& req, Uint16 status) {
    T_DIMSE_Message rsp;
    std::memset(&rsp, 0, sizeof(rsp));
    rsp.CommandField = DIMSE_C_STORE_RSP;
    T_DIMSE_C_StoreRSP& s = rsp.msg.CStoreRSP;
    s.MessageIDBeingRespondedTo = req.MessageID;
    s.DimseStatus = status;
    s.DataSetType = DIMSE_DATASET_NULL;
    OFStandard::strlcpy(s.AffectedSOPClassUID, req.AffectedSOPClassUID,
                        sizeof(s.AffectedSOPClassUID));
    OFStandard::strlcpy(s.AffectedSOPInstanceUID, req.AffectedSOPInstanceUID,
                        sizeof(s.AffectedSOPInstanceUID));
    s.opts = O_STORE_AFFECTEDSOPCLASSUID | O_STORE_AFFECTEDSOPINSTANCEUID;
    return DIMSE_sendMessageUsingMemoryData(assoc, pres_id, &rsp, nullptr, nullptr, nullptr,
                                            nullptr);
  }

  DicomNodeOptions options_;
  StoreHandler* handler_;
  std::shared_ptr<spdlog::logger> log_;
  std::set<std::string> accepted_called_;
  NetworkPtr net_;
  std::thread accept_thread_;
  std::atomic<bool> stopping_{false};
  std::atomic<int> active_{0};
  std::uint16_t port_ = 0;
  std::mutex mu_;
  struct Worker {
    std::thread thread;
    std::shared_ptr<std::atomic<bool>> done;
  };
  std::list<Worker> workers_;  // GUARDED_BY(mu_)
  std::atomic<std::uint64_t> associations_{0}, rejected_{0}, instances_{0}, bytes_{0}, refused_{0},
      echoes_{0};
};

}  // namespace

Status ConfigureDcmnetForProcess() {
  if (!dcmDataDict.isDictionaryLoaded()) {
    return common::FailedPreconditionError(
        "the DICOM data dictionary is not loaded (install dcmtk's dicom.dic or set DCMDICTPATH)");
  }
  ::setenv("TCP_NODELAY", "1", 1);
  // DCMTK's own log would print protocol chatter to the terminal and, at debug level, whole data
  // sets (names, IDs): the gateway logs what matters itself, without identifying values.
  OFLog::configure(OFLogger::OFF_LOG_LEVEL);
  return Status();
}

Result<std::unique_ptr<DicomNode>> StartDicomNode(DicomNodeOptions options, StoreHandler* handler,
                                                  std::shared_ptr<spdlog::logger> log) {
  std::error_code ec;
  std::filesystem::create_directories(options.incoming_dir, ec);
  if (ec) {
    return common::StatusFromErrno(ec.value(), "create " + options.incoming_dir.string());
  }
  auto node = std::make_unique<Node>(std::move(options), handler, std::move(log));
  TSUNAGU_RETURN_IF_ERROR(node->Listen());
  return std::unique_ptr<DicomNode>(std::move(node));
}

}  // namespace tsunagu::gateway
