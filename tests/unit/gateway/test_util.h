// Helpers for gateway unit tests: a private temporary directory and a log capture.
#ifndef TSUNAGU_TESTS_UNIT_GATEWAY_TEST_UTIL_H_
#define TSUNAGU_TESTS_UNIT_GATEWAY_TEST_UTIL_H_

#include <gtest/gtest.h>
#include <spdlog/sinks/ostream_sink.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>

#include "tsunagu/common/logging.h"

namespace tsunagu::gateway::testing {

class TempDir {
 public:
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "tsunagu-gw-XXXXXX").string();
    if (::mkdtemp(tmpl.data()) == nullptr) std::abort();
    path_ = tmpl;
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

// A logger writing into a string, to check that no identifying value is ever logged.
struct CapturedLog {
  std::shared_ptr<std::ostringstream> out = std::make_shared<std::ostringstream>();
  std::shared_ptr<spdlog::logger> logger = common::MakeLogger(
      "test", {std::make_shared<spdlog::sinks::ostream_sink_mt>(*out)}, spdlog::level::trace);
  std::string text() const {
    logger->flush();
    return out->str();
  }
};

inline void WriteFile(const std::filesystem::path& p, const std::string& content) {
  std::filesystem::create_directories(p.parent_path());
  std::ofstream(p, std::ios::binary) << content;
}

inline std::string ReadFile(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace tsunagu::gateway::testing

#endif  // TSUNAGU_TESTS_UNIT_GATEWAY_TEST_UTIL_H_
