#include "relay_test_env.h"

#include <arpa/inet.h>
#include <cpprest/http_client.h>
#include <dcmtk/config/osconfig.h>
#include <dcmtk/dcmdata/dcdeftag.h>
#include <dcmtk/dcmdata/dcfilefo.h>
#include <dcmtk/dcmdata/dcitem.h>
#include <dcmtk/dcmdata/dcsequen.h>
#include <dcmtk/dcmdata/dcuid.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <boost/asio/ssl.hpp>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

namespace tsunagu::relay::testing {

std::filesystem::path MakeTempDir(const std::string& name) {
  auto dir = std::filesystem::temp_directory_path() /
             ("tsunagu_relay_it_" + std::to_string(::getpid()) + "_" + name);
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir;
}

std::string ReadFile(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

void WriteFile(const std::filesystem::path& p, const std::string& data) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out << data;
}

std::uint16_t FreePort() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  socklen_t len = sizeof addr;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  ::close(fd);
  return ntohs(addr.sin_port);
}

int Shell(const std::string& command) {
  const int rc = std::system(command.c_str());
  return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

namespace {

void MakeKeyAndCert(const std::filesystem::path& dir, const std::string& name,
                    const std::string& cn, const std::string& ca_name, const std::string& ext) {
  const std::string d = dir.string() + "/";
  WriteFile(dir / (name + ".ext"), ext + "\n");
  const std::string cmd =
      "cd " + d + " && openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout " +
      name + ".key -out " + name + ".csr -subj '/CN=" + cn +
      "' 2>/dev/null && openssl x509 -req -in " + name + ".csr -CA " + ca_name + ".pem -CAkey " +
      ca_name + ".key -CAcreateserial -out " + name + ".pem -days 2 -extfile " + name +
      ".ext 2>/dev/null && chmod 600 " + name + ".key";
  if (Shell(cmd) != 0) throw std::runtime_error("openssl failed for " + name);
}

void MakeCa(const std::filesystem::path& dir, const std::string& name, const std::string& cn) {
  const std::string cmd = "cd " + dir.string() +
                          " && openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 "
                          "-nodes -keyout " +
                          name + ".key -out " + name + ".pem -days 2 -subj '/CN=" + cn +
                          "' 2>/dev/null && chmod 600 " + name + ".key";
  if (Shell(cmd) != 0) throw std::runtime_error("openssl failed for CA " + name);
}

}  // namespace

TestPki TestPki::Create(const std::filesystem::path& dir) {
  std::filesystem::create_directories(dir);
  MakeCa(dir, "ca", "Tsunagu Test CA");
  MakeCa(dir, "foreign_ca", "Someone Else CA");
  MakeKeyAndCert(dir, "server", "localhost", "ca",
                 "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth");
  MakeKeyAndCert(dir, "gateway", "gateway.test", "ca", "extendedKeyUsage=clientAuth");
  MakeKeyAndCert(dir, "gateway2", "gateway2.test", "ca", "extendedKeyUsage=clientAuth");
  MakeKeyAndCert(dir, "rogue", "rogue.test", "ca", "extendedKeyUsage=clientAuth");
  MakeKeyAndCert(dir, "foreign", "gateway.test", "foreign_ca", "extendedKeyUsage=clientAuth");
  TestPki p;
  p.dir = dir;
  p.ca = dir / "ca.pem";
  p.server_cert = dir / "server.pem";
  p.server_key = dir / "server.key";
  p.gateway_cert = dir / "gateway.pem";
  p.gateway_key = dir / "gateway.key";
  p.gateway2_cert = dir / "gateway2.pem";
  p.gateway2_key = dir / "gateway2.key";
  p.rogue_cert = dir / "rogue.pem";
  p.rogue_key = dir / "rogue.key";
  p.foreign_cert = dir / "foreign.pem";
  p.foreign_key = dir / "foreign.key";
  return p;
}

std::vector<std::string> WriteInstance(const std::filesystem::path& path, const InstanceSpec& s) {
  DcmFileFormat ff;
  DcmDataset* ds = ff.getDataset();
  ds->putAndInsertString(DCM_SOPClassUID, UID_CTImageStorage);
  ds->putAndInsertString(DCM_SOPInstanceUID, s.sop_uid.c_str());
  ds->putAndInsertString(DCM_StudyInstanceUID, s.study_uid.c_str());
  ds->putAndInsertString(DCM_SeriesInstanceUID, s.series_uid.c_str());
  ds->putAndInsertString(DCM_PatientName, "ANONYMIZED");
  ds->putAndInsertString(DCM_PatientID, s.patient_id.c_str());
  ds->putAndInsertString(DCM_PatientIdentityRemoved, s.identity_removed ? "YES" : "NO");
  ds->putAndInsertString(DCM_DeidentificationMethod, "synthetic test instance");
  ds->putAndInsertString(DCM_Modality, "CT");
  ds->putAndInsertString(DCM_StudyDate, "20260101");
  ds->putAndInsertString(DCM_SeriesNumber, "1");
  ds->putAndInsertString(DCM_InstanceNumber, std::to_string(s.instance_number).c_str());
  ds->putAndInsertUint16(DCM_Rows, static_cast<Uint16>(s.rows));
  ds->putAndInsertUint16(DCM_Columns, static_cast<Uint16>(s.cols));
  ds->putAndInsertUint16(DCM_SamplesPerPixel, 1);
  ds->putAndInsertString(DCM_PhotometricInterpretation, "MONOCHROME2");
  ds->putAndInsertUint16(DCM_BitsAllocated, 16);
  ds->putAndInsertUint16(DCM_BitsStored, 12);
  ds->putAndInsertUint16(DCM_HighBit, 11);
  ds->putAndInsertUint16(DCM_PixelRepresentation, 0);
  if (s.frames > 1) ds->putAndInsertString(DCM_NumberOfFrames, std::to_string(s.frames).c_str());
  if (s.private_tag) {
    ds->putAndInsertString(DcmTag(0x0009, 0x0010, EVR_LO), "ACME");
    ds->putAndInsertString(DcmTag(0x0009, 0x1001, EVR_LO), "secret");
  }
  if (s.private_tag_in_sequence) {
    auto* item = new DcmItem();
    item->putAndInsertString(DcmTag(0x0011, 0x0010, EVR_LO), "ACME");
    item->putAndInsertString(DcmTag(0x0011, 0x1001, EVR_LO), "hidden");
    ds->insertSequenceItem(DCM_ReferencedStudySequence, item);
  }
  const std::size_t per_frame = static_cast<std::size_t>(s.rows) * s.cols;
  std::vector<Uint16> pixels(per_frame * s.frames);
  std::vector<std::string> frames;
  for (int f = 0; f < s.frames; ++f) {
    for (std::size_t i = 0; i < per_frame; ++i) {
      pixels[f * per_frame + i] = static_cast<Uint16>((f * 1000 + i) & 0x0fff);
    }
    frames.emplace_back(reinterpret_cast<const char*>(pixels.data() + f * per_frame),
                        per_frame * 2);
  }
  ds->putAndInsertUint16Array(DCM_PixelData, pixels.data(),
                              static_cast<unsigned long>(pixels.size()));
  if (ff.saveFile(path.c_str(), EXS_LittleEndianExplicit).bad()) {
    throw std::runtime_error("cannot write test instance");
  }
  return frames;
}

HttpReply Https(const std::string& method, const std::string& url,
                const std::map<std::string, std::string>& headers, const std::string& body,
                const std::filesystem::path& ca, std::optional<HttpsClientCert> client) {
  namespace http = web::http;
  HttpReply out;
  try {
    http::client::http_client_config config;
    config.set_timeout(std::chrono::seconds(10));
    config.set_max_redirects(0);  // the tests check redirects themselves
    const std::string ca_s = ca.string();
    config.set_ssl_context_callback([ca_s, client](boost::asio::ssl::context& ctx) {
      ctx.load_verify_file(ca_s);
      if (client) {
        ctx.use_certificate_chain_file(client->cert.string());
        ctx.use_private_key_file(client->key.string(), boost::asio::ssl::context::pem);
      }
    });
    const auto scheme_end = url.find("://");
    const auto path_start = url.find('/', scheme_end + 3);
    http::client::http_client c(url.substr(0, path_start), config);
    http::http_request req(method);
    req.set_request_uri(path_start == std::string::npos ? "/" : url.substr(path_start));
    if (!body.empty()) req.set_body(std::vector<unsigned char>(body.begin(), body.end()));
    for (const auto& [k, v] : headers) req.headers()[k] = v;
    auto resp = c.request(req).get();
    out.status = resp.status_code();
    for (const auto& [k, v] : resp.headers()) {
      std::string lk = k;
      std::transform(lk.begin(), lk.end(), lk.begin(), ::tolower);
      out.headers[lk] = v;
    }
    auto bytes = resp.extract_vector().get();
    out.body.assign(bytes.begin(), bytes.end());
  } catch (const std::exception& e) {
    out.status = 0;
    out.error = e.what();
  }
  return out;
}

std::string RawExchange(std::uint16_t port, const std::string& bytes) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(port);
  std::string out;
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0) {
    (void)::write(fd, bytes.data(), bytes.size());
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(3);
    while (std::chrono::steady_clock::now() < deadline) {
      pollfd p{fd, POLLIN, 0};
      if (::poll(&p, 1, 200) <= 0) continue;
      char buf[4096];
      const ssize_t n = ::read(fd, buf, sizeof buf);
      if (n <= 0) break;
      out.append(buf, static_cast<std::size_t>(n));
    }
  }
  ::close(fd);
  return out;
}

RelayProcess::RelayProcess(const TestPki& pki, RelayConfig config)
    : pki_(pki), config_(std::move(config)), upload_port_(FreePort()), viewer_port_(FreePort()) {
  while (viewer_port_ == upload_port_) viewer_port_ = FreePort();
  std::ostringstream toml;
  toml << "language = \"en\"\nlog_level = \"debug\"\n"
       << "[upload]\nbind_address = \"127.0.0.1\"\nport = " << upload_port_ << "\n"
       << "cert_file = \"" << pki_.server_cert.string() << "\"\nkey_file = \""
       << pki_.server_key.string() << "\"\nclient_ca_file = \"" << pki_.ca.string() << "\"\n"
       << "allowed_clients = [\"gateway.test\", \"gateway2.test\"]\nmax_request_size = \""
       << config_.max_request_size << "\"\n"
       << "[viewer]\nbind_address = \"127.0.0.1\"\nport = " << viewer_port_ << "\n"
       << "cert_file = \"" << pki_.server_cert.string() << "\"\nkey_file = \""
       << pki_.server_key.string() << "\"\npublic_url = \"https://127.0.0.1:" << viewer_port_
       << "\"\ncors_origins = [\"https://ohif.example\"]\n"
       << "assets_directory = \"" << config_.viewer_assets << "\"\n"
       << "[store]\ndata_directory = \"" << data_dir().string() << "\"\nkey_directory = \""
       << key_dir().string() << "\"\nquota = \"" << config_.quota << "\"\n"
       << "[retention]\nperiod = \"" << config_.retention << "\"\npurge_interval = \""
       << config_.purge_interval << "\"\n"
       << "[links]\naccess_code_max_failures = 3\nrevocation_cache = \"1s\"\n"
       << config_.extra;
  WriteFile(config_file(), toml.str());
}

RelayProcess::~RelayProcess() { Stop(); }

bool RelayProcess::Start() {
  pid_ = ::fork();
  if (pid_ == 0) {
    const int fd = ::open((config_.dir / "relay.log").c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);
    ::dup2(fd, 1);
    ::dup2(fd, 2);
    ::execl(TSUNAGU_RELAY_BINARY, "tsunagu-relay", "--config", config_file().c_str(),
            static_cast<char*>(nullptr));
    ::_exit(127);
  }
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(15);
  while (std::chrono::steady_clock::now() < deadline) {
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      return false;
    }
    bool all = true;
    for (auto port : {upload_port_, viewer_port_}) {
      const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
      sockaddr_in addr{};
      addr.sin_family = AF_INET;
      addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      addr.sin_port = htons(port);
      if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) all = false;
      ::close(fd);
    }
    if (all) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return false;
}

void RelayProcess::Stop() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGTERM);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (std::chrono::steady_clock::now() < deadline) {
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      return;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  Kill();
}

void RelayProcess::Kill() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGKILL);
  int status = 0;
  ::waitpid(pid_, &status, 0);
  pid_ = -1;
}

std::pair<int, std::string> RelayProcess::Command(const std::string& args) const {
  const auto out = config_.dir / "command.out";
  const int rc =
      Shell(std::string(TSUNAGU_RELAY_BINARY) + " --config " + config_file().string() + " " + args +
            " > " + out.string() + " 2>> " + (config_.dir / "command.err").string());
  return {rc, ReadFile(out)};
}

}  // namespace tsunagu::relay::testing
