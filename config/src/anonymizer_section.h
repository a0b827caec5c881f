// Private: the [anonymizer] table, shared by gateway.toml and tsunagu-anonymize --config.
#ifndef TSUNAGU_CONFIG_SRC_ANONYMIZER_SECTION_H_
#define TSUNAGU_CONFIG_SRC_ANONYMIZER_SECTION_H_

#include "toml_reader.h"
#include "tsunagu/config/gateway_options.h"

namespace tsunagu::config::internal {

AnonymizerOptions ReadAnonymizerSection(Section s, bool secret_required);

}  // namespace tsunagu::config::internal

#endif  // TSUNAGU_CONFIG_SRC_ANONYMIZER_SECTION_H_
