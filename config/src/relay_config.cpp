#include <algorithm>

#include "file_checks.h"
#include "ipsec_config.h"
#include "toml_reader.h"
#include "tsunagu/common/units.h"
#include "tsunagu/config/relay_options.h"

namespace tsunagu::config {
namespace {

using internal::Errors;
using internal::Section;

UploadListenerOptions ReadUpload(Section s) {
  UploadListenerOptions o;
  o.bind_address = s.String("bind_address", o.bind_address);
  o.port = s.Port("port", o.port);
  o.cert_file = s.RequiredPath("cert_file");
  o.key_file = s.RequiredPath("key_file");
  o.client_ca_file = s.RequiredPath("client_ca_file");
  o.allowed_clients = s.StringList("allowed_clients");
  if (s.present() && o.allowed_clients.empty()) {
    s.Error("allowed_clients",
            "expected at least one enrolled gateway (client certificate common name)");
  }
  o.max_request_bytes = s.ByteSize("max_request_size", o.max_request_bytes);
  o.patient_id_max_length =
      static_cast<int>(s.Integer("patient_id_max_length", o.patient_id_max_length, 1, 64));
  s.FinishUnknownKeys();
  return o;
}

// [viewer.presets]: MODALITY = [{ name = "...", center = C, width = W }, ...]
std::map<std::string, std::vector<WindowPreset>> ReadPresets(Section s) {
  std::map<std::string, std::vector<WindowPreset>> out;
  for (const std::string& modality : s.Keys()) {
    const bool code = !modality.empty() && modality.size() <= 16 &&
                      std::all_of(modality.begin(), modality.end(), [](char c) {
                        return (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
                      });
    if (!code) {
      s.Error(modality,
              "expected a DICOM modality code such as CT (upper case), got \"" + modality + "\"");
      continue;
    }
    std::vector<WindowPreset>& presets = out[modality];
    for (Section item : s.TableArray(modality)) {
      WindowPreset p;
      p.name = item.RequiredString("name");
      p.center = item.Integer("center", 0, -100000, 100000);
      p.width = item.Integer("width", 1, 1, 200000);
      if (!item.Has("center")) item.Error("center", "required, but missing");
      if (!item.Has("width")) item.Error("width", "required, but missing");
      for (const WindowPreset& other : presets) {
        if (!p.name.empty() && other.name == p.name) {
          item.Error("name", "duplicate preset \"" + p.name + "\" for " + modality);
        }
      }
      item.FinishUnknownKeys();
      presets.push_back(std::move(p));
    }
  }
  return out;
}

ViewerListenerOptions ReadViewer(Section s) {
  ViewerListenerOptions o;
  o.bind_address = s.String("bind_address", o.bind_address);
  o.port = s.Port("port", o.port);
  o.cert_file = s.RequiredPath("cert_file");
  o.key_file = s.RequiredPath("key_file");
  o.public_url = s.RequiredString("public_url");
  if (!o.public_url.empty() && o.public_url.rfind("https://", 0) != 0) {
    s.Error("public_url", "expected an https:// URL, got \"" + o.public_url + "\"");
  }
  o.cors_origins = s.StringList("cors_origins");
  o.assets_directory = s.Path("assets_directory", o.assets_directory);
  if (s.Has("presets")) o.window_presets = ReadPresets(s.Table("presets"));
  for (auto [key, bytes] : {std::pair{"render_cache_size", &o.render_cache_bytes},
                            std::pair{"instance_cache_size", &o.instance_cache_bytes}}) {
    *bytes = s.ByteSize(key, *bytes);
    if (*bytes < (1ULL << 20)) {
      s.Error(key, "expected at least \"1MiB\", got " + std::to_string(*bytes) + " bytes");
      *bytes = 1ULL << 20;
    }
  }
  s.FinishUnknownKeys();
  return o;
}

RelayStoreOptions ReadStore(Section s) {
  RelayStoreOptions o;
  o.data_directory = s.RequiredPath("data_directory");
  o.key_directory = s.Path("key_directory", {});
  o.quota_bytes = s.ByteSize("quota", o.quota_bytes);
  s.FinishUnknownKeys();
  return o;
}

RetentionOptions ReadRetention(Section s) {
  RetentionOptions o;
  o.period = s.Duration("period", o.period, std::chrono::seconds(1));
  o.purge_interval = s.Duration("purge_interval", o.purge_interval, std::chrono::seconds(1));
  if (o.purge_interval > std::chrono::minutes(1)) {
    s.Error("purge_interval", "expected at most 1m (expired studies must go within a minute)");
  }
  Section per = s.Table("per_gateway");
  for (const std::string& gateway : per.Keys()) {
    const auto d = per.Duration(gateway, o.period, std::chrono::seconds(1));
    if (d > o.period) {
      per.Error(gateway, "expected a period no longer than retention.period (" +
                             common::FormatDuration(o.period) + ")");
    }
    o.per_gateway[gateway] = d;
  }
  s.FinishUnknownKeys();
  return o;
}

LinkOptions ReadLinks(Section s) {
  LinkOptions o;
  o.access_code_max_failures =
      static_cast<int>(s.Integer("access_code_max_failures", o.access_code_max_failures, 1, 100));
  o.revocation_cache = s.Duration("revocation_cache", o.revocation_cache);
  if (o.revocation_cache > std::chrono::seconds(5)) {
    s.Error("revocation_cache", "expected at most 5s (revocation must take effect quickly)");
  }
  s.FinishUnknownKeys();
  return o;
}

RelayMetricsOptions ReadMetrics(Section s) {
  RelayMetricsOptions o;
  o.enabled = s.Bool("enabled", o.enabled);
  o.bind_address = s.String("bind_address", o.bind_address);
  o.port = s.Port("port", o.port);
  s.FinishUnknownKeys();
  return o;
}

}  // namespace

std::map<std::string, std::vector<WindowPreset>> DefaultWindowPresets() {
  return {{"CT",
           {{"brain", 40, 80},
            {"lung", -600, 1500},
            {"mediastinum", 40, 400},
            {"bone", 400, 1800},
            {"abdomen", 50, 350}}}};
}

common::Result<RelayOptions> LoadRelayConfig(const std::filesystem::path& path,
                                             const LoadOptions& options) {
  Errors errors(path.string());
  std::optional<internal::TomlValue> doc = internal::ParseTomlFile(path, errors);
  if (!doc) return errors.ToStatus();
  const std::filesystem::path base = std::filesystem::absolute(path).parent_path();
  Section root(&errors, "", &*doc, base);

  RelayOptions o;
  const std::string language = root.Choice("language", "ja", {"ja", "en"});
  o.language = common::ParseLanguage(language).value_or(o.language);
  o.log_level =
      root.Choice("log_level", "info", {"trace", "debug", "info", "warn", "error", "off"});
  o.upload = ReadUpload(root.Table("upload"));
  o.viewer = ReadViewer(root.Table("viewer"));
  o.store = ReadStore(root.Table("store"));
  o.retention = ReadRetention(root.Table("retention"));
  o.links = ReadLinks(root.Table("links"));
  o.metrics = ReadMetrics(root.Table("metrics"));
  o.ipsec = internal::ReadIpsec(root.Table("ipsec"));
  root.FinishUnknownKeys();

  if (options.check_files) {
    internal::CheckSecretFile(errors, "upload.key_file", o.upload.key_file);
    internal::CheckReadableFile(errors, "upload.cert_file", o.upload.cert_file);
    internal::CheckReadableFile(errors, "upload.client_ca_file", o.upload.client_ca_file);
    internal::CheckSecretFile(errors, "viewer.key_file", o.viewer.key_file);
    internal::CheckReadableFile(errors, "viewer.cert_file", o.viewer.cert_file);
    internal::CheckIpsecFiles(errors, o.ipsec);
  }
  if (!errors.empty()) return errors.ToStatus();
  return o;
}

}  // namespace tsunagu::config
