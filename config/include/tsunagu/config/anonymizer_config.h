// The configuration file of tsunagu-anonymize (--config FILE): the same [anonymizer] table as
// gateway.toml, where secret_file is optional (the tool also takes --secret-file).
#ifndef TSUNAGU_CONFIG_ANONYMIZER_CONFIG_H_
#define TSUNAGU_CONFIG_ANONYMIZER_CONFIG_H_

#include <filesystem>

#include "tsunagu/common/result.h"
#include "tsunagu/config/gateway_options.h"
#include "tsunagu/config/load_options.h"

namespace tsunagu::config {

// Loads `path`, which must hold an [anonymizer] table and nothing else. Errors as
// LoadGatewayConfig: kInvalidArgument, one line per problem.
common::Result<AnonymizerOptions> LoadAnonymizerConfig(const std::filesystem::path& path,
                                                       const LoadOptions& options = {});

}  // namespace tsunagu::config

#endif  // TSUNAGU_CONFIG_ANONYMIZER_CONFIG_H_
