// Private: AES-256-GCM records (OpenSSL EVP), the at-rest format of the study store.
#ifndef TSUNAGU_RETENTION_SRC_AEAD_H_
#define TSUNAGU_RETENTION_SRC_AEAD_H_

#include <string>
#include <string_view>

#include "tsunagu/common/result.h"

namespace tsunagu::retention::internal {

constexpr std::size_t kKeyBytes = 32;
constexpr std::size_t kNonceBytes = 12;
constexpr std::size_t kTagBytes = 16;
constexpr std::size_t kRecordOverhead = 4 + kNonceBytes + kTagBytes;

// One record: u32 plaintext length (big endian) | nonce | ciphertext | tag.
common::Result<std::string> SealRecord(std::string_view key, std::string_view aad,
                                       std::string_view plaintext);
// Opens the record at the start of `in`; sets `consumed`. kDataLoss on a short or forged record.
common::Result<std::string> OpenRecord(std::string_view key, std::string_view aad,
                                       std::string_view in, std::size_t& consumed);

}  // namespace tsunagu::retention::internal

#endif  // TSUNAGU_RETENTION_SRC_AEAD_H_
