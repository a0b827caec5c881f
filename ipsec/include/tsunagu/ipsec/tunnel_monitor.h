// Whether the IPsec child SA to the relay is installed, asked of strongSwan's VICI interface.
#ifndef TSUNAGU_IPSEC_TUNNEL_MONITOR_H_
#define TSUNAGU_IPSEC_TUNNEL_MONITOR_H_

#include <chrono>
#include <memory>
#include <string>
#include <string_view>

#include "tsunagu/common/result.h"
#include "tsunagu/config/ipsec_options.h"

namespace tsunagu::ipsec {

struct TunnelState {
  bool up = false;
  std::string detail;  // for people and logs: "child SA tsunagu-upload INSTALLED", "no IKE SA"
};

class TunnelMonitor {
 public:
  virtual ~TunnelMonitor() = default;
  // The current state. An error means strongSwan could not be asked (charon not running, VICI
  // socket missing): callers treat that as "down" and say why. Thread-safe.
  virtual common::Result<TunnelState> Check() = 0;
};

// Asks with `swanctl --list-sas --raw` over the configured VICI socket, with a time limit.
std::unique_ptr<TunnelMonitor> MakeSwanctlTunnelMonitor(const config::IpsecOptions& options,
                                                        std::chrono::milliseconds timeout);

// Reads swanctl's --raw list-sas output: up when a child SA named `child` is INSTALLED.
TunnelState ParseListSas(std::string_view raw, std::string_view child);

// The status for an upload that must wait for the tunnel: retryable kUnavailable with the
// message "IPsec tunnel to relay is down (<detail>)".
common::Status TunnelDownError(std::string_view detail);

}  // namespace tsunagu::ipsec

#endif  // TSUNAGU_IPSEC_TUNNEL_MONITOR_H_
