// Rendered frames per second of tsunagu_viewer, in process: each iteration takes the next file's
// bytes from memory (as the relay holds a decrypted object), opens it, decodes frame 0, applies
// the default window and encodes a JPEG (quality 90, native size), like Orthanc's
// /instances/{id}/frames/0/rendered. With --threads N, N threads do this concurrently.
//
// Usage: tsunagu_viewer_render_bench --dir DIR [--seconds S] [--threads N] [--warm]
//   --warm: keep each object open and only decode+window+encode (a cache of parsed headers).
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "tsunagu/viewer/frame_source.h"

namespace {

std::string ReadAll(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

}  // namespace

int main(int argc, char** argv) {
  std::filesystem::path dir;
  double seconds = 5;
  int threads = 1;
  bool warm = false;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--dir" && i + 1 < argc) {
      dir = argv[++i];
    } else if (arg == "--seconds" && i + 1 < argc) {
      seconds = std::atof(argv[++i]);
    } else if (arg == "--threads" && i + 1 < argc) {
      threads = std::max(1, std::atoi(argv[++i]));
    } else if (arg == "--warm") {
      warm = true;
    } else {
      std::fprintf(stderr, "usage: %s --dir DIR [--seconds S] [--threads N] [--warm]\n", argv[0]);
      return 2;
    }
  }
  std::vector<std::shared_ptr<const std::string>> files;
  for (const auto& entry : std::filesystem::recursive_directory_iterator(dir)) {
    if (entry.path().extension() == ".dcm") {
      files.push_back(std::make_shared<const std::string>(ReadAll(entry.path())));
    }
  }
  if (files.empty()) {
    std::fprintf(stderr, "render_bench: no .dcm files under %s\n", dir.c_str());
    return 1;
  }
  using tsunagu::viewer::FrameSource;
  using tsunagu::viewer::MemoryDicomReader;
  tsunagu::viewer::RenderParams params;
  params.quality = 90;

  std::atomic<long> frames{0};
  std::atomic<long> bytes{0};
  std::atomic<bool> failed{false};
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
  auto worker = [&](int id) {
    std::vector<std::unique_ptr<FrameSource>> open;
    if (warm) {
      for (const auto& f : files) {
        auto s = FrameSource::Open(std::make_shared<MemoryDicomReader>(f));
        if (!s.ok()) {
          failed = true;
          return;
        }
        open.push_back(std::move(*s));
      }
    }
    std::size_t next = static_cast<std::size_t>(id);
    while (std::chrono::steady_clock::now() < deadline) {
      const std::size_t index = next++ % files.size();
      std::unique_ptr<FrameSource> cold;
      FrameSource* source = nullptr;
      if (warm) {
        source = open[index].get();
      } else {
        auto s = FrameSource::Open(std::make_shared<MemoryDicomReader>(files[index]));
        if (!s.ok()) {
          std::fprintf(stderr, "render_bench: %s\n", s.status().ToString().c_str());
          failed = true;
          return;
        }
        cold = std::move(*s);
        source = cold.get();
      }
      auto image = source->RenderJpeg(0, params);
      if (!image.ok()) {
        std::fprintf(stderr, "render_bench: %s\n", image.status().ToString().c_str());
        failed = true;
        return;
      }
      bytes += static_cast<long>(image->jpeg.size());
      ++frames;
    }
  };
  const auto start = std::chrono::steady_clock::now();
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) pool.emplace_back(worker, t);
  for (auto& t : pool) t.join();
  const double elapsed =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (failed) return 1;
  std::printf(
      "tsunagu frames=%ld seconds=%.2f frames_per_s=%.1f mean_jpeg_bytes=%ld threads=%d %s\n",
      frames.load(), elapsed, frames / elapsed, frames ? bytes / frames : 0, threads,
      warm ? "warm" : "cold");
  return 0;
}
