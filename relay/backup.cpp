#include "backup.h"

#include <spdlog/sinks/null_sink.h>

#include "gateway_contacts.h"
#include "tsunagu/common/cli.h"
#include "tsunagu/common/clock.h"
#include "tsunagu/common/logging.h"
#include "tsunagu/common/store_commands.h"
#include "tsunagu/config/relay_options.h"
#include "tsunagu/retention/study_store.h"

namespace tsunagu::relay {

int RunBackupCommand(bool restore, const std::vector<std::string>& args,
                     const std::string& default_config, std::ostream& out, std::ostream& err) {
  const char* name = restore ? "restore" : "backup";
  auto parsed = common::CliArgs::Parse(args, common::CliSpec{{}, {"--config"}, {}});
  if (!parsed.ok() || parsed->positional().size() != 1) {
    err << "tsunagu-relay: usage: " << name << " [--config FILE] FILE\n";
    return 2;
  }
  // Certificates play no part here: a backup must work while one is being renewed.
  auto options = config::LoadRelayConfig(parsed->Option("--config").value_or(default_config),
                                         config::LoadOptions{.check_files = false});
  if (!options.ok()) {
    err << options.status().message() << "\n";
    return 2;
  }
  const config::RelayOptions& o = *options;
  const common::Language lang = o.language;
  const common::StoreToBackUp store{
      .service = "tsunagu-relay",
      .label_ja = "検査インデックス",
      .label_en = "study index",
      .database = o.store.data_directory / retention::kIndexFileName,
      .schema = &retention::StudyIndexSchema(),
  };
  // The enrolled gateways' last contacts go with the index, to FILE.gateways (times and
  // certificate names only), so that `tsunagu-relay studies` still shows them after a restore.
  const common::StoreToBackUp contacts{
      .service = "tsunagu-relay",
      .label_ja = "ゲートウェイ接続記録",
      .label_en = "gateway contacts",
      .database = o.store.data_directory / kGatewayContactsFile,
      .schema = &GatewayContactsSchema(),
  };
  const std::filesystem::path file = parsed->positional().front();
  std::filesystem::path contacts_file = file;
  contacts_file += ".gateways";
  std::error_code ec;
  if (!restore) {
    const int rc = common::RunStoreBackup(store, file, lang, out, err);
    if (rc != common::kStoreCommandOk || !std::filesystem::exists(contacts.database, ec)) return rc;
    return common::RunStoreBackup(contacts, contacts_file, lang, out, err);
  }
  int rc = common::RunStoreRestore(store, file, lang, out, err);
  if (rc != common::kStoreCommandOk) return rc;
  if (std::filesystem::exists(contacts_file, ec)) {
    rc = common::RunStoreRestore(contacts, contacts_file, lang, out, err);
    if (rc != common::kStoreCommandOk) return rc;
  }
  // The restored index may list studies that expired since the backup: their keys are gone, so
  // they could not be read anyway; purge them now rather than at the relay's next sweep.
  retention::StoreOptions so;
  so.data_directory = o.store.data_directory;
  so.key_directory = o.store.key_directory;
  so.quota_bytes = o.store.quota_bytes;
  so.retention = o.retention.period;
  so.access_code_max_failures = o.links.access_code_max_failures;
  auto logger = common::MakeLogger("relay", {std::make_shared<spdlog::sinks::null_sink_mt>()},
                                   spdlog::level::info);
  auto opened = retention::StudyStore::Open(so, {std::make_shared<common::SystemClock>(), logger});
  if (!opened.ok()) {
    err << "tsunagu-relay: " << opened.status().message() << "\n";
    return common::kStoreCommandFailed;
  }
  auto receipts = (*opened)->Purge();
  if (!receipts.ok()) {
    err << "tsunagu-relay: " << receipts.status().message() << "\n";
    return common::kStoreCommandFailed;
  }
  out << common::Pick(lang,
                      "期限切れのため削除した検査: ", "studies deleted because they had expired: ")
      << receipts->size() << "\n";
  return common::kStoreCommandOk;
}

}  // namespace tsunagu::relay
