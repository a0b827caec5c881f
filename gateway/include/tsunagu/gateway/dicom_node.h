// DicomNode: the gateway's own DICOM node (C-ECHO and C-STORE SCP), on DCMTK dcmnet.
//
// Each association runs in its own thread (up to max_associations; more are rejected as
// transient). Every received data set is streamed straight to a file under `incoming_dir`
// (never held whole in memory), then handed to the StoreHandler, which decides the C-STORE
// status. TCP_NODELAY is set on every socket (ConfigureDcmnetForProcess).
#ifndef TSUNAGU_GATEWAY_DICOM_NODE_H_
#define TSUNAGU_GATEWAY_DICOM_NODE_H_

#include <spdlog/logger.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "tsunagu/common/result.h"

namespace tsunagu::gateway {

// Process-wide DCMTK set-up, called once from main (and from test main) before any thread:
// checks the data dictionary is loaded and sets TCP_NODELAY=1 in the environment, which dcmnet
// reads at every association (Debian's DCMTK is built without DISABLE_NAGLE_ALGORITHM; without it
// each C-STORE-RSP waits ~40 ms for a delayed ACK). kFailedPrecondition without a dictionary.
common::Status ConfigureDcmnetForProcess();

// What the node read from a received instance (the attributes needed to route and index it).
// Identifying values: never log them.
struct ReceivedInstance {
  std::string called_ae_title;
  std::string calling_ae_title;
  std::string study_uid;
  std::string series_uid;
  std::string sop_uid;
  std::string sop_class_uid;
  std::string modality;
  std::string institution_department;
  std::string transfer_syntax_uid;
  std::filesystem::path file;  // the received file (with meta header), in incoming_dir
  std::uint64_t bytes = 0;
};

class StoreHandler {
 public:
  virtual ~StoreHandler() = default;
  // Called before a data set is received. A non-OK status refuses it without writing anything:
  // kDiskFull answers 0xA700 (Refused: out of resources).
  virtual common::Status CheckCanReceive() = 0;
  // Takes ownership of `instance.file` (moves or deletes it). OK answers 0x0000; kDiskFull 0xA700;
  // anything else 0xC000 (Error: cannot process).
  virtual common::Status OnReceived(const ReceivedInstance& instance) = 0;
};

struct DicomNodeOptions {
  std::string ae_title;
  std::vector<std::string> extra_called_ae_titles;  // also accepted (routing by called AE)
  // IP address to listen on: "0.0.0.0" every IPv4 address, "::" every address, or one address
  // of this host (e.g. the interface towards the modalities).
  std::string bind_address = "0.0.0.0";
  std::uint16_t port = 11112;  // 0: any free port (see DicomNode::port())
  int max_associations = 8;
  std::chrono::milliseconds acse_timeout = std::chrono::seconds(30);
  std::chrono::milliseconds dimse_timeout = std::chrono::seconds(60);
  std::filesystem::path incoming_dir;
};

struct DicomNodeCounters {
  std::uint64_t associations = 0;
  std::uint64_t associations_rejected = 0;
  std::uint64_t instances_received = 0;
  std::uint64_t bytes_received = 0;
  std::uint64_t stores_refused = 0;  // answered with a non-success status
  std::uint64_t echoes = 0;
};

class DicomNode {
 public:
  virtual ~DicomNode() = default;
  // Stops accepting, waits for running associations to end (bounded by the DIMSE timeout).
  virtual void Stop() = 0;
  virtual DicomNodeCounters counters() const = 0;
  // The port the node listens on.
  virtual std::uint16_t port() const = 0;
};

// Binds bind_address:port and starts the listener thread. kInvalidArgument when bind_address is
// not an IP address; kUnavailable when it cannot be bound (in use, not an address of this host).
// `handler` must outlive the node.
common::Result<std::unique_ptr<DicomNode>> StartDicomNode(DicomNodeOptions options,
                                                          StoreHandler* handler,
                                                          std::shared_ptr<spdlog::logger> log);

}  // namespace tsunagu::gateway

#endif  // TSUNAGU_GATEWAY_DICOM_NODE_H_
