// Small cryptographic building blocks over OpenSSL, shared by the anonymizer (HMAC UIDs), the
// relay (tokens, hashes, at-rest keys) and the gateway. No home-made primitives.
#ifndef TSUNAGU_COMMON_CRYPTO_H_
#define TSUNAGU_COMMON_CRYPTO_H_

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

#include "tsunagu/common/result.h"

namespace tsunagu::common {

using Digest256 = std::array<std::uint8_t, 32>;

// SHA-256 of `data`.
Digest256 Sha256(std::string_view data);

// Incremental SHA-256 for data that does not fit in memory at once.
class Sha256Hasher {
 public:
  Sha256Hasher();
  ~Sha256Hasher();
  Sha256Hasher(const Sha256Hasher&) = delete;
  Sha256Hasher& operator=(const Sha256Hasher&) = delete;
  void Update(std::string_view data);
  // Returns the digest; the hasher must not be used afterwards.
  Digest256 Finish();

 private:
  void* ctx_;  // EVP_MD_CTX*
};

// HMAC-SHA-256 of `data` under `key`.
Digest256 HmacSha256(std::string_view key, std::string_view data);

// `n` bytes from OpenSSL's CSPRNG. kInternal if the generator fails.
Result<std::string> RandomBytes(std::size_t n);

// Lower-case hex.
std::string HexEncode(std::string_view bytes);
inline std::string HexEncode(const Digest256& d) {
  return HexEncode(std::string_view(reinterpret_cast<const char*>(d.data()), d.size()));
}
// nullopt-like failure as kInvalidArgument for odd length or non-hex characters.
Result<std::string> HexDecode(std::string_view hex);

// Base64url without padding (RFC 4648 section 5), and its inverse.
std::string Base64UrlEncode(std::string_view bytes);
Result<std::string> Base64UrlDecode(std::string_view text);

// Compares in time independent of where the inputs differ.
bool ConstantTimeEquals(std::string_view a, std::string_view b);

}  // namespace tsunagu::common

#endif  // TSUNAGU_COMMON_CRYPTO_H_
