#include "backup.h"

#include <filesystem>

#include "tsunagu/chat/card_follow_up.h"
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
  // The chat stores go with the job store when chat is in use: the room store (patient
  // conversations -> chat rooms) to FILE.chat-rooms, without which a restored gateway would open a
  // second room for a patient; the post store (posted cards awaiting seen receipts and expiry
  // notices) to FILE.chat-posts, without which those cards would never be updated.
  struct SideStore {
    common::StoreToBackUp store;
    const char* suffix;
  };
  const std::filesystem::path& data = options->storage.data_directory;
  const SideStore side[] = {
      {{.service = "tsunagu-gateway",
        .label_ja = "チャットルームDB",
        .label_en = "chat room store",
        .database = data / "chat-rooms.sqlite",
        .schema = &chat::PatientThreadStoreSchema()},
       ".chat-rooms"},
      {{.service = "tsunagu-gateway",
        .label_ja = "チャット投稿DB",
        .label_en = "chat post store",
        .database = data / "chat-posts.sqlite",
        .schema = &chat::PostedCardStoreSchema()},
       ".chat-posts"},
  };
  for (const SideStore& s : side) {
    std::filesystem::path side_file = file;
    side_file += s.suffix;
    std::error_code ec;
    if (restore ? !std::filesystem::exists(side_file, ec)
                : !std::filesystem::exists(s.store.database, ec)) {
      continue;  // no chat configured, or a backup made without this store
    }
    rc = restore ? common::RunStoreRestore(s.store, side_file, lang, out, err)
                 : common::RunStoreBackup(s.store, side_file, lang, out, err);
    if (rc != 0) return rc;
  }
  return 0;
}

}  // namespace tsunagu::gateway
