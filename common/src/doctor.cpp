#include "tsunagu/common/doctor.h"

#include <openssl/pem.h>
#include <openssl/x509.h>

#include <cstdio>
#include <ctime>
#include <memory>
#include <sstream>

#include "tsunagu/common/file_system.h"
#include "tsunagu/common/secret_file.h"
#include "tsunagu/common/units.h"

namespace tsunagu::common {
namespace {

std::string Text(Language lang, std::string_view ja, std::string_view en) {
  return std::string(Pick(lang, ja, en));
}

struct X509Deleter {
  void operator()(X509* x) const { X509_free(x); }
};
struct FileCloser {
  void operator()(std::FILE* f) const { std::fclose(f); }
};

std::string_view LevelText(CheckLevel level, Language lang) {
  switch (level) {
    case CheckLevel::kOk:
      return Pick(lang, "正常", "ok");
    case CheckLevel::kWarning:
      return Pick(lang, "警告", "WARNING");
    case CheckLevel::kFailed:
      return Pick(lang, "異常", "FAILED");
  }
  return "?";
}

// Display width for the table: East Asian characters take two columns.
std::size_t DisplayWidth(std::string_view s) {
  std::size_t width = 0;
  for (std::size_t i = 0; i < s.size();) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    const std::size_t len = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : 4;
    width += len >= 3 ? 2 : 1;
    i += len;
  }
  return width;
}

std::string Pad(std::string_view s, std::size_t width) {
  std::string out(s);
  const std::size_t w = DisplayWidth(s);
  if (w < width) out.append(width - w, ' ');
  return out;
}

std::string Date(std::time_t t) {
  char buf[32];
  std::tm tm{};
  gmtime_r(&t, &tm);
  std::strftime(buf, sizeof buf, "%Y-%m-%d", &tm);
  return buf;
}

}  // namespace

int RunDoctor(const std::vector<DoctorCheck>& checks, Language lang, std::ostream& out) {
  std::vector<CheckResult> results;
  std::size_t name_width = DisplayWidth(Pick(lang, "項目", "check"));
  for (const auto& check : checks) {
    results.push_back(check.run());
    name_width = std::max(name_width, DisplayWidth(check.name));
  }
  out << Pad(Pick(lang, "項目", "check"), name_width) << "  " << Pad(Pick(lang, "状態", "state"), 7)
      << "  " << Pick(lang, "詳細", "detail") << "\n";
  int worst = 0;
  for (std::size_t i = 0; i < checks.size(); ++i) {
    const CheckResult& r = results[i];
    out << Pad(checks[i].name, name_width) << "  " << Pad(LevelText(r.level, lang), 7) << "  "
        << r.detail << "\n";
    if (!r.fix.empty()) {
      out << Pad("", name_width) << "  " << Pad("", 7) << "  " << Pick(lang, "対処: ", "fix: ")
          << r.fix << "\n";
    }
    if (r.level == CheckLevel::kWarning) worst = std::max(worst, 1);
    if (r.level == CheckLevel::kFailed) worst = 2;
  }
  out << (worst == 0   ? Pick(lang, "すべて正常です。", "All checks passed.")
          : worst == 1 ? Pick(lang, "警告があります。", "Some checks need attention soon.")
                       : Pick(lang, "異常があります。上の対処を行ってください。",
                              "Some checks failed; see the fixes above."))
      << "\n";
  return worst;
}

std::vector<DoctorCheck> ConfigErrorChecks(const std::string& errors, Language lang) {
  std::vector<DoctorCheck> checks;
  std::istringstream lines(errors);
  for (std::string line; std::getline(lines, line);) {
    checks.push_back({Text(lang, "設定", "config"), [line, lang] {
                        return CheckResult{
                            CheckLevel::kFailed, line,
                            Text(lang, "設定ファイルを修正", "correct the configuration file")};
                      }});
  }
  return checks;
}

CheckResult CheckCertificate(const std::filesystem::path& path, const Clock& clock, Language lang,
                             std::chrono::hours warn_within) {
  std::unique_ptr<std::FILE, FileCloser> file(std::fopen(path.c_str(), "r"));
  if (!file) {
    return {CheckLevel::kFailed, path.string() + Text(lang, " を読めません", " cannot be read"),
            Text(lang, "証明書を配置し、サービスのユーザーが読めるようにしてください",
                 "install the certificate where the service user can read it")};
  }
  std::unique_ptr<X509, X509Deleter> cert(PEM_read_X509(file.get(), nullptr, nullptr, nullptr));
  if (!cert) {
    return {CheckLevel::kFailed,
            path.string() + Text(lang, " はPEM証明書ではありません", " is not a PEM certificate"),
            Text(lang, "正しい証明書ファイルを指定してください",
                 "point the config at the PEM certificate file")};
  }
  const auto now = std::chrono::system_clock::to_time_t(clock.SystemNow());
  const ASN1_TIME* not_after = X509_get0_notAfter(cert.get());
  int days = 0, seconds = 0;
  std::time_t now_copy = now;
  ASN1_TIME* now_asn1 = ASN1_TIME_set(nullptr, now_copy);
  const bool diff_ok = ASN1_TIME_diff(&days, &seconds, now_asn1, not_after) == 1;
  ASN1_TIME_free(now_asn1);
  if (!diff_ok) return {CheckLevel::kFailed, path.string() + ": bad expiry date", ""};
  const std::time_t expiry = now + static_cast<std::time_t>(days) * 86400 + seconds;
  const std::string until = Date(expiry);
  if (days < 0 || (days == 0 && seconds <= 0)) {
    return {CheckLevel::kFailed,
            path.string() + Text(lang, " は期限切れです (", " expired on ") + until +
                (lang == Language::kJapanese ? ")" : ""),
            Text(lang, "証明書を更新してください (docs の運用手順を参照)",
                 "renew the certificate (see the runbook in docs/)")};
  }
  const auto left = std::chrono::hours(24 * days) + std::chrono::seconds(seconds);
  if (left < warn_within) {
    return {
        CheckLevel::kWarning,
        path.string() + Text(lang, " の期限が近づいています: ", " expires soon: ") + until + " (" +
            std::to_string(days) + Text(lang, "日後)", " days)"),
        Text(lang, "期限前に証明書を更新してください", "renew the certificate before it expires")};
  }
  return {CheckLevel::kOk, path.string() + Text(lang, " 有効期限 ", " valid until ") + until, ""};
}

CheckResult CheckSecret(const std::filesystem::path& path, Language lang) {
  const Status status = CheckSecretFilePermissions(path);
  if (status.ok()) {
    return {CheckLevel::kOk,
            path.string() + Text(lang, " (他のユーザーは読めません)", " (not readable by others)"),
            ""};
  }
  return {CheckLevel::kFailed, status.message(),
          status.code() == ErrorCode::kPermissionDenied
              ? "chmod 600 " + path.string()
              : Text(lang, "秘密ファイルを作成してください (設定例のコメント参照)",
                     "create the secret file (see the example config)")};
}

CheckResult CheckFreeSpace(const std::filesystem::path& path, std::uint64_t min_free,
                           Language lang) {
  LocalFileSystem fs;
  auto free = fs.FreeSpace(path);
  if (!free.ok()) {
    return {CheckLevel::kFailed, free.status().message(),
            Text(lang, "ディレクトリを作成し、権限を確認してください",
                 "create the directory and check its permissions")};
  }
  const std::string detail = path.string() + ": " + FormatByteSize(*free) +
                             Text(lang, " 空き (下限 ", " free (minimum ") +
                             FormatByteSize(min_free) + ")";
  if (*free < min_free) {
    return {CheckLevel::kFailed, detail,
            Text(lang, "ディスクを空けるか増設してください", "free or add disk space")};
  }
  if (*free < 2 * min_free) {
    return {CheckLevel::kWarning, detail,
            Text(lang, "まもなく容量が不足します", "disk space will run out soon")};
  }
  return {CheckLevel::kOk, detail, ""};
}

}  // namespace tsunagu::common
