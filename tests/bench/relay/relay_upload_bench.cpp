// Upload driver for the relay benchmark: uploads the instances listed in a manifest
// ("<sop uid> <path>" per line) with the real RelayClient over mutual TLS, commits, and prints
// one line: "bytes=N seconds=S mb_per_s=R hashes=H commit_seconds=C token=T" (S includes C,
// the commit alone: the relay makes the study durable then).
// HASHES (optional last argument) says what the client is given:
//   known     each instance's SHA-256 and size, as the gateway has them from de-identification
//             (RelayClient::UploadKnownInstance): what a gateway does, the headline figure;
//   computed  nothing: the client hashes every file before sending it (UploadInstance).
#include <atomic>
#include <chrono>
#include <fstream>
#include <iostream>
#include <memory>
#include <sstream>
#include <thread>
#include <vector>

#include "tsunagu/common/crypto.h"
#include "tsunagu/common/logging.h"
#include "tsunagu/relay/relay_client.h"

int main(int argc, char** argv) {
  const std::string hashes = argc == 10 ? argv[9] : "known";
  if ((argc != 9 && argc != 10) || (hashes != "known" && hashes != "computed")) {
    std::cerr << "usage: tsunagu_relay_bench_upload URL CA CERT KEY STUDY_UID MANIFEST THREADS "
                 "CHUNK_BYTES [known|computed]\n";
    return 2;
  }
  using namespace tsunagu;
  relay::RelayClientOptions o;
  o.base_url = argv[1];
  o.ca_file = argv[2];
  o.client_cert_file = argv[3];
  o.client_key_file = argv[4];
  const std::string study = argv[5];
  const int threads = std::max(1, std::atoi(argv[7]));
  o.chunk_size = std::stoull(argv[8]);
  o.timeout = std::chrono::seconds(60);
  auto logger = common::MakeStderrLogger("bench", spdlog::level::warn);
  // One client (one keep-alive TLS connection) per upload thread, as the gateway's uploader.
  std::vector<std::unique_ptr<relay::RelayClient>> clients;
  for (int t = 0; t < threads; ++t) {
    auto client =
        relay::MakeHttpsRelayClient(o, {std::make_shared<common::SystemClock>(), logger, {}});
    if (!client.ok()) {
      std::cerr << client.status() << "\n";
      return 1;
    }
    clients.push_back(std::move(*client));
  }
  std::vector<std::pair<std::string, std::string>> files;
  std::ifstream manifest(argv[6]);
  std::string sop, path;
  while (manifest >> sop >> path) files.emplace_back(sop, path);
  // Hashes for the commit are computed before the clock starts (the gateway has them already).
  std::vector<relay::InstanceRef> refs;
  std::uint64_t bytes = 0;
  for (const auto& [s, p] : files) {
    std::ifstream in(p, std::ios::binary);
    std::string data((std::istreambuf_iterator<char>(in)), {});
    bytes += data.size();
    refs.push_back({s, common::HexEncode(common::Sha256(data)), data.size()});
  }
  const auto start = std::chrono::steady_clock::now();
  std::atomic<std::size_t> next{0};
  std::atomic<int> failures{0};
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) {
    pool.emplace_back([&, t] {
      for (std::size_t i = next++; i < files.size(); i = next++) {
        auto st = hashes == "known"
                      ? clients[t]->UploadKnownInstance(study, refs[i], files[i].second)
                      : clients[t]->UploadInstance(study, files[i].first, files[i].second);
        if (!st.ok()) {
          std::cerr << "upload failed: " << st << "\n";
          ++failures;
        }
      }
    });
  }
  for (auto& t : pool) t.join();
  const auto uploaded = std::chrono::steady_clock::now();
  auto commit = clients[0]->Commit({study, refs, "bench", {}, {}});
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (failures > 0 || !commit.ok()) {
    std::cerr << "commit: " << commit.status() << "\n";
    return 1;
  }
  const std::string token = commit->viewer_url.substr(commit->viewer_url.rfind('/') + 1);
  std::cout << "bytes=" << bytes << " seconds=" << seconds
            << " mb_per_s=" << (static_cast<double>(bytes) / 1e6 / seconds) << " hashes=" << hashes
            << " commit_seconds="
            << std::chrono::duration<double>(std::chrono::steady_clock::now() - uploaded).count()
            << " token=" << token << "\n";
  return 0;
}
