// libFuzzer target: the parse + de-identify + verify + write path of the anonymizer on arbitrary
// bytes. Any crash, sanitizer report, leak or hang is a bug; refusals and errors are expected.
//
// Build (separate tree, clang 14):
//   cmake -S . -B build-fuzz -G Ninja -DCMAKE_C_COMPILER=clang-14 -DCMAKE_CXX_COMPILER=clang++-14 \
//     -DTSUNAGU_FUZZ=ON && ninja -C build-fuzz tsunagu_anonymizer_fuzz
// Short run (CI, label fuzz): ctest --test-dir build-fuzz -L fuzz
// Longer run (by hand, e.g. an hour on both cores):
//   build-fuzz/tests/fuzz/anonymizer/tsunagu_anonymizer_fuzz -max_total_time=3600 -jobs=2 \
//     -max_len=65536 -timeout=10 -rss_limit_mb=2048 CORPUS_DIR \
//     /usr/lib/python3/dist-packages/pydicom/data/test_files
#include <dcmtk/oflog/oflog.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>

#include "tsunagu/anonymizer/deidentifier.h"

namespace {

struct State {
  std::unique_ptr<tsunagu::anonymizer::Deidentifier> deidentifier;
  std::filesystem::path input;
  std::filesystem::path output;
};

State& GetState() {
  static State* state = [] {
    OFLog::configure(OFLogger::OFF_LOG_LEVEL);
    auto* s = new State;
    tsunagu::anonymizer::ProfileOptions options;
    options.site_secret = "fuzz-secret";
    // A mask rule for everything, so that the masking path is fuzzed too.
    options.pixel_mask_rules.push_back({"", "", 0, 0, {{0, 0, 4, 4}}});
    s->deidentifier = std::move(*tsunagu::anonymizer::Deidentifier::Create(options));
    const std::filesystem::path base = std::filesystem::exists("/dev/shm")
                                           ? std::filesystem::path("/dev/shm")
                                           : std::filesystem::temp_directory_path();
    const std::string pid = std::to_string(::getpid());
    s->input = base / ("tsunagu-fuzz-" + pid + ".dcm");
    s->output = base / ("tsunagu-fuzz-out-" + pid);
    std::filesystem::create_directories(s->output);
    // Leave nothing behind in /dev/shm when the fuzzer exits normally.
    std::atexit([] {
      std::error_code ec;
      std::filesystem::remove(GetState().input, ec);
      std::filesystem::remove_all(GetState().output, ec);
    });
    return s;
  }();
  return *state;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  State& state = GetState();
  {
    std::ofstream out(state.input, std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
  }
  auto result = state.deidentifier->DeidentifyFile(state.input, state.output);
  (void)result;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(state.output, ec)) {
    std::filesystem::remove(entry.path(), ec);
  }
  return 0;
}
