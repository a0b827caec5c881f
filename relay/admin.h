// `tsunagu-relay studies`: the operator's view of the relay (issue 11): quota use, enrolled
// gateways with their last contact, studies by expiry with size, live links and last access, and
// recent deletion receipts. Read-only and safe while the relay runs; shows no patient identifier.
#ifndef TSUNAGU_RELAY_ADMIN_H_
#define TSUNAGU_RELAY_ADMIN_H_

#include <ostream>
#include <string>
#include <vector>

namespace tsunagu::relay {

// `args` follow the subcommand: [--config FILE]. Returns 0, 1 failed, 2 usage or configuration.
int RunStudiesCommand(const std::vector<std::string>& args, const std::string& default_config,
                      std::ostream& out, std::ostream& err);

}  // namespace tsunagu::relay

#endif  // TSUNAGU_RELAY_ADMIN_H_
