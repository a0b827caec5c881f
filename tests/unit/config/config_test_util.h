// Helpers for config tests: a private temporary directory with valid secret and cert files.
#ifndef TSUNAGU_TESTS_UNIT_CONFIG_CONFIG_TEST_UTIL_H_
#define TSUNAGU_TESTS_UNIT_CONFIG_CONFIG_TEST_UTIL_H_

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

namespace tsunagu::config::testing {

class ConfigDir : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (std::filesystem::temp_directory_path() / "tsunagu-cfg-XXXXXX").string();
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
    for (const char* name : {"secret", "client-key.pem", "relay-key.pem", "viewer-key.pem"}) {
      WriteFile(name, "not-a-real-key\n", 0600);
    }
    for (const char* name : {"ca.pem", "client-cert.pem", "relay-cert.pem", "viewer-cert.pem"}) {
      WriteFile(name, "-----BEGIN CERTIFICATE-----\n", 0644);
    }
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::filesystem::path WriteFile(const std::string& name, const std::string& content,
                                  mode_t mode = 0644) {
    const auto path = dir_ / name;
    std::ofstream(path) << content;
    ::chmod(path.c_str(), mode);
    return path;
  }

  std::filesystem::path dir_;
};

}  // namespace tsunagu::config::testing

#endif  // TSUNAGU_TESTS_UNIT_CONFIG_CONFIG_TEST_UTIL_H_
