// Helpers for the relay's integration tests: test certificates made with the openssl CLI,
// small de-identified-looking DICOM instances made with DCMTK, the real tsunagu-relay process,
// and a plain HTTPS client. Everything binds 127.0.0.1 and every wait is bounded.
#ifndef TSUNAGU_TESTS_INTEGRATION_RELAY_RELAY_TEST_ENV_H_
#define TSUNAGU_TESTS_INTEGRATION_RELAY_RELAY_TEST_ENV_H_

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace tsunagu::relay::testing {

std::filesystem::path MakeTempDir(const std::string& name);
std::string ReadFile(const std::filesystem::path& p);
void WriteFile(const std::filesystem::path& p, const std::string& data);
std::uint16_t FreePort();
// Runs a shell command; returns its exit status.
int Shell(const std::string& command);

// A CA, the relay's server certificate (127.0.0.1, localhost), two enrolled gateway client
// certificates (CN gateway.test and gateway2.test), an unenrolled one from the same CA (CN
// rogue.test) and one from another CA with the enrolled name.
struct TestPki {
  std::filesystem::path dir;
  std::filesystem::path ca, server_cert, server_key;
  std::filesystem::path gateway_cert, gateway_key;
  std::filesystem::path gateway2_cert, gateway2_key;
  std::filesystem::path rogue_cert, rogue_key;
  std::filesystem::path foreign_cert, foreign_key;
  static TestPki Create(const std::filesystem::path& dir);
};

struct InstanceSpec {
  std::string study_uid;
  std::string series_uid;
  std::string sop_uid;
  std::string patient_id = "5678";
  bool identity_removed = true;
  bool private_tag = false;
  bool private_tag_in_sequence = false;
  int frames = 1;
  int rows = 16, cols = 16;
  int instance_number = 1;
};

// Writes an instance (Explicit VR Little Endian, 16-bit MONOCHROME2, pixel value of frame f at
// index i = (f * 1000 + i) & 0x0fff) and returns its pixel bytes per frame.
std::vector<std::string> WriteInstance(const std::filesystem::path& path, const InstanceSpec& s);

struct HttpReply {
  int status = 0;  // 0: no HTTP answer (TLS or connection failure)
  std::string error;
  std::map<std::string, std::string> headers;  // lower-case names
  std::string body;
};

struct HttpsClientCert {
  std::filesystem::path cert, key;
};

HttpReply Https(const std::string& method, const std::string& url,
                const std::map<std::string, std::string>& headers, const std::string& body,
                const std::filesystem::path& ca, std::optional<HttpsClientCert> client = {});

// Sends raw bytes on a plain TCP connection and returns what comes back within 3 s.
std::string RawExchange(std::uint16_t port, const std::string& bytes);

struct RelayConfig {
  std::filesystem::path dir;  // config, data, keys, log live here
  std::string retention = "3d";
  std::string purge_interval = "30s";
  std::string quota = "1GiB";
  std::string max_request_size = "4MiB";
  std::string extra;  // appended TOML
  // [viewer] assets_directory: the web viewer's files in the source tree.
  std::string viewer_assets = TSUNAGU_VIEWER_ASSETS;
};

// The real tsunagu-relay process.
class RelayProcess {
 public:
  RelayProcess(const TestPki& pki, RelayConfig config);
  ~RelayProcess();
  // Starts the service and waits (at most 15 s) until both ports accept connections.
  bool Start();
  void Stop();  // SIGTERM, then SIGKILL after 10 s
  void Kill();  // SIGKILL
  // Runs a sub-command (purge --now, revoke, audit) against the same config; returns exit status
  // and stdout.
  std::pair<int, std::string> Command(const std::string& args) const;

  std::string upload_url() const { return "https://127.0.0.1:" + std::to_string(upload_port_); }
  std::string viewer_url() const { return "https://127.0.0.1:" + std::to_string(viewer_port_); }
  std::uint16_t upload_port() const { return upload_port_; }
  std::filesystem::path data_dir() const { return config_.dir / "data"; }
  std::filesystem::path key_dir() const { return config_.dir / "keys"; }
  std::filesystem::path config_file() const { return config_.dir / "relay.toml"; }
  std::string Log() const { return ReadFile(config_.dir / "relay.log"); }

 private:
  const TestPki& pki_;
  RelayConfig config_;
  std::uint16_t upload_port_;
  std::uint16_t viewer_port_;
  pid_t pid_ = -1;
};

}  // namespace tsunagu::relay::testing

#endif  // TSUNAGU_TESTS_INTEGRATION_RELAY_RELAY_TEST_ENV_H_
