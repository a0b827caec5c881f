// `tsunagu-gateway backup FILE` and `tsunagu-gateway restore FILE`: the job store (to FILE) and,
// when they exist, the chat room store (to FILE.chat-rooms) and the chat post store (to
// FILE.chat-posts), copied with SQLite's online backup (safe while the gateway runs) and put back
// while it is stopped.
#ifndef TSUNAGU_GATEWAY_BACKUP_H_
#define TSUNAGU_GATEWAY_BACKUP_H_

#include <ostream>
#include <string>
#include <vector>

namespace tsunagu::gateway {

// `args` follow the subcommand: [--config FILE] FILE. Returns 0 done, 1 failed, 2 usage or
// configuration error.
int RunBackupCommand(bool restore, const std::vector<std::string>& args,
                     const std::string& default_config, std::ostream& out, std::ostream& err);

}  // namespace tsunagu::gateway

#endif  // TSUNAGU_GATEWAY_BACKUP_H_
