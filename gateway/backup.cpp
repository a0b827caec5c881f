#include "backup.h"

#include <filesystem>

#include "tsunagu/chat/patient_threads.h"
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
  int rc = restore ? common::RunStoreRestore(store, file, lang, out, err)
                   : common::RunStoreBackup(store, file, lang, out, err);
  if (rc != 0) return rc;
  // The chat room store (patient conversations -> chat rooms) goes with the job store, to
  // FILE.chat-rooms: without it a restored gateway would open a second room for a patient.
  const common::StoreToBackUp rooms{
      .service = "tsunagu-gateway",
      .label_ja = "チャットルームDB",
      .label_en = "chat room store",
      .database = options->storage.data_directory / "chat-rooms.sqlite",
      .schema = &chat::PatientThreadStoreSchema(),
  };
  std::filesystem::path rooms_file = file;
  rooms_file += ".chat-rooms";
  std::error_code ec;
  if (restore ? !std::filesystem::exists(rooms_file, ec)
              : !std::filesystem::exists(rooms.database, ec)) {
    return 0;  // no chat rooms configured, or a backup made without them
  }
  return restore ? common::RunStoreRestore(rooms, rooms_file, lang, out, err)
                 : common::RunStoreBackup(rooms, rooms_file, lang, out, err);
}

}  // namespace tsunagu::gateway
