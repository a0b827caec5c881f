// A TLS certificate (chain + key) that can be replaced while the process runs: the relay's
// server certificates and the gateway's client certificate. The SSL_CTX gets a certificate
// callback that, at each handshake, installs the current pair; Reload() reads the files again and
// swaps the pair only when the new one is whole (chain parses, key matches), so a half-copied
// renewal never replaces a working certificate. Connections already open keep the certificate they
// were made with.
#ifndef TSUNAGU_COMMON_RELOADABLE_CERTIFICATE_H_
#define TSUNAGU_COMMON_RELOADABLE_CERTIFICATE_H_

#include <filesystem>
#include <memory>
#include <mutex>
#include <string>

#include "tsunagu/common/result.h"
#include "tsunagu/common/status.h"

typedef struct ssl_ctx_st SSL_CTX;
typedef struct ssl_st SSL;

namespace tsunagu::common {

class ReloadableCertificate {
 public:
  // Loads the files now. kInvalidArgument when they do not parse or the key does not match.
  static common::Result<std::shared_ptr<ReloadableCertificate>> Load(
      std::filesystem::path cert_file, std::filesystem::path key_file);
  ~ReloadableCertificate();

  // Reads the files again; on success later handshakes use the new pair. On failure the current
  // pair stays and the error says why. Thread-safe.
  common::Status Reload();

  // Makes `ctx` serve this certificate (a callback picks the current pair at each handshake).
  // The object must outlive `ctx`.
  void Install(SSL_CTX* ctx);

  // "serial=<hex> not_after=<date>" of the pair in use, for logs.
  std::string Describe() const;

  struct Pair;

 private:
  ReloadableCertificate(std::filesystem::path cert_file, std::filesystem::path key_file);
  static int OnHandshake(SSL* ssl, void* self);

  const std::filesystem::path cert_file_;
  const std::filesystem::path key_file_;
  mutable std::mutex mu_;
  std::shared_ptr<const Pair> current_;  // GUARDED_BY(mu_)
};

}  // namespace tsunagu::common

#endif  // TSUNAGU_COMMON_RELOADABLE_CERTIFICATE_H_
