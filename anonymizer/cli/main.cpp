// tsunagu-anonymize: de-identifies DICOM files with the share profile (PS3.15 Annex E).
//
//   tsunagu-anonymize [--config FILE] [--profile NAME] --secret-file FILE --output DIR PATH...
//
// Exit status: 0 every input written; 3 one or more refused or unreadable (the others are
// written); 2 usage or configuration error (nothing written).
#include <dcmtk/dcmdata/dcdict.h>
#include <dcmtk/oflog/oflog.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "tsunagu/anonymizer/deidentifier.h"
#include "tsunagu/anonymizer/dictionary.h"
#include "tsunagu/anonymizer/options_from_config.h"
#include "tsunagu/common/cli.h"
#include "tsunagu/common/language.h"
#include "tsunagu/common/process.h"
#include "tsunagu/common/secret_file.h"
#include "tsunagu/config/anonymizer_config.h"

namespace {

namespace fs = std::filesystem;
using tsunagu::common::Language;
using tsunagu::common::Pick;

constexpr int kExitOk = 0;
constexpr int kExitUsage = 2;
constexpr int kExitSomeFailed = 3;

void PrintHelp(Language lang) {
  std::cout << Pick(
      lang,
      "使い方: tsunagu-anonymize [--config FILE] [--profile NAME] --secret-file FILE "
      "--output DIR PATH...\n"
      "\n"
      "DICOM ファイルを匿名化します (DICOM PS3.15 Annex E、プロファイル share)。\n"
      "PATH はファイルまたはディレクトリ (再帰的に読みます)。受け入れたインスタンスは\n"
      "DIR/<新しい SOP Instance UID>.dcm に原子的に書き込まれます。患者 ID は末尾 4 文字\n"
      "だけを意図的に残します。\n"
      "\n"
      "  --config FILE       匿名化の設定 (TOML の [anonymizer] 表)\n"
      "  --profile NAME      プロファイル (既定: share)\n"
      "  --secret-file FILE  UID 置換の HMAC 用サイト秘密鍵 (chmod 600)\n"
      "  --output DIR        出力ディレクトリ\n"
      "  --jobs N            並列数 (既定: CPU コア数)\n"
      "  --no-fsync          ディスクへのフラッシュ (syncfs) を省く。一時名で書いてから\n"
      "                      改名するので途中で止まっても不完全なファイルは残りませんが、\n"
      "                      停電時は保証されません (cp と同じ)\n"
      "  --help, --version\n"
      "\n"
      "終了ステータス: 0 すべて書き込み済み、3 拒否または読めない入力あり (他は書き込み\n"
      "済み)、2 使い方または設定の誤り (何も書き込まない)。\n"
      "言語は TSUNAGU_LANG または LANG で選べます (ja / en)。\n",
      "Usage: tsunagu-anonymize [--config FILE] [--profile NAME] --secret-file FILE "
      "--output DIR PATH...\n"
      "\n"
      "De-identifies DICOM files (DICOM PS3.15 Annex E, profile share). PATH is a file\n"
      "or a directory (read recursively). Each accepted instance is written atomically\n"
      "as DIR/<new SOP Instance UID>.dcm. The last 4 characters of the Patient ID are\n"
      "kept on purpose.\n"
      "\n"
      "  --config FILE       anonymizer settings (the [anonymizer] table, TOML)\n"
      "  --profile NAME      profile (default: share)\n"
      "  --secret-file FILE  site secret for the HMAC UID mapping (chmod 600)\n"
      "  --output DIR        output directory\n"
      "  --jobs N            parallel jobs (default: all cores)\n"
      "  --no-fsync          skip flushing outputs to disk (syncfs). Outputs are still\n"
      "                      written under a temporary name and renamed, so a stopped run\n"
      "                      leaves no partial file; a power loss may (as with cp)\n"
      "  --help, --version\n"
      "\n"
      "Exit status: 0 every input written; 3 one or more refused or unreadable (the\n"
      "others are written); 2 usage or configuration error (nothing written).\n"
      "Language: TSUNAGU_LANG or LANG (ja / en).\n");
}

int UsageError(Language lang, const std::string& message) {
  std::cerr << "tsunagu-anonymize: " << message << "\n"
            << Pick(lang, "詳しくは tsunagu-anonymize --help\n", "See tsunagu-anonymize --help\n");
  return kExitUsage;
}

}  // namespace

int main(int argc, char** argv) {
  // Before anything else touches DCMTK: its dictionary from the compiled-in table, unless the
  // user points DCMDICTPATH at dictionaries of their own.
  tsunagu::anonymizer::UseBuiltInDictionary();
  const Language lang = tsunagu::common::LanguageFromEnvironment();
  // DCMTK's own diagnostics may quote element values: keep them off stderr.
  OFLog::configure(OFLogger::OFF_LOG_LEVEL);

  tsunagu::common::CliSpec spec;
  spec.flags = {"--help", "--version", "--no-fsync"};
  spec.options = {"--config", "--profile", "--secret-file", "--output", "--jobs"};
  const std::vector<std::string> args(argv + 1, argv + argc);
  auto parsed = tsunagu::common::CliArgs::Parse(args, spec);
  if (!parsed.ok()) return UsageError(lang, parsed.status().message());
  const tsunagu::common::CliArgs& cli = *parsed;
  if (cli.Flag("--help")) {
    PrintHelp(lang);
    return kExitOk;
  }
  if (cli.Flag("--version")) {
    std::cout << "tsunagu-anonymize " << tsunagu::common::Version() << "\n";
    return kExitOk;
  }

  tsunagu::config::AnonymizerOptions file_options;
  if (auto config = cli.Option("--config")) {
    auto loaded = tsunagu::config::LoadAnonymizerConfig(*config);
    if (!loaded.ok()) return UsageError(lang, loaded.status().message());
    file_options = *loaded;
  }
  std::optional<std::string> secret_file = cli.Option("--secret-file");
  if (!secret_file && !file_options.secret_file.empty()) secret_file = file_options.secret_file;
  if (!secret_file) {
    return UsageError(
        lang, std::string(Pick(lang, "--secret-file が必要です", "--secret-file is required")));
  }
  auto secret = tsunagu::common::ReadSecretFile(*secret_file);
  if (!secret.ok()) return UsageError(lang, secret.status().message());
  tsunagu::anonymizer::ProfileOptions options =
      tsunagu::anonymizer::ProfileOptionsFromConfig(file_options, *secret);
  if (auto profile = cli.Option("--profile")) options.profile = *profile;

  const std::optional<std::string> output = cli.Option("--output");
  if (!output)
    return UsageError(lang, std::string(Pick(lang, "--output が必要です", "--output is required")));
  if (cli.positional().empty()) {
    return UsageError(lang,
                      std::string(Pick(lang, "入力 PATH がありません", "no input PATH given")));
  }
  unsigned jobs = std::max(1u, std::thread::hardware_concurrency());
  if (auto j = cli.Option("--jobs")) {
    char* end = nullptr;
    const long value = std::strtol(j->c_str(), &end, 10);
    if (end == j->c_str() || *end != '\0' || value < 1 || value > 256) {
      return UsageError(lang, "--jobs: expected a number from 1 to 256, got \"" + *j + "\"");
    }
    jobs = static_cast<unsigned>(value);
  }
  if (!dcmDataDict.isDictionaryLoaded()) {
    return UsageError(lang, "the DICOM data dictionary is not loaded (check DCMDICTPATH)");
  }
  auto deidentifier = tsunagu::anonymizer::Deidentifier::Create(std::move(options));
  if (!deidentifier.ok()) return UsageError(lang, deidentifier.status().message());

  std::error_code ec;
  fs::create_directories(*output, ec);
  if (ec || !fs::is_directory(*output)) {
    return UsageError(lang, "--output " + *output + ": cannot create the directory");
  }
  if (::access(output->c_str(), W_OK | X_OK) != 0) {
    return UsageError(lang, "--output " + *output + ": the directory is not writable");
  }

  // Inputs: files, and regular files under directories (recursively), in a stable order.
  std::atomic<int> failed{0};
  std::mutex err_mutex;
  auto report = [&](const std::string& path, const std::string& reason) {
    std::lock_guard<std::mutex> lock(err_mutex);
    std::cerr << path << ": " << reason << "\n";
    ++failed;
  };
  std::vector<fs::path> files;
  for (const std::string& p : cli.positional()) {
    if (fs::is_directory(p, ec)) {
      std::vector<fs::path> found;
      for (auto it = fs::recursive_directory_iterator(
               p, fs::directory_options::skip_permission_denied, ec);
           !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
        if (it->is_regular_file(ec)) found.push_back(it->path());
      }
      if (ec) report(p, "unreadable: cannot list the directory");
      std::sort(found.begin(), found.end());
      files.insert(files.end(), found.begin(), found.end());
    } else if (fs::is_regular_file(p, ec)) {
      files.emplace_back(p);
    } else {
      report(p, "unreadable: not a file or directory");
    }
  }

  // Outputs are written and verified under temporary names by the workers and published by one
  // publisher thread: it takes every output ready so far, flushes them with one syncfs, renames
  // them to their final names and fsyncs the directory, then takes the next lot. The flush
  // waits for the disk while the workers keep going, instead of stopping a worker; a final name
  // always holds a complete, verified file (also after a power loss, unless --no-fsync).
  const auto durability = cli.Flag("--no-fsync")
                              ? tsunagu::anonymizer::Deidentifier::Durability::kRenameOnly
                              : tsunagu::anonymizer::Deidentifier::Durability::kFlushed;
  std::atomic<std::size_t> next{0};
  std::atomic<std::size_t> written{0};
  std::mutex ready_mutex;
  std::condition_variable ready_cv;
  std::vector<tsunagu::anonymizer::PendingInstance> ready;
  std::vector<std::string> ready_inputs;
  bool workers_done = false;  // guarded by ready_mutex
  auto publisher = [&] {
    for (;;) {
      std::vector<tsunagu::anonymizer::PendingInstance> pending;
      std::vector<std::string> inputs;
      bool done = false;
      {
        std::unique_lock<std::mutex> lock(ready_mutex);
        // Bounded: each wait ends after 200 ms at most; the loop ends once the workers are done
        // (every file they take ends in a bounded time) and their outputs are published.
        ready_cv.wait_for(lock, std::chrono::milliseconds(200),
                          [&] { return !ready.empty() || workers_done; });
        pending.swap(ready);
        inputs.swap(ready_inputs);
        done = workers_done;
      }
      if (!pending.empty()) {
        const tsunagu::common::Status status =
            tsunagu::anonymizer::Deidentifier::Publish(pending, durability);
        if (status.ok()) {
          written += pending.size();
        } else {
          for (const std::string& input : inputs) report(input, "error: " + status.message());
        }
      }
      if (done) return;  // `ready` was complete when workers_done was read
    }
  };
  auto worker = [&] {
    for (std::size_t i = next++; i < files.size(); i = next++) {
      auto result = (*deidentifier)->DeidentifyToTemporary(files[i], *output);
      if (result.ok()) {
        {
          std::lock_guard<std::mutex> lock(ready_mutex);
          ready.push_back(std::move(*result));
          ready_inputs.push_back(files[i].string());
        }
        ready_cv.notify_one();
        continue;
      }
      const auto code = result.status().code();
      const char* kind =
          code == tsunagu::common::ErrorCode::kDeidentificationRefused ? "refused" : "unreadable";
      if (code != tsunagu::common::ErrorCode::kDeidentificationRefused &&
          code != tsunagu::common::ErrorCode::kInvalidArgument) {
        kind = "error";
      }
      report(files[i].string(), std::string(kind) + ": " + result.status().message());
    }
  };
  const unsigned n =
      std::min<unsigned>(jobs, static_cast<unsigned>(std::max<std::size_t>(1, files.size())));
  std::thread publishing(publisher);
  // Long-lived workers with large stacks: one thread per job for the whole run, not one per
  // file. If some cannot be started, this thread finishes the queue (each worker takes the next
  // file from `next`, so nothing is done twice or skipped).
  (void)tsunagu::anonymizer::Deidentifier::RunWorkers(n, worker);
  worker();
  {
    std::lock_guard<std::mutex> lock(ready_mutex);
    workers_done = true;
  }
  ready_cv.notify_one();
  publishing.join();
  // Exit status 0 promises that every input's output is under its final name and, unless
  // --no-fsync, flushed to disk (the last publish finished before this line).
  std::cout << "tsunagu-anonymize: " << written.load() << " written, " << failed.load()
            << " refused or unreadable\n";
  return failed.load() == 0 ? kExitOk : kExitSomeFailed;
}
