// `tsunagu-relay backup FILE` and `tsunagu-relay restore FILE`: the study index, copied with
// SQLite's online backup (safe while the relay runs) and put back while it is stopped. The key
// store is never part of a backup, so no backup can make a purged study readable again.
#ifndef TSUNAGU_RELAY_BACKUP_H_
#define TSUNAGU_RELAY_BACKUP_H_

#include <ostream>
#include <string>
#include <vector>

namespace tsunagu::relay {

// `args` follow the subcommand: [--config FILE] FILE. After a restore, studies past their expiry
// are purged at once (their keys are gone already; this removes their rows and any files) and
// counted. Returns 0 done, 1 failed, 2 usage or configuration error.
int RunBackupCommand(bool restore, const std::vector<std::string>& args,
                     const std::string& default_config, std::ostream& out, std::ostream& err);

}  // namespace tsunagu::relay

#endif  // TSUNAGU_RELAY_BACKUP_H_
