#include "aead.h"

#include <openssl/evp.h>

#include <memory>

#include "tsunagu/common/crypto.h"

namespace tsunagu::retention::internal {
namespace {

struct CtxFree {
  void operator()(EVP_CIPHER_CTX* c) const { EVP_CIPHER_CTX_free(c); }
};
using Ctx = std::unique_ptr<EVP_CIPHER_CTX, CtxFree>;

const unsigned char* U8(std::string_view s) {
  return reinterpret_cast<const unsigned char*>(s.data());
}

}  // namespace

common::Result<std::string> SealRecord(std::string_view key, std::string_view aad,
                                       std::string_view plaintext) {
  if (key.size() != kKeyBytes) return common::InternalError("bad study key length");
  if (plaintext.size() > 0xffffffffULL) return common::InvalidArgumentError("record too large");
  TSUNAGU_ASSIGN_OR_RETURN(std::string nonce, common::RandomBytes(kNonceBytes));
  std::string out(kRecordOverhead + plaintext.size(), '\0');
  const auto n = static_cast<std::uint32_t>(plaintext.size());
  out[0] = static_cast<char>(n >> 24);
  out[1] = static_cast<char>(n >> 16);
  out[2] = static_cast<char>(n >> 8);
  out[3] = static_cast<char>(n);
  out.replace(4, kNonceBytes, nonce);
  Ctx ctx(EVP_CIPHER_CTX_new());
  int len = 0;
  auto* ct = reinterpret_cast<unsigned char*>(out.data() + 4 + kNonceBytes);
  if (!ctx || EVP_EncryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, U8(key), U8(nonce)) != 1 ||
      EVP_EncryptUpdate(ctx.get(), nullptr, &len, U8(aad), static_cast<int>(aad.size())) != 1) {
    return common::InternalError("AES-GCM init failed");
  }
  std::size_t done = 0;
  while (done < plaintext.size()) {
    const std::size_t step = std::min<std::size_t>(plaintext.size() - done, 1 << 30);
    if (EVP_EncryptUpdate(ctx.get(), ct + done, &len, U8(plaintext.substr(done)),
                          static_cast<int>(step)) != 1) {
      return common::InternalError("AES-GCM encrypt failed");
    }
    done += static_cast<std::size_t>(len);
  }
  if (EVP_EncryptFinal_ex(ctx.get(), ct + done, &len) != 1 ||
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_GET_TAG, kTagBytes, ct + plaintext.size()) != 1) {
    return common::InternalError("AES-GCM finish failed");
  }
  return out;
}

common::Result<std::string> OpenRecord(std::string_view key, std::string_view aad,
                                       std::string_view in, std::size_t& consumed) {
  if (key.size() != kKeyBytes) return common::DataLossError("bad study key length");
  if (in.size() < kRecordOverhead) return common::DataLossError("truncated encrypted record");
  const std::uint32_t n = (static_cast<std::uint32_t>(static_cast<unsigned char>(in[0])) << 24) |
                          (static_cast<std::uint32_t>(static_cast<unsigned char>(in[1])) << 16) |
                          (static_cast<std::uint32_t>(static_cast<unsigned char>(in[2])) << 8) |
                          static_cast<std::uint32_t>(static_cast<unsigned char>(in[3]));
  if (in.size() - kRecordOverhead < n) return common::DataLossError("truncated encrypted record");
  const std::string_view nonce = in.substr(4, kNonceBytes);
  const std::string_view ct = in.substr(4 + kNonceBytes, n);
  std::string tag(in.substr(4 + kNonceBytes + n, kTagBytes));
  std::string out(n, '\0');
  Ctx ctx(EVP_CIPHER_CTX_new());
  int len = 0;
  if (!ctx || EVP_DecryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, U8(key), U8(nonce)) != 1 ||
      EVP_DecryptUpdate(ctx.get(), nullptr, &len, U8(aad), static_cast<int>(aad.size())) != 1) {
    return common::InternalError("AES-GCM init failed");
  }
  if (n > 0 && EVP_DecryptUpdate(ctx.get(), reinterpret_cast<unsigned char*>(out.data()), &len,
                                 U8(ct), static_cast<int>(n)) != 1) {
    return common::DataLossError("encrypted record cannot be decrypted");
  }
  if (EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_TAG, kTagBytes, tag.data()) != 1 ||
      EVP_DecryptFinal_ex(ctx.get(), reinterpret_cast<unsigned char*>(out.data()) + n, &len) != 1) {
    return common::DataLossError("encrypted record failed authentication (wrong key or tampered)");
  }
  consumed = kRecordOverhead + n;
  return out;
}

}  // namespace tsunagu::retention::internal
