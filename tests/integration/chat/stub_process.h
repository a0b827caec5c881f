// Helpers for the chat integration tests: a private temporary directory, test certificates made
// with the openssl tool, and child processes (the HTTPS stub, prosody) with bounded waits.
#ifndef TSUNAGU_TESTS_INTEGRATION_CHAT_STUB_PROCESS_H_
#define TSUNAGU_TESTS_INTEGRATION_CHAT_STUB_PROCESS_H_

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "tsunagu/common/subprocess.h"

extern char** environ;

namespace tsunagu::chat::testing {

inline std::filesystem::path MakeTempDir() {
  std::string tmpl = (std::filesystem::temp_directory_path() / "tsunagu-chat-it-XXXXXX").string();
  if (::mkdtemp(tmpl.data()) == nullptr) std::abort();
  return tmpl;
}

inline void WriteText(const std::filesystem::path& p, const std::string& text, int mode = 0600) {
  std::ofstream(p) << text;
  ::chmod(p.c_str(), mode);
}

inline std::string ReadText(const std::filesystem::path& p) {
  std::ifstream in(p);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// Runs a command that must succeed within 60 s; returns an error text or empty.
inline std::string Run(const std::vector<std::string>& argv) {
  auto r = common::RunCommand(argv, std::chrono::seconds(60));
  if (!r.ok()) return r.status().ToString();
  if (r->exit_code != 0) return argv[0] + " failed: " + r->err;
  return "";
}

// A CA and a server certificate for 127.0.0.1 and localhost signed by it, in `dir`:
// ca.pem, server.pem, server-key.pem. Also a self-signed untrusted.pem/untrusted-key.pem.
inline std::string MakeCertificates(const std::filesystem::path& dir, const std::string& cn) {
  const std::string d = dir.string() + "/";
  for (auto argv : std::vector<std::vector<std::string>>{
           {"openssl",
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            d + "ca-key.pem",
            "-out",
            d + "ca.pem",
            "-days",
            "2",
            "-subj",
            "/CN=Tsunagu test CA",
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign"},
           {"openssl", "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-keyout", d + "server-key.pem", "-out", d + "server.csr", "-subj", "/CN=" + cn},
           {"openssl", "x509", "-req", "-in", d + "server.csr", "-CA", d + "ca.pem", "-CAkey",
            d + "ca-key.pem", "-CAcreateserial", "-out", d + "server.pem", "-days", "2", "-extfile",
            d + "san.cnf"},
           {"openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
            "-nodes", "-keyout", d + "untrusted-key.pem", "-out", d + "untrusted.pem", "-days", "2",
            "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"}}) {
    if (argv[1] == "x509") {
      WriteText(dir / "san.cnf",
                "subjectAltName=IP:127.0.0.1,DNS:localhost,DNS:" + cn +
                    "\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth,clientAuth\n");
    }
    if (std::string e = Run(argv); !e.empty()) return e;
  }
  return "";
}

// A child process with its stdout on a pipe. Killed (SIGTERM, then SIGKILL) on destruction.
class Child {
 public:
  Child() = default;
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;
  ~Child() { Stop(); }

  // Starts argv; returns an error text or empty.
  std::string Start(const std::vector<std::string>& argv) {
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0) return "pipe failed";
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, fds[1], 1);
    posix_spawnattr_t attr;
    posix_spawnattr_init(&attr);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP);
    posix_spawnattr_setpgroup(&attr, 0);
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    const int rc = posix_spawnp(&pid_, args[0], &actions, &attr, args.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    posix_spawnattr_destroy(&attr);
    ::close(fds[1]);
    out_ = fds[0];
    if (rc != 0) {
      pid_ = -1;
      return "cannot start " + argv[0];
    }
    return "";
  }

  // Reads stdout until a line starting with `prefix` appears (returns the rest of the line) or
  // `timeout` passes (returns nullopt-like empty with ok=false).
  bool WaitForLine(const std::string& prefix, std::chrono::milliseconds timeout,
                   std::string* rest) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      const auto nl = buffer_.find('\n');
      if (nl != std::string::npos) {
        const std::string line = buffer_.substr(0, nl);
        buffer_.erase(0, nl + 1);
        if (line.rfind(prefix, 0) == 0) {
          *rest = line.substr(prefix.size());
          return true;
        }
        continue;
      }
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) return false;
      pollfd p{out_, POLLIN, 0};
      if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) return false;
      char buf[512];
      const ssize_t n = ::read(out_, buf, sizeof buf);
      if (n <= 0) return false;
      buffer_.append(buf, static_cast<std::size_t>(n));
    }
  }

  void Stop() {
    if (pid_ > 0) {
      ::kill(-pid_, SIGTERM);
      for (int i = 0; i < 100; ++i) {  // at most 2 s
        if (::waitpid(pid_, nullptr, WNOHANG) == pid_) {
          pid_ = -1;
          break;
        }
        ::usleep(20'000);
      }
      if (pid_ > 0) {
        ::kill(-pid_, SIGKILL);
        ::waitpid(pid_, nullptr, 0);
        pid_ = -1;
      }
    }
    if (out_ >= 0) {
      ::close(out_);
      out_ = -1;
    }
  }

 private:
  pid_t pid_ = -1;
  int out_ = -1;
  std::string buffer_;
};

}  // namespace tsunagu::chat::testing

#endif  // TSUNAGU_TESTS_INTEGRATION_CHAT_STUB_PROCESS_H_
