// A one-request mutual-TLS probe of the relay's upload listener (GET /v1/health), for `doctor`:
// can this gateway reach the relay, does the relay accept its certificate, and how far apart are
// the two clocks. Plain OpenSSL on a socket with time limits, independent of the upload client.
#ifndef TSUNAGU_GATEWAY_RELAY_PROBE_H_
#define TSUNAGU_GATEWAY_RELAY_PROBE_H_

#include <chrono>
#include <filesystem>
#include <optional>
#include <string>

#include "tsunagu/common/clock.h"
#include "tsunagu/common/result.h"

namespace tsunagu::gateway {

struct RelayProbeOptions {
  std::string url;  // https://host:port
  std::filesystem::path ca_file;
  std::filesystem::path client_cert_file;
  std::filesystem::path client_key_file;
  std::chrono::milliseconds timeout{5000};  // for each of connect, handshake, answer
};

enum class RelayProbeStage { kConnect, kHandshake, kAnswer };

struct RelayProbeAnswer {
  int http_status = 0;
  // The relay's clock minus ours, estimated at the middle of the exchange; nullopt when the
  // relay does not report its time.
  std::optional<std::chrono::milliseconds> clock_skew;
};

struct RelayProbeFailure {
  RelayProbeStage stage = RelayProbeStage::kConnect;
  bool server_certificate_rejected = false;  // we did not trust the relay's certificate
  std::string detail;                        // for people; no identifying values
};

// Ok with the answer, or the failure. Never blocks longer than about 3 x options.timeout.
struct RelayProbeResult {
  std::optional<RelayProbeAnswer> answer;
  RelayProbeFailure failure;
};
RelayProbeResult ProbeRelay(const RelayProbeOptions& options, const common::Clock& clock);

}  // namespace tsunagu::gateway

#endif  // TSUNAGU_GATEWAY_RELAY_PROBE_H_
