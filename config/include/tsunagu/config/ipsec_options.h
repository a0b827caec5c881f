// The [ipsec] section shared by gateway.toml and relay.toml: the strongSwan (IKEv2) tunnel that
// carries uploads between the gateway's inner address and the relay's inner service address.
// `tsunagu-gateway ipsec render` / `tsunagu-relay ipsec render` turn it into swanctl.conf.
#ifndef TSUNAGU_CONFIG_IPSEC_OPTIONS_H_
#define TSUNAGU_CONFIG_IPSEC_OPTIONS_H_

#include <chrono>
#include <filesystem>
#include <string>

namespace tsunagu::config {

// Where ESP is done: the kernel's XFRM (production) or strongSwan's userland libipsec over TUN
// (hosts whose kernel lacks CONFIG_INET_ESP, such as the test machines).
enum class EspBackend { kKernel, kLibipsec };

struct IpsecOptions {
  bool configured = false;             // the [ipsec] section is present
  std::string connection = "tsunagu";  // swanctl connection name; the child is "<name>-upload"
  std::string local_address;           // this host's outer (IKE) address
  std::string remote_address;          // the peer's outer (IKE) address
  std::string local_subnet;            // inner traffic selector of this side, CIDR
  std::string remote_subnet;           // inner traffic selector of the peer, CIDR
  std::string local_id;                // this side's certificate subject, e.g. "CN=gw.example"
  std::string remote_id;               // the peer's certificate subject
  std::filesystem::path ca_file;       // CA that issued both IKE certificates
  std::filesystem::path cert_file;     // this side's IKE certificate
  std::filesystem::path key_file;      // its private key; permission-checked
  std::string ike_proposals = "aes256gcm16-prfsha384-ecp384";
  std::string esp_proposals = "aes256gcm16-ecp384";  // the DH group gives PFS on rekey
  std::chrono::milliseconds dpd_delay = std::chrono::seconds(10);
  std::chrono::milliseconds ike_rekey_time = std::chrono::hours(4);
  std::chrono::milliseconds child_rekey_time = std::chrono::hours(1);
  EspBackend esp_backend = EspBackend::kKernel;
  std::string vici_socket = "unix:///var/run/charon.vici";
};

}  // namespace tsunagu::config

#endif  // TSUNAGU_CONFIG_IPSEC_OPTIONS_H_
