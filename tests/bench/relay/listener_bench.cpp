// Listener comparison for the relay benchmark: serves GET /blob (BYTES bytes, the size of a CT
// frame answer) over TLS with one of the relay's HttpServer implementations, so that wrk can
// measure the listener alone: "beast" (the relay's) or "cpprest" (the former one). Prints
// "ready" once listening and serves until stdin closes.
#include <cstdlib>
#include <iostream>
#include <string>

#include "http_server.h"
#include "tsunagu/common/logging.h"

int main(int argc, char** argv) {
  if (argc != 6) {
    std::cerr << "usage: tsunagu_relay_bench_listener beast|cpprest PORT CERT KEY BYTES\n";
    return 2;
  }
  using namespace tsunagu;
  const std::string kind = argv[1];
  relay::TlsListenerOptions o;
  o.port = static_cast<std::uint16_t>(std::stoi(argv[2]));
  o.cert_file = argv[3];
  o.key_file = argv[4];
  const std::string blob(std::stoull(argv[5]), 'x');
  if (const char* t = std::getenv("LISTENER_THREADS")) o.threads = std::stoul(t);
  auto logger = common::MakeStderrLogger("listener", spdlog::level::warn);
  relay::HttpHandler handler = [&blob](const relay::HttpRequest& r) {
    if (r.path != "/blob") return relay::HttpResponse{404, {}, "{}"};
    relay::HttpResponse out{200, {}, blob, "application/octet-stream"};  // a copy, as a handler
    return out;                                                          // building an answer
  };
  auto server = kind == "cpprest" ? relay::MakeCpprestHttpsServer(o, handler, logger)
                                  : relay::MakeHttpsServer(o, handler, logger);
  if (!server.ok()) {
    std::cerr << server.status() << "\n";
    return 1;
  }
  if (auto st = (*server)->Start(); !st.ok()) {
    std::cerr << st << "\n";
    return 1;
  }
  std::cout << "ready" << std::endl;
  std::string line;
  while (std::getline(std::cin, line)) {
  }
  (*server)->Stop();
  return 0;
}
