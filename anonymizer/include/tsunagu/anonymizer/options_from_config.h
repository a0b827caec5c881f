// Builds the engine's ProfileOptions from the validated [anonymizer] configuration.
#ifndef TSUNAGU_ANONYMIZER_OPTIONS_FROM_CONFIG_H_
#define TSUNAGU_ANONYMIZER_OPTIONS_FROM_CONFIG_H_

#include <string>

#include "tsunagu/anonymizer/deidentifier.h"
#include "tsunagu/config/gateway_options.h"

namespace tsunagu::anonymizer {

// Copies profile, patient_id_keep, the safe private list and the pixel mask rules; the caller
// reads the secret file (common::ReadSecretFile) and passes its bytes as `site_secret`.
ProfileOptions ProfileOptionsFromConfig(const config::AnonymizerOptions& options,
                                        std::string site_secret);

}  // namespace tsunagu::anonymizer

#endif  // TSUNAGU_ANONYMIZER_OPTIONS_FROM_CONFIG_H_
