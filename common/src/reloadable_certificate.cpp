#include "tsunagu/common/reloadable_certificate.h"

#include <openssl/asn1.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <vector>

namespace tsunagu::common {

struct ReloadableCertificate::Pair {
  X509* leaf = nullptr;
  STACK_OF(X509) * chain = nullptr;  // intermediates
  EVP_PKEY* key = nullptr;
  ~Pair() {
    X509_free(leaf);
    sk_X509_pop_free(chain, X509_free);
    EVP_PKEY_free(key);
  }
};

namespace {

std::string OpenSslError() {
  const unsigned long e = ERR_get_error();
  ERR_clear_error();
  if (e == 0) return "unreadable";
  char buf[256];
  ERR_error_string_n(e, buf, sizeof buf);
  return buf;
}

Result<std::shared_ptr<const ReloadableCertificate::Pair>> ReadPair(
    const std::filesystem::path& cert_file, const std::filesystem::path& key_file) {
  ERR_clear_error();
  auto pair = std::make_shared<ReloadableCertificate::Pair>();
  {
    BIO* bio = BIO_new_file(cert_file.c_str(), "r");
    if (bio == nullptr) {
      return InvalidArgumentError("cannot read " + cert_file.string() + ": " + OpenSslError());
    }
    pair->leaf = PEM_read_bio_X509(bio, nullptr, nullptr, nullptr);
    pair->chain = sk_X509_new_null();
    while (pair->leaf != nullptr) {
      X509* extra = PEM_read_bio_X509(bio, nullptr, nullptr, nullptr);
      if (extra == nullptr) break;
      sk_X509_push(pair->chain, extra);
    }
    BIO_free(bio);
    ERR_clear_error();  // the end of the file reads as an error
    if (pair->leaf == nullptr) {
      return InvalidArgumentError(cert_file.string() + " holds no PEM certificate");
    }
  }
  {
    BIO* bio = BIO_new_file(key_file.c_str(), "r");
    if (bio == nullptr) {
      return InvalidArgumentError("cannot read " + key_file.string() + ": " + OpenSslError());
    }
    pair->key = PEM_read_bio_PrivateKey(bio, nullptr, nullptr, nullptr);
    BIO_free(bio);
    if (pair->key == nullptr) {
      return InvalidArgumentError(key_file.string() +
                                  " holds no PEM private key: " + OpenSslError());
    }
  }
  if (X509_check_private_key(pair->leaf, pair->key) != 1) {
    ERR_clear_error();
    return InvalidArgumentError("the key in " + key_file.string() +
                                " does not match the certificate in " + cert_file.string());
  }
  return std::shared_ptr<const ReloadableCertificate::Pair>(std::move(pair));
}

}  // namespace

ReloadableCertificate::ReloadableCertificate(std::filesystem::path cert_file,
                                             std::filesystem::path key_file)
    : cert_file_(std::move(cert_file)), key_file_(std::move(key_file)) {}

ReloadableCertificate::~ReloadableCertificate() = default;

Result<std::shared_ptr<ReloadableCertificate>> ReloadableCertificate::Load(
    std::filesystem::path cert_file, std::filesystem::path key_file) {
  std::shared_ptr<ReloadableCertificate> self(
      new ReloadableCertificate(std::move(cert_file), std::move(key_file)));
  TSUNAGU_RETURN_IF_ERROR(self->Reload());
  return self;
}

Status ReloadableCertificate::Reload() {
  TSUNAGU_ASSIGN_OR_RETURN(std::shared_ptr<const Pair> pair, ReadPair(cert_file_, key_file_));
  std::lock_guard lock(mu_);
  current_ = std::move(pair);
  return Status::Ok();
}

void ReloadableCertificate::Install(SSL_CTX* ctx) {
  SSL_CTX_set_cert_cb(ctx, &ReloadableCertificate::OnHandshake, this);
}

int ReloadableCertificate::OnHandshake(SSL* ssl, void* arg) {
  auto* self = static_cast<ReloadableCertificate*>(arg);
  std::shared_ptr<const Pair> pair;
  {
    std::lock_guard lock(self->mu_);
    pair = self->current_;
  }
  if (!pair) return 0;
  // SSL_use_* take their own references; the pair may be replaced at once afterwards.
  if (SSL_use_certificate(ssl, pair->leaf) != 1 || SSL_use_PrivateKey(ssl, pair->key) != 1 ||
      SSL_set1_chain(ssl, pair->chain) != 1) {
    return 0;
  }
  return 1;
}

std::string ReloadableCertificate::Describe() const {
  std::shared_ptr<const Pair> pair;
  {
    std::lock_guard lock(mu_);
    pair = current_;
  }
  if (!pair) return "none";
  std::string serial = "?";
  if (BIGNUM* bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(pair->leaf), nullptr)) {
    if (char* hex = BN_bn2hex(bn)) {
      serial = hex;
      OPENSSL_free(hex);
    }
    BN_free(bn);
  }
  std::string not_after = "?";
  if (BIO* bio = BIO_new(BIO_s_mem())) {
    if (ASN1_TIME_print(bio, X509_get0_notAfter(pair->leaf)) == 1) {
      char* data = nullptr;
      const long n = BIO_get_mem_data(bio, &data);
      not_after.assign(data, static_cast<std::size_t>(n));
    }
    BIO_free(bio);
  }
  return "serial=" + serial + " not_after=\"" + not_after + "\"";
}

}  // namespace tsunagu::common
