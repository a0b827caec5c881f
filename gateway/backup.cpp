#include "backup.h"

#include "tsunagu/common/cli.h"
#include "tsunagu/common/store_commands.h"
#include "tsunagu/config/gateway_options.h"
#include "tsunagu/gateway/job_store.h"

namespace tsunagu::gateway {

int RunBackupCommand(bool restore, const std::vector<std::string>& args,
                     const std::string& default_config, std::ostream& out, std::ostream& err) {
  const char* name = restore ? "restore" : "backup";
  auto parsed = common::CliArgs::Parse(args, common::CliSpec{{}, {"--config"}, {}});
  if (!parsed.ok() || parsed->positional().size() != 1) {
    err << "tsunagu-gateway: usage: " << name << " [--config FILE] FILE\n";
    return 2;
  }
  // Certificates and secrets play no part here: a backup must work while one is being renewed.
  auto options = config::LoadGatewayConfig(parsed->Option("--config").value_or(default_config),
                                           config::LoadOptions{.check_files = false});
  if (!options.ok()) {
    err << options.status().message() << "\n";
    return 2;
  }
  const common::Language lang = options->language;
  const common::StoreToBackUp store{
      .service = "tsunagu-gateway",
      .label_ja = "ジョブDB",
      .label_en = "job store",
      .database = options->storage.data_directory / "gateway.db",
      .schema = &JobStoreSchema(),
  };
  const std::filesystem::path file = parsed->positional().front();
  return restore ? common::RunStoreRestore(store, file, lang, out, err)
                 : common::RunStoreBackup(store, file, lang, out, err);
}

}  // namespace tsunagu::gateway
