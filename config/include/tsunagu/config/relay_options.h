// The relay's configuration (relay.toml), as validated plain structs.
//
// Every key and its default is documented in config/relay.example.toml.
#ifndef TSUNAGU_CONFIG_RELAY_OPTIONS_H_
#define TSUNAGU_CONFIG_RELAY_OPTIONS_H_

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "tsunagu/common/language.h"
#include "tsunagu/common/result.h"
#include "tsunagu/config/ipsec_options.h"
#include "tsunagu/config/load_options.h"

namespace tsunagu::config {

// The upload listener: gateways only, mutual TLS.
struct UploadListenerOptions {
  std::string bind_address = "127.0.0.1";
  std::uint16_t port = 8443;
  std::filesystem::path cert_file;
  std::filesystem::path key_file;            // permission-checked
  std::filesystem::path client_ca_file;      // CA that issues gateway client certificates
  std::vector<std::string> allowed_clients;  // subject common names of enrolled gateways
  std::uint64_t max_request_bytes = 64ULL << 20;
  // The relay re-checks every instance: a Patient ID longer than this is refused (the anonymizer
  // keeps only the last digits).
  int patient_id_max_length = 4;
};

// A named VOI window offered by the web viewer ([viewer.presets]), in modality units (HU for CT).
struct WindowPreset {
  std::string name;
  std::int64_t center = 0;
  std::int64_t width = 1;  // >= 1
  friend bool operator==(const WindowPreset&, const WindowPreset&) = default;
};

// Per modality (DICOM Modality code, e.g. "CT"), in display order. The defaults: CT brain 40/80,
// lung -600/1500, mediastinum 40/400, bone 400/1800, abdomen 50/350.
std::map<std::string, std::vector<WindowPreset>> DefaultWindowPresets();

// The viewer listener: doctors open links here.
struct ViewerListenerOptions {
  std::string bind_address = "127.0.0.1";
  std::uint16_t port = 8444;
  std::filesystem::path cert_file;
  std::filesystem::path key_file;  // permission-checked
  std::string public_url;          // base of the links posted to chat, https://...
  std::vector<std::string> cors_origins;
  // The web viewer's files (index.html, viewer.js, ...), served under /v/<token>/.
  std::filesystem::path assets_directory = "/usr/share/tsunagu/viewer";
  // [viewer.presets]: replaces the defaults when present.
  std::map<std::string, std::vector<WindowPreset>> window_presets = DefaultWindowPresets();
  // render_cache_size: rendered frames, thumbnails and summaries kept in the relay's memory
  // (plaintext, never on disk unencrypted), at least 1 MiB.
  std::uint64_t render_cache_bytes = 128ULL << 20;
  // instance_cache_size: decrypted instances opened for rendering kept in memory, so that
  // scrolling does not decrypt and parse an instance per frame; at least 1 MiB.
  std::uint64_t instance_cache_bytes = 256ULL << 20;
};

struct RelayStoreOptions {
  std::filesystem::path data_directory;
  // The per-study keys. Outside the data directory and outside its backups, so that a copy of
  // the data directory is unreadable once a study's key is destroyed. Empty: <data_directory>/keys.
  std::filesystem::path key_directory;
  std::uint64_t quota_bytes = 100ULL << 30;
};

struct RetentionOptions {
  std::chrono::milliseconds period = std::chrono::hours(72);
  std::chrono::milliseconds purge_interval = std::chrono::seconds(30);
  // Per gateway (client certificate common name): a shorter or equal period.
  std::map<std::string, std::chrono::milliseconds> per_gateway;
};

struct LinkOptions {
  int access_code_max_failures = 5;
  std::chrono::milliseconds revocation_cache = std::chrono::seconds(2);
};

// The Prometheus endpoint, GET /metrics over plain HTTP on its own listener: loopback by default
// (scrape it from a Prometheus on the same host, or through a management network you choose).
struct RelayMetricsOptions {
  bool enabled = true;
  std::string bind_address = "127.0.0.1";
  std::uint16_t port = 8445;
};

struct RelayOptions {
  common::Language language = common::Language::kJapanese;
  std::string log_level = "info";
  UploadListenerOptions upload;
  ViewerListenerOptions viewer;
  RelayStoreOptions store;
  RetentionOptions retention;
  LinkOptions links;
  RelayMetricsOptions metrics;
  IpsecOptions ipsec;  // absent unless [ipsec] is configured
};

// Loads and validates `path`; errors as LoadGatewayConfig.
common::Result<RelayOptions> LoadRelayConfig(const std::filesystem::path& path,
                                             const LoadOptions& options = {});

}  // namespace tsunagu::config

#endif  // TSUNAGU_CONFIG_RELAY_OPTIONS_H_
