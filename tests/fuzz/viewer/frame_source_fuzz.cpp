// libFuzzer target: any bytes handed to FrameSource (as the relay hands it decrypted objects) must
// give a FrameInfo and renders, or an error; never a crash, a hang or unbounded memory.
// Build: cmake -DTSUNAGU_FUZZ=ON -DCMAKE_CXX_COMPILER=clang++-14 ...; run with a corpus of DICOM
// files, e.g. ./tsunagu_viewer_frame_source_fuzz -max_len=200000 corpus/
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "tsunagu/viewer/frame_source.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace tsunagu::viewer;
  auto source = FrameSource::Open(
      std::make_shared<MemoryDicomReader>(std::string(reinterpret_cast<const char*>(data), size)));
  if (!source.ok()) return 0;
  const FrameInfo& info = (*source)->Describe();
  // Bound the work per input: huge declared sizes are legal but make the fuzzer crawl.
  if (static_cast<std::uint64_t>(info.rows) * info.columns > (1u << 22)) return 0;
  RenderParams params;
  params.max_size = 64;
  for (std::uint32_t f = 0; f < info.frames && f < 4; ++f) {
    (void)(*source)->RenderJpeg(f, params);
  }
  return 0;
}
