// The gateway's configuration (gateway.toml), as validated plain structs.
//
// Every key and its default is documented in config/gateway.example.toml; keep the two in step
// (a test loads the example and checks the defaults).
#ifndef TSUNAGU_CONFIG_GATEWAY_OPTIONS_H_
#define TSUNAGU_CONFIG_GATEWAY_OPTIONS_H_

#include <array>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "tsunagu/common/language.h"
#include "tsunagu/common/result.h"
#include "tsunagu/config/chat_options.h"
#include "tsunagu/config/ipsec_options.h"
#include "tsunagu/config/load_options.h"

namespace tsunagu::config {

using std::chrono::milliseconds;

// The gateway's own DICOM node (C-ECHO, C-STORE SCP; the C-MOVE destination).
struct DicomNodeOptions {
  std::string ae_title = "TSUNAGU";
  std::string bind_address = "0.0.0.0";
  std::uint16_t port = 11112;
  int max_associations = 8;
  milliseconds acse_timeout = std::chrono::seconds(30);
  milliseconds dimse_timeout = std::chrono::seconds(60);
};

// The hospital PACS the gateway queries and retrieves from. Optional: a gateway that only
// receives pushed studies has none.
struct PacsOptions {
  std::string host;
  std::uint16_t port = 104;
  std::string ae_title;
  milliseconds dimse_timeout = std::chrono::seconds(60);
  milliseconds move_deadline = std::chrono::minutes(30);
  int max_move_retries = 3;
};

// Where identified data is spooled and the job database lives.
struct StorageOptions {
  std::filesystem::path data_directory;   // job database (SQLite)
  std::filesystem::path spool_directory;  // identified instances, only as long as needed
  milliseconds spool_max_age = std::chrono::hours(24);
  std::uint64_t spool_min_free_bytes = 2ULL << 30;
};

// A private attribute kept by the Retain Safe Private Option ([[anonymizer.safe_private]]).
struct SafePrivateOption {
  std::uint16_t group = 0;   // odd
  std::string creator;       // private creator value, exact
  std::uint8_t element = 0;  // low byte of the element number
};

// Burned-in text masking for instances matching manufacturer / model / rows x columns
// ([[anonymizer.pixel_mask]]); each rectangle is {left, top, right, bottom} in pixels.
struct PixelMaskOption {
  std::string manufacturer;
  std::string model;
  std::uint32_t rows = 0;
  std::uint32_t columns = 0;
  std::vector<std::array<std::uint32_t, 4>> rectangles;
};

struct AnonymizerOptions {
  std::string profile = "share";
  std::filesystem::path secret_file;  // site secret for HMAC UIDs; permission-checked
  // Retired site secrets, newest first (key rotation): a study or patient first seen under one of
  // them keeps its de-identified UIDs and chat room. Permission-checked like secret_file.
  std::vector<std::filesystem::path> previous_secret_files;
  int patient_id_keep = 4;  // characters of the Patient ID retained on purpose
  std::vector<SafePrivateOption> safe_private;
  std::vector<PixelMaskOption> pixel_mask;
};

// The off-site relay, reached over mutual TLS.
struct RelayEndpointOptions {
  std::string url;  // https://host:port
  std::filesystem::path ca_file;
  std::filesystem::path client_cert_file;
  std::filesystem::path client_key_file;  // permission-checked
  milliseconds timeout = std::chrono::seconds(60);
  std::uint64_t chunk_size = 8ULL << 20;
  // Instances uploaded at once, each on its own keep-alive TLS connection (1–32). One instance
  // at a time leaves the link idle for a round trip per instance; a few overlap them.
  int upload_connections = 4;
};

// The send page, /healthz and /metrics (inside the hospital only).
struct WebOptions {
  std::string bind_address = "127.0.0.1";
  std::uint16_t port = 8080;
};

struct TransportOptions {
  bool require_ipsec = true;  // check the strongSwan child SA before each upload
};

// A chat thread studies can be sent to.
struct ThreadOptions {
  std::string name;
  std::string connector;
  std::string destination;
  bool access_code_required = false;
  std::optional<milliseconds> retention;  // overrides the relay's period, never longer
  std::optional<common::Language> language;
  ChatThreadPolicy chat;  // per_patient, room_label, invite, thumbnails, seen_receipts
};

// How studies pushed to the gateway (C-STORE from a modality or the PACS "send to" button) are
// routed to a thread. A route matches when every condition it sets matches (empty = any); the
// first matching route wins. Instances that arrive for a study the gateway is retrieving itself
// belong to that send and are not routed.
struct RouteOptions {
  std::string thread;                  // must name a [[threads]] entry
  std::string called_ae_title;         // the AE title the sender called
  std::string calling_ae_title;        // the sender's AE title
  std::string modality;                // (0008,0060) of the instance
  std::string institution_department;  // (0008,1040) of the instance
};

// Pushed studies.
struct PushOptions {
  // A pushed study is complete when no instance of it has arrived for this long.
  milliseconds quiet_period = std::chrono::seconds(30);
};

struct GatewayOptions {
  common::Language language = common::Language::kJapanese;
  std::string log_level = "info";
  DicomNodeOptions dicom;
  std::optional<PacsOptions> pacs;
  StorageOptions storage;
  AnonymizerOptions anonymizer;
  RelayEndpointOptions relay;
  WebOptions web;
  TransportOptions transport;
  IpsecOptions ipsec;  // absent unless [ipsec] is configured
  std::vector<ThreadOptions> threads;
  ChatOptions chat;  // [chat] and [[chat.connectors]]
  PushOptions push;
  std::vector<RouteOptions> routes;
};

// Loads and validates `path`. On error returns kInvalidArgument whose message holds one line per
// problem, each "<path>: <key>: <what was expected>, got <value>" (or "<path>: <problem>" for the
// file as a whole). Unknown keys are errors. Never includes the content of a secret file.
common::Result<GatewayOptions> LoadGatewayConfig(const std::filesystem::path& path,
                                                 const LoadOptions& options = {});

}  // namespace tsunagu::config

#endif  // TSUNAGU_CONFIG_GATEWAY_OPTIONS_H_
