#include "ipsec_config.h"

#include <arpa/inet.h>

#include <array>
#include <cstdlib>
#include <set>
#include <sstream>

#include "file_checks.h"

namespace tsunagu::config::internal {
namespace {

bool IsAddress(const std::string& text) {
  std::array<unsigned char, 16> buf{};
  return inet_pton(AF_INET, text.c_str(), buf.data()) == 1 ||
         inet_pton(AF_INET6, text.c_str(), buf.data()) == 1;
}

bool IsSubnet(const std::string& text) {
  const auto slash = text.find('/');
  if (slash == std::string::npos) return false;
  const std::string address = text.substr(0, slash);
  const std::string bits = text.substr(slash + 1);
  if (bits.empty() || bits.size() > 3 ||
      bits.find_first_not_of("0123456789") != std::string::npos) {
    return false;
  }
  const int prefix = std::atoi(bits.c_str());
  std::array<unsigned char, 16> buf{};
  if (inet_pton(AF_INET, address.c_str(), buf.data()) == 1) return prefix <= 32;
  if (inet_pton(AF_INET6, address.c_str(), buf.data()) == 1) return prefix <= 128;
  return false;
}

std::vector<std::string> Split(const std::string& text, char sep) {
  std::vector<std::string> out;
  std::stringstream in(text);
  std::string part;
  while (std::getline(in, part, sep)) out.push_back(part);
  if (!text.empty() && text.back() == sep) out.emplace_back();
  return out;
}

// Proposals are checked against what we are willing to run: AEAD AES-GCM (or ChaCha20-Poly1305)
// and a Diffie-Hellman group from this list, so that every proposal has PFS. IKE proposals also
// name a PRF.
const std::set<std::string, std::less<>> kAead = {"aes256gcm16", "aes128gcm16", "chacha20poly1305"};
const std::set<std::string, std::less<>> kDh = {"ecp256",   "ecp384",   "ecp521",  "curve25519",
                                                "curve448", "modp3072", "modp4096"};
const std::set<std::string, std::less<>> kPrf = {"prfsha256", "prfsha384", "prfsha512"};

bool ValidProposals(const std::string& text, bool ike) {
  if (text.empty()) return false;
  for (const std::string& proposal : Split(text, ',')) {
    bool aead = false, dh = false, prf = false;
    for (const std::string& part : Split(proposal, '-')) {
      if (kAead.count(part)) {
        aead = true;
      } else if (kDh.count(part)) {
        dh = true;
      } else if (ike && kPrf.count(part)) {
        prf = true;
      } else {
        return false;
      }
    }
    if (!aead || !dh || (ike && !prf)) return false;
  }
  return true;
}

}  // namespace

IpsecOptions ReadIpsec(Section s) {
  IpsecOptions o;
  if (!s.present()) return o;
  o.configured = true;
  o.connection = s.String("connection", o.connection);
  if (o.connection.empty() || o.connection.find_first_not_of(
                                  "abcdefghijklmnopqrstuvwxyz0123456789-_") != std::string::npos) {
    s.Error("connection", "expected a name of lower-case letters, digits, '-' and '_', got \"" +
                              o.connection + "\"");
  }
  for (auto [key, field] : {std::pair{"local_address", &o.local_address},
                            std::pair{"remote_address", &o.remote_address}}) {
    *field = s.RequiredString(key);
    if (!field->empty() && !IsAddress(*field)) {
      s.Error(key, "expected an IPv4 or IPv6 address, got \"" + *field + "\"");
    }
  }
  for (auto [key, field] :
       {std::pair{"local_subnet", &o.local_subnet}, std::pair{"remote_subnet", &o.remote_subnet}}) {
    *field = s.RequiredString(key);
    if (!field->empty() && !IsSubnet(*field)) {
      s.Error(key, "expected a subnet such as \"10.99.0.1/32\", got \"" + *field + "\"");
    }
  }
  o.local_id = s.RequiredString("local_id");
  o.remote_id = s.RequiredString("remote_id");
  o.ca_file = s.RequiredPath("ca_file");
  o.cert_file = s.RequiredPath("cert_file");
  o.key_file = s.RequiredPath("key_file");
  o.ike_proposals = s.String("ike_proposals", o.ike_proposals);
  if (!ValidProposals(o.ike_proposals, true)) {
    s.Error("ike_proposals",
            "expected AEAD-PRF-DH proposals such as \"aes256gcm16-prfsha384-ecp384\", got \"" +
                o.ike_proposals + "\"");
  }
  o.esp_proposals = s.String("esp_proposals", o.esp_proposals);
  if (!ValidProposals(o.esp_proposals, false)) {
    s.Error("esp_proposals",
            "expected AEAD-DH proposals with a DH group for PFS, such as \"aes256gcm16-ecp384\", "
            "got \"" +
                o.esp_proposals + "\"");
  }
  o.dpd_delay = s.Duration("dpd_delay", o.dpd_delay, std::chrono::seconds(1));
  o.ike_rekey_time = s.Duration("ike_rekey_time", o.ike_rekey_time, std::chrono::minutes(1));
  o.child_rekey_time = s.Duration("child_rekey_time", o.child_rekey_time, std::chrono::minutes(1));
  const std::string backend = s.Choice("esp_backend", "kernel", {"kernel", "libipsec"});
  o.esp_backend = backend == "libipsec" ? EspBackend::kLibipsec : EspBackend::kKernel;
  o.vici_socket = s.String("vici_socket", o.vici_socket);
  if (o.vici_socket.rfind("unix://", 0) != 0) {
    s.Error("vici_socket", "expected a unix:// socket URI, got \"" + o.vici_socket + "\"");
  }
  s.FinishUnknownKeys();
  return o;
}

void CheckIpsecFiles(Errors& errors, const IpsecOptions& o) {
  if (!o.configured) return;
  CheckReadableFile(errors, "ipsec.ca_file", o.ca_file);
  CheckReadableFile(errors, "ipsec.cert_file", o.cert_file);
  CheckSecretFile(errors, "ipsec.key_file", o.key_file);
}

}  // namespace tsunagu::config::internal
