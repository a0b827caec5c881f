#include "tsunagu/ipsec/tunnel_monitor.h"

#include "tsunagu/common/subprocess.h"
#include "tsunagu/ipsec/render.h"

namespace tsunagu::ipsec {
namespace {

class SwanctlTunnelMonitor final : public TunnelMonitor {
 public:
  SwanctlTunnelMonitor(config::IpsecOptions options, std::chrono::milliseconds timeout)
      : options_(std::move(options)), timeout_(timeout) {}

  common::Result<TunnelState> Check() override {
    auto run = common::RunCommand({"swanctl", "--list-sas", "--noblock", "--raw", "--ike",
                                   options_.connection, "--uri", options_.vici_socket},
                                  timeout_);
    if (!run.ok()) return run.status().WithContext("asking strongSwan for the tunnel state");
    if (run->exit_code != 0) {
      std::string why = run->err.substr(0, run->err.find('\n'));
      return common::UnavailableError("strongSwan did not answer on " + options_.vici_socket +
                                      (why.empty() ? "" : ": " + why));
    }
    return ParseListSas(run->out, ChildName(options_));
  }

 private:
  const config::IpsecOptions options_;
  const std::chrono::milliseconds timeout_;
};

}  // namespace

std::unique_ptr<TunnelMonitor> MakeSwanctlTunnelMonitor(const config::IpsecOptions& options,
                                                        std::chrono::milliseconds timeout) {
  return std::make_unique<SwanctlTunnelMonitor>(options, timeout);
}

TunnelState ParseListSas(std::string_view raw, std::string_view child) {
  // swanctl --raw prints one "list-sa event {<ike> {... child-sas {<child>-<n> {name=<child>
  // ... state=INSTALLED ...}}}}" line per IKE SA. Several child SAs with the same name may exist
  // briefly during a rekey; any INSTALLED one means traffic flows.
  const std::string name_key = "name=" + std::string(child) + " ";
  bool any_child = false;
  std::string last_state;
  for (std::size_t at = raw.find(name_key); at != std::string_view::npos;
       at = raw.find(name_key, at + 1)) {
    any_child = true;
    const std::size_t end = raw.find('}', at);
    const std::string_view block =
        raw.substr(at, end == std::string_view::npos ? raw.npos : end - at);
    const std::size_t state_at = block.find(" state=");
    if (state_at == std::string_view::npos) continue;
    const std::string_view rest = block.substr(state_at + 7);
    last_state = std::string(rest.substr(0, rest.find(' ')));
    if (last_state == "INSTALLED") {
      return {true, "child SA " + std::string(child) + " INSTALLED"};
    }
  }
  if (any_child) return {false, "child SA " + std::string(child) + " is " + last_state};
  if (raw.find("list-sa event") != std::string_view::npos) {
    return {false, "IKE SA up but no child SA " + std::string(child)};
  }
  return {false, "no IKE SA"};
}

common::Status TunnelDownError(std::string_view detail) {
  return common::UnavailableError("IPsec tunnel to relay is down (" + std::string(detail) + ")");
}

}  // namespace tsunagu::ipsec
