#include <set>

#include "anonymizer_section.h"
#include "chat_config.h"
#include "file_checks.h"
#include "ipsec_config.h"
#include "toml_reader.h"
#include "tsunagu/common/logging.h"
#include "tsunagu/config/gateway_options.h"

namespace tsunagu::config {
namespace {

using internal::Errors;
using internal::Section;

common::Language ReadLanguage(Section& s, std::string_view key, common::Language fallback) {
  const std::string code = s.Choice(key, std::string(common::LanguageCode(fallback)), {"ja", "en"});
  return common::ParseLanguage(code).value_or(fallback);
}

std::string ReadLogLevel(Section& s) {
  return s.Choice("log_level", "info", {"trace", "debug", "info", "warn", "error", "off"});
}

DicomNodeOptions ReadDicom(Section s) {
  DicomNodeOptions o;
  o.ae_title = s.AeTitle("ae_title", o.ae_title);
  o.bind_address = s.String("bind_address", o.bind_address);
  o.port = s.Port("port", o.port);
  o.max_associations = static_cast<int>(s.Integer("max_associations", o.max_associations, 1, 64));
  o.acse_timeout = s.Duration("acse_timeout", o.acse_timeout, std::chrono::seconds(1));
  o.dimse_timeout = s.Duration("dimse_timeout", o.dimse_timeout, std::chrono::seconds(1));
  s.FinishUnknownKeys();
  return o;
}

std::optional<PacsOptions> ReadPacs(Section s) {
  if (!s.present()) return std::nullopt;
  PacsOptions o;
  o.host = s.RequiredString("host");
  o.port = s.Port("port", o.port);
  o.ae_title = s.AeTitle("ae_title", "");
  if (!s.Has("ae_title")) s.Error("ae_title", "required, but missing");
  o.dimse_timeout = s.Duration("dimse_timeout", o.dimse_timeout, std::chrono::seconds(1));
  o.move_deadline = s.Duration("move_deadline", o.move_deadline, std::chrono::seconds(1));
  o.max_move_retries = static_cast<int>(s.Integer("max_move_retries", o.max_move_retries, 0, 10));
  s.FinishUnknownKeys();
  return o;
}

StorageOptions ReadStorage(Section s) {
  StorageOptions o;
  o.data_directory = s.RequiredPath("data_directory");
  o.spool_directory = s.RequiredPath("spool_directory");
  o.spool_max_age = s.Duration("spool_max_age", o.spool_max_age, std::chrono::minutes(1));
  o.spool_min_free_bytes = s.ByteSize("spool_min_free", o.spool_min_free_bytes);
  s.FinishUnknownKeys();
  return o;
}

RelayEndpointOptions ReadRelay(Section s) {
  RelayEndpointOptions o;
  o.url = s.RequiredString("url");
  if (!o.url.empty() && o.url.rfind("https://", 0) != 0) {
    s.Error("url", "expected an https:// URL, got \"" + o.url + "\"");
  }
  o.ca_file = s.RequiredPath("ca_file");
  o.client_cert_file = s.RequiredPath("client_cert_file");
  o.client_key_file = s.RequiredPath("client_key_file");
  o.timeout = s.Duration("timeout", o.timeout, std::chrono::seconds(1));
  o.chunk_size = s.ByteSize("chunk_size", o.chunk_size);
  if (s.Has("chunk_size") && (o.chunk_size < (64ULL << 10) || o.chunk_size > (64ULL << 20))) {
    s.Error("chunk_size", "expected a size from 64KiB to 64MiB");
  }
  o.upload_connections =
      static_cast<int>(s.Integer("upload_connections", o.upload_connections, 1, 32));
  s.FinishUnknownKeys();
  return o;
}

WebOptions ReadWeb(Section s) {
  WebOptions o;
  o.bind_address = s.String("bind_address", o.bind_address);
  o.port = s.Port("port", o.port);
  s.FinishUnknownKeys();
  return o;
}

TransportOptions ReadTransport(Section s) {
  TransportOptions o;
  o.require_ipsec = s.Bool("require_ipsec", o.require_ipsec);
  s.FinishUnknownKeys();
  return o;
}

std::vector<ThreadOptions> ReadThreads(std::vector<Section> sections) {
  std::vector<ThreadOptions> out;
  std::map<std::string, std::string> seen;  // name -> key path of first use
  for (Section& s : sections) {
    ThreadOptions t;
    t.name = s.RequiredString("name");
    t.connector = s.RequiredString("connector");
    t.destination = s.String("destination", "");
    t.access_code_required = s.Bool("access_code_required", false);
    if (s.Has("retention")) {
      t.retention = s.Duration("retention", std::chrono::hours(72), std::chrono::minutes(1));
    }
    if (s.Has("language")) t.language = ReadLanguage(s, "language", common::Language::kJapanese);
    t.chat = internal::ReadChatThreadPolicy(s);
    if (!t.name.empty()) {
      auto [it, inserted] = seen.emplace(t.name, s.KeyPath("name"));
      if (!inserted) {
        s.Error("name",
                "duplicate thread name \"" + t.name + "\" (first used at " + it->second + ")");
      }
    }
    s.FinishUnknownKeys();
    out.push_back(std::move(t));
  }
  return out;
}

PushOptions ReadPush(Section s) {
  PushOptions o;
  o.quiet_period = s.Duration("quiet_period", o.quiet_period, std::chrono::seconds(1));
  s.FinishUnknownKeys();
  return o;
}

std::vector<RouteOptions> ReadRoutes(std::vector<Section> sections,
                                     const std::vector<ThreadOptions>& threads) {
  std::vector<RouteOptions> out;
  for (Section& s : sections) {
    RouteOptions r;
    r.thread = s.RequiredString("thread");
    if (!r.thread.empty()) {
      bool known = false;
      for (const ThreadOptions& t : threads) known = known || t.name == r.thread;
      if (!known)
        s.Error("thread", "expected the name of a [[threads]] entry, got \"" + r.thread + "\"");
    }
    if (s.Has("called_ae_title")) r.called_ae_title = s.AeTitle("called_ae_title", "");
    if (s.Has("calling_ae_title")) r.calling_ae_title = s.AeTitle("calling_ae_title", "");
    r.modality = s.String("modality", "");
    r.institution_department = s.String("institution_department", "");
    s.FinishUnknownKeys();
    out.push_back(std::move(r));
  }
  return out;
}

}  // namespace

common::Result<GatewayOptions> LoadGatewayConfig(const std::filesystem::path& path,
                                                 const LoadOptions& options) {
  Errors errors(path.string());
  std::optional<internal::TomlValue> doc = internal::ParseTomlFile(path, errors);
  if (!doc) return errors.ToStatus();
  const std::filesystem::path base = std::filesystem::absolute(path).parent_path();
  Section root(&errors, "", &*doc, base);

  GatewayOptions o;
  o.language = ReadLanguage(root, "language", o.language);
  o.log_level = ReadLogLevel(root);
  o.dicom = ReadDicom(root.Table("dicom"));
  o.pacs = ReadPacs(root.Table("pacs"));
  o.storage = ReadStorage(root.Table("storage"));
  o.anonymizer =
      internal::ReadAnonymizerSection(root.Table("anonymizer"), /*secret_required=*/true);
  o.relay = ReadRelay(root.Table("relay"));
  o.web = ReadWeb(root.Table("web"));
  o.transport = ReadTransport(root.Table("transport"));
  o.threads = ReadThreads(root.TableArray("threads"));
  o.push = ReadPush(root.Table("push"));
  o.routes = ReadRoutes(root.TableArray("routes"), o.threads);
  o.ipsec = internal::ReadIpsec(root.Table("ipsec"));
  o.chat = internal::ReadChat(root.Table("chat"));
  internal::CheckChatThreads(errors, o.chat, o.threads);
  root.FinishUnknownKeys();

  if (options.check_files) {
    internal::CheckSecretFile(errors, "anonymizer.secret_file", o.anonymizer.secret_file);
    for (std::size_t i = 0; i < o.anonymizer.previous_secret_files.size(); ++i) {
      internal::CheckSecretFile(errors,
                                "anonymizer.previous_secret_files[" + std::to_string(i) + "]",
                                o.anonymizer.previous_secret_files[i]);
    }
    internal::CheckSecretFile(errors, "relay.client_key_file", o.relay.client_key_file);
    internal::CheckReadableFile(errors, "relay.client_cert_file", o.relay.client_cert_file);
    internal::CheckReadableFile(errors, "relay.ca_file", o.relay.ca_file);
    internal::CheckIpsecFiles(errors, o.ipsec);
    internal::CheckChatFiles(errors, o.chat);
  }
  if (!errors.empty()) return errors.ToStatus();
  return o;
}

}  // namespace tsunagu::config
