// RelayClient: the gateway's side of the upload protocol (relay/PROTOCOL.md).
//
// A RelayClient talks HTTPS with mutual TLS to one tsunagu-relay. Every call is idempotent and
// may be repeated after any failure (a lost answer, a restart of either side): uploads resume
// from what the relay already holds, and a repeated commit answers success.
//
// Errors are common::Status values whose retryable() is meaningful:
//   kUnavailable, kDeadlineExceeded (network, TLS, 5xx)   retryable
//   kDiskFull (relay store at its quota, HTTP 507)         retryable: the relay frees space when
//                                                          studies expire
//   kResourceExhausted (HTTP 429)                          retryable
//   kInvalidArgument, kDeidentificationRefused, kIntegrity,
//   kUnauthenticated, kPermissionDenied, kNotFound,
//   kAlreadyExists, kFailedPrecondition (4xx)              not retryable: fix the input
// The client itself retries retryable failures with exponential backoff up to
// RelayClientOptions::max_attempts before returning the last error.
//
// Thread-safety: a RelayClient may be shared by several threads.
#ifndef TSUNAGU_RELAY_RELAY_CLIENT_H_
#define TSUNAGU_RELAY_RELAY_CLIENT_H_

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "tsunagu/common/clock.h"
#include "tsunagu/common/reloadable_certificate.h"
#include "tsunagu/common/result.h"
#include "tsunagu/common/status.h"

namespace spdlog {
class logger;
}

namespace tsunagu::relay {

struct RelayClientOptions {
  std::string base_url;                    // https://relay.example.jp:8443 (no trailing path)
  std::filesystem::path ca_file;           // CA that issued the relay's server certificate
  std::filesystem::path client_cert_file;  // this gateway's enrolment certificate
  std::filesystem::path client_key_file;
  std::chrono::milliseconds timeout{30'000};  // per HTTP request
  std::uint64_t chunk_size = 8ULL << 20;      // bytes per PUT; at most the relay's max_request_size
  int max_attempts = 5;                       // per request, for retryable failures
  std::chrono::milliseconds initial_backoff{200};
  std::chrono::milliseconds max_backoff{10'000};
  // When set, presented instead of client_cert_file/client_key_file and replaceable while running
  // (the gateway reloads it on SIGHUP); never a half-renewed pair read from the files.
  std::shared_ptr<common::ReloadableCertificate> client_certificate;
};

// One instance the gateway has uploaded, as listed in a commit.
struct InstanceRef {
  std::string sop_instance_uid;
  std::string sha256_hex;  // SHA-256 of the whole instance file, lower-case hex
  std::uint64_t size = 0;  // bytes
};

struct CommitRequest {
  std::string study_uid;  // the de-identified Study Instance UID
  std::vector<InstanceRef> instances;
  std::string thread;                      // chat thread name, recorded for the audit log
  std::optional<std::string> access_code;  // PIN the viewer must enter; none when absent
  // Shorter retention than the relay's configured period; the relay never keeps a study longer
  // than its own period.
  std::optional<std::chrono::milliseconds> retention;
};

struct CommitResult {
  // The viewer link to post in chat. It embeds a fresh link token: the relay stores tokens only
  // as hashes, so a repeated commit mints a new link (every link expires with the study).
  std::string viewer_url;
  std::chrono::system_clock::time_point expires_at;
  bool already_committed = false;  // true when the study had been committed before
};

// Proof that the relay destroyed a study (its key first, then its files).
struct DeletionReceipt {
  std::string study_uid;
  std::chrono::system_clock::time_point deleted_at;
  std::uint64_t instance_count = 0;
  std::string reason;  // "expired", "abandoned" (never committed)
};

class RelayClient {
 public:
  virtual ~RelayClient() = default;

  // Uploads one de-identified instance file in chunks of options.chunk_size, resuming from what
  // the relay already has. OK when the relay holds the whole instance and it passed the relay's
  // checks (also when it already held it). kIntegrity when the relay's copy does not match the
  // file's SHA-256, kDeidentificationRefused when the relay's re-check rejects the instance,
  // kDiskFull (retryable) when the relay's store is at its quota, kNotFound if `file` is missing.
  virtual common::Status UploadInstance(const std::string& study_uid, const std::string& sop_uid,
                                        const std::filesystem::path& file) = 0;

  // As UploadInstance, for a caller that already knows the file's SHA-256 and size (the gateway
  // records both when it de-identifies an instance): the client sends `known.sha256_hex` instead
  // of hashing the file again. The relay still checks every byte against it. Errors as
  // UploadInstance, and: kInvalidArgument when the file's size is not `known.size` or the hash
  // is not 64 lower-case hex digits; kDataLoss (not retryable) when the relay finds the content
  // damaged and the file itself no longer matches `known.sha256_hex` (the client then hashes
  // the file once to tell that from damage in transit). The default ignores the hint and calls
  // UploadInstance.
  virtual common::Status UploadKnownInstance(const std::string& study_uid, const InstanceRef& known,
                                             const std::filesystem::path& file);

  // Makes the study visible to viewers atomically, with exactly the listed instances, and returns
  // its link. kFailedPrecondition when an instance is missing or differs from the list;
  // kAlreadyExists when the study was committed before with a different list.
  virtual common::Result<CommitResult> Commit(const CommitRequest& request) = 0;

  // The deletion receipt of a study. kNotFound while the study has not been deleted (or was never
  // known to the relay).
  virtual common::Result<DeletionReceipt> GetReceipt(const std::string& study_uid) = 0;

  // Revokes every link of the study; the relay refuses them from its next request on (within its
  // revocation cache, at most a few seconds). OK if the study has no links.
  virtual common::Status RevokeLinks(const std::string& study_uid) = 0;

  // When a link of the study was first opened (seen receipts for chat, issue 9): nullopt while
  // none has been. Time only: the relay never says who or from where. kNotFound for a study the
  // relay does not know; kFailedPrecondition where the client does not support it.
  virtual common::Result<std::optional<std::chrono::system_clock::time_point>> FirstOpened(
      const std::string& study_uid);

  // FirstOpened and whether the study's links were revoked at the relay, in one request. The
  // default asks FirstOpened and reports revoked = false.
  struct LinkEvents {
    std::optional<std::chrono::system_clock::time_point> first_opened;
    bool revoked = false;
  };
  virtual common::Result<LinkEvents> GetLinkEvents(const std::string& study_uid);

  // A link to a thumbnail of the committed study under its own token (chat cards, issue 9): it
  // opens that thumbnail only and stops working when the study expires. kNotFound for a study
  // the relay does not hold; kFailedPrecondition where the client does not support it.
  virtual common::Result<std::string> ThumbnailLink(const std::string& study_uid);
};

struct RelayClientDeps {
  std::shared_ptr<common::Clock> clock;    // required
  std::shared_ptr<spdlog::logger> logger;  // required
  // Waits between retries; tests replace it. Defaults to std::this_thread::sleep_for.
  std::function<void(std::chrono::milliseconds)> sleep;
};

// An HTTPS RelayClient (cpprestsdk underneath). kInvalidArgument for a base_url that is not
// https://, kNotFound / kInvalidArgument when a certificate or key cannot be loaded.
common::Result<std::unique_ptr<RelayClient>> MakeHttpsRelayClient(RelayClientOptions options,
                                                                  RelayClientDeps deps);

}  // namespace tsunagu::relay

#endif  // TSUNAGU_RELAY_RELAY_CLIENT_H_
