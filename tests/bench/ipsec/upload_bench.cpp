// tsunagu-upload-bench: uploads every file of DIR (de-identified instances named
// <SOP Instance UID>.dcm, as tsunagu-anonymize writes them) to a relay with the same RelayClient
// the gateway uses, `--jobs` at a time, then commits the study; prints bytes and seconds.
//   tsunagu-upload-bench --url URL --ca F --cert F --key F --study UID [--jobs N] DIR
#include <spdlog/sinks/null_sink.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <memory>
#include <mutex>
#include <thread>

#include "tsunagu/common/cli.h"
#include "tsunagu/common/crypto.h"
#include "tsunagu/common/file_system.h"
#include "tsunagu/common/logging.h"
#include "tsunagu/relay/relay_client.h"

int main(int argc, char** argv) {
  using namespace tsunagu;
  common::CliSpec spec{{}, {"--url", "--ca", "--cert", "--key", "--study", "--jobs"}, {}};
  auto args = common::CliArgs::Parse(std::vector<std::string>(argv + 1, argv + argc), spec);
  if (!args.ok() || args->positional().size() != 1 || !args->Option("--url") ||
      !args->Option("--study")) {
    std::cerr << "usage: tsunagu-upload-bench --url URL --ca F --cert F --key F --study UID "
                 "[--jobs N] DIR\n";
    return 2;
  }
  relay::RelayClientOptions options;
  options.base_url = *args->Option("--url");
  options.ca_file = args->Option("--ca").value_or("");
  options.client_cert_file = args->Option("--cert").value_or("");
  options.client_key_file = args->Option("--key").value_or("");
  options.timeout = std::chrono::seconds(60);
  auto logger = common::MakeLogger("bench", {std::make_shared<spdlog::sinks::null_sink_mt>()},
                                   spdlog::level::off);
  std::vector<std::filesystem::path> files;
  for (const auto& entry : std::filesystem::directory_iterator(args->positional()[0])) {
    if (entry.is_regular_file() && entry.path().extension() == ".dcm")
      files.push_back(entry.path());
  }
  const std::string study = *args->Option("--study");
  const int jobs = std::max(1, std::atoi(args->Option("--jobs").value_or("4").c_str()));
  // The commit list is computed before the clock starts (the gateway has these hashes from
  // de-identification); the client hashes each file again as it uploads, which is timed.
  std::vector<relay::InstanceRef> refs;
  std::uint64_t bytes = 0;
  common::LocalFileSystem fs;
  for (const auto& file : files) {
    auto content = fs.ReadFile(file);
    if (!content.ok()) {
      std::cerr << content.status().ToString() << "\n";
      return 1;
    }
    refs.push_back(
        {file.stem().string(), common::HexEncode(common::Sha256(*content)), content->size()});
    bytes += content->size();
  }
  // One client (one keep-alive TLS connection) per job, as the gateway's uploader does.
  std::vector<std::unique_ptr<relay::RelayClient>> clients;
  for (int t = 0; t < jobs; ++t) {
    auto client = relay::MakeHttpsRelayClient(
        options, {std::make_shared<common::SystemClock>(), logger, nullptr});
    if (!client.ok()) {
      std::cerr << client.status().ToString() << "\n";
      return 1;
    }
    clients.push_back(std::move(*client));
  }
  std::atomic<std::size_t> next{0};
  std::mutex error_mu;
  common::Status first_error;
  const auto start = std::chrono::steady_clock::now();
  std::vector<std::thread> threads;
  for (int t = 0; t < jobs; ++t) {
    threads.emplace_back([&, t] {
      for (std::size_t i = next++; i < files.size(); i = next++) {
        // The SHA-256 and size known beforehand, as the gateway has them from de-identification.
        common::Status s = clients[t]->UploadKnownInstance(study, refs[i], files[i]);
        if (s.ok()) continue;
        std::lock_guard lock(error_mu);
        if (first_error.ok()) first_error = s;
      }
    });
  }
  for (auto& t : threads) t.join();
  if (!first_error.ok()) {
    std::cerr << "upload failed: " << first_error.ToString() << "\n";
    return 1;
  }
  auto commit = clients[0]->Commit({study, refs, "bench", std::nullopt, std::nullopt});
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (!commit.ok()) {
    std::cerr << "commit failed: " << commit.status().ToString() << "\n";
    return 1;
  }
  std::printf("instances=%zu bytes=%llu seconds=%.3f hashes=known\n", files.size(),
              static_cast<unsigned long long>(bytes), seconds);
  return 0;
}
