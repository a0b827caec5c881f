#include "tsunagu/common/doctor.h"

#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <sys/stat.h>

#include <cstdio>
#include <fstream>
#include <sstream>

namespace tsunagu::common {
namespace {

using namespace std::chrono_literals;

class DoctorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (std::filesystem::temp_directory_path() / "tsunagu-doctor-XXXXXX").string();
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  // A self-signed certificate valid until `not_after` (seconds since the epoch).
  std::filesystem::path MakeCert(const std::string& name, std::time_t not_after) {
    EVP_PKEY* key = EVP_EC_gen("P-256");
    X509* cert = X509_new();
    X509_set_version(cert, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(cert), 1);
    ASN1_TIME_set(X509_getm_notBefore(cert), 1'700'000'000);
    ASN1_TIME_set(X509_getm_notAfter(cert), not_after);
    X509_set_pubkey(cert, key);
    X509_NAME* subject = X509_get_subject_name(cert);
    X509_NAME_add_entry_by_txt(subject, "CN", MBSTRING_ASC,
                               reinterpret_cast<const unsigned char*>("test"), -1, -1, 0);
    X509_set_issuer_name(cert, subject);
    X509_sign(cert, key, EVP_sha256());
    const auto path = dir_ / name;
    std::FILE* f = std::fopen(path.c_str(), "w");
    PEM_write_X509(f, cert);
    std::fclose(f);
    X509_free(cert);
    EVP_PKEY_free(key);
    return path;
  }

  std::filesystem::path dir_;
  // 2027-01-15T08:00:00Z
  FakeClock clock_{std::chrono::system_clock::from_time_t(1'799'999'200)};
};

TEST_F(DoctorTest, ValidCertificate) {
  CheckResult r =
      CheckCertificate(MakeCert("ok.pem", 1'799'999'200 + 365 * 86400), clock_, Language::kEnglish);
  EXPECT_EQ(r.level, CheckLevel::kOk) << r.detail;
  EXPECT_NE(r.detail.find("valid until 2028-01-15"), std::string::npos) << r.detail;
}

TEST_F(DoctorTest, CertificateExpiringWithin30DaysWarns) {
  CheckResult r = CheckCertificate(MakeCert("soon.pem", 1'799'999'200 + 10 * 86400), clock_,
                                   Language::kEnglish);
  EXPECT_EQ(r.level, CheckLevel::kWarning);
  EXPECT_NE(r.detail.find("expires soon: 2027-01-25 (10 days)"), std::string::npos) << r.detail;
  EXPECT_FALSE(r.fix.empty());
}

TEST_F(DoctorTest, ExpiredCertificateFails) {
  CheckResult r =
      CheckCertificate(MakeCert("old.pem", 1'799'999'200 - 86400), clock_, Language::kJapanese);
  EXPECT_EQ(r.level, CheckLevel::kFailed);
  EXPECT_NE(r.detail.find("期限切れ"), std::string::npos) << r.detail;
}

TEST_F(DoctorTest, NotACertificateFails) {
  std::ofstream(dir_ / "junk.pem") << "hello";
  EXPECT_EQ(CheckCertificate(dir_ / "junk.pem", clock_, Language::kEnglish).level,
            CheckLevel::kFailed);
  EXPECT_EQ(CheckCertificate(dir_ / "missing.pem", clock_, Language::kEnglish).level,
            CheckLevel::kFailed);
}

TEST_F(DoctorTest, SecretPermissions) {
  std::ofstream(dir_ / "s") << "x";
  ::chmod((dir_ / "s").c_str(), 0644);
  CheckResult r = CheckSecret(dir_ / "s", Language::kEnglish);
  EXPECT_EQ(r.level, CheckLevel::kFailed);
  EXPECT_EQ(r.fix, "chmod 600 " + (dir_ / "s").string());
  ::chmod((dir_ / "s").c_str(), 0600);
  EXPECT_EQ(CheckSecret(dir_ / "s", Language::kEnglish).level, CheckLevel::kOk);
}

TEST_F(DoctorTest, FreeSpaceThresholds) {
  EXPECT_EQ(CheckFreeSpace(dir_, 1, Language::kEnglish).level, CheckLevel::kOk);
  EXPECT_EQ(CheckFreeSpace(dir_, 1ULL << 62, Language::kEnglish).level, CheckLevel::kFailed);
  EXPECT_EQ(CheckFreeSpace(dir_ / "missing", 1, Language::kEnglish).level, CheckLevel::kFailed);
}

TEST_F(DoctorTest, TableAndExitStatus) {
  std::vector<DoctorCheck> checks = {
      {"config",
       [] {
         return CheckResult{CheckLevel::kOk, "valid", ""};
       }},
      {"certificate",
       [] {
         return CheckResult{CheckLevel::kWarning, "expires soon", "renew"};
       }},
  };
  std::ostringstream out;
  EXPECT_EQ(RunDoctor(checks, Language::kEnglish, out), 1);
  EXPECT_EQ(out.str(),
            "check        state    detail\n"
            "config       ok       valid\n"
            "certificate  WARNING  expires soon\n"
            "                      fix: renew\n"
            "Some checks need attention soon.\n");
  checks.push_back({"pacs", [] { return CheckResult{CheckLevel::kFailed, "no answer", "x"}; }});
  std::ostringstream ja;
  EXPECT_EQ(RunDoctor(checks, Language::kJapanese, ja), 2);
  EXPECT_NE(ja.str().find("異常があります"), std::string::npos);
  std::ostringstream none;
  EXPECT_EQ(RunDoctor({}, Language::kEnglish, none), 0);
}

}  // namespace
}  // namespace tsunagu::common
