// Private: reads and checks the [ipsec] section (shared by both services' loaders).
#ifndef TSUNAGU_CONFIG_SRC_IPSEC_CONFIG_H_
#define TSUNAGU_CONFIG_SRC_IPSEC_CONFIG_H_

#include "toml_reader.h"
#include "tsunagu/config/ipsec_options.h"

namespace tsunagu::config::internal {

IpsecOptions ReadIpsec(Section section);
void CheckIpsecFiles(Errors& errors, const IpsecOptions& options);

}  // namespace tsunagu::config::internal

#endif  // TSUNAGU_CONFIG_SRC_IPSEC_CONFIG_H_
