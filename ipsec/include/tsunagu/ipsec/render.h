// Renders strongSwan configuration (swanctl.conf and a self-contained strongswan.conf) for one
// side of the gateway↔relay tunnel from the [ipsec] section of a Tsunagu config.
#ifndef TSUNAGU_IPSEC_RENDER_H_
#define TSUNAGU_IPSEC_RENDER_H_

#include <filesystem>
#include <string>
#include <string_view>

#include "tsunagu/common/status.h"
#include "tsunagu/config/ipsec_options.h"

namespace tsunagu::ipsec {

// The gateway initiates and restarts the tunnel; the relay only responds.
enum class Role { kGateway, kRelay };

struct RenderedConfig {
  std::string swanctl_conf;
  std::string strongswan_conf;
};

// The child SA (tunnel) name for `options`: "<connection>-upload".
std::string ChildName(const config::IpsecOptions& options);

// Renders both files. `source` names the TOML file in the "generated from" header. Pure: reads
// no files. The swanctl.conf uses absolute paths for the certificates; the private key is
// expected in `<dir>/private/` (WriteRendered links it there).
RenderedConfig Render(const config::IpsecOptions& options, Role role, std::string_view source);

// Writes `rendered` into `dir` (swanctl.conf, strongswan.conf, and the swanctl sub-directories),
// each file atomically, and links options.key_file as dir/private/<connection>.pem.
common::Status WriteRendered(const RenderedConfig& rendered, const config::IpsecOptions& options,
                             const std::filesystem::path& dir);

}  // namespace tsunagu::ipsec

#endif  // TSUNAGU_IPSEC_RENDER_H_
