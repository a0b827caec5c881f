// Private: reads a TOML table into typed values, collecting errors in the form
//   "<file>: <key.path>: expected <what>, got <value>"
// and reporting keys nobody asked for as unknown (typos must not be silently ignored).
#ifndef TSUNAGU_CONFIG_SRC_TOML_READER_H_
#define TSUNAGU_CONFIG_SRC_TOML_READER_H_

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <initializer_list>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <toml.hpp>
#include <vector>

#include "tsunagu/common/result.h"

namespace tsunagu::config::internal {

using TomlValue = toml::basic_value<toml::discard_comments, std::map, std::vector>;

// Collects error lines for one file.
class Errors {
 public:
  explicit Errors(std::string file) : file_(std::move(file)) {}
  void Add(std::string_view key_path, std::string_view message);
  void AddFileLevel(std::string_view message);
  bool empty() const { return lines_.empty(); }
  const std::vector<std::string>& lines() const { return lines_; }
  const std::string& file() const { return file_; }
  // kInvalidArgument whose message is every line joined by '\n'; OK when empty.
  common::Status ToStatus() const;

 private:
  std::string file_;
  std::vector<std::string> lines_;
};

// Parses `path` as TOML. On a syntax or I/O error adds a file-level error and returns nullopt.
std::optional<TomlValue> ParseTomlFile(const std::filesystem::path& path, Errors& errors);

// A view of one table. Every accessor marks its key as known; FinishUnknownKeys() reports the
// others. Accessors return the default after recording an error, so parsing continues and all
// errors are reported at once.
class Section {
 public:
  // `table` may be null (the section is absent: every key takes its default). `base_dir` is where
  // relative paths are resolved (the config file's directory).
  Section(Errors* errors, std::string path, const TomlValue* table, std::filesystem::path base_dir);

  bool present() const { return table_ != nullptr; }
  bool Has(std::string_view key) const;
  std::string KeyPath(std::string_view key) const;
  void Error(std::string_view key, std::string_view message) const;

  std::string String(std::string_view key, std::string fallback);
  std::string RequiredString(std::string_view key);
  std::string Choice(std::string_view key, std::string fallback,
                     std::initializer_list<std::string_view> allowed);
  std::int64_t Integer(std::string_view key, std::int64_t fallback, std::int64_t min,
                       std::int64_t max);
  std::uint16_t Port(std::string_view key, std::uint16_t fallback);
  bool Bool(std::string_view key, bool fallback);
  std::chrono::milliseconds Duration(std::string_view key, std::chrono::milliseconds fallback,
                                     std::chrono::milliseconds min = std::chrono::milliseconds(0));
  std::uint64_t ByteSize(std::string_view key, std::uint64_t fallback);
  // A path; relative paths are resolved against the config file's directory. An empty fallback
  // with the key absent returns an empty path.
  std::filesystem::path Path(std::string_view key, std::filesystem::path fallback);
  std::filesystem::path RequiredPath(std::string_view key);
  std::vector<std::string> StringList(std::string_view key);
  std::string AeTitle(std::string_view key, std::string fallback);

  // A sub-table; absent gives an absent Section.
  Section Table(std::string_view key);
  // An array of tables ([[key]]); absent gives an empty vector.
  std::vector<Section> TableArray(std::string_view key);
  // Every key of this table, for free-form maps (e.g. per-gateway overrides); marks all known.
  std::vector<std::string> Keys();

  void FinishUnknownKeys() const;
  // Where relative paths are resolved.
  const std::filesystem::path& BaseDir() const { return base_dir_; }

 private:
  const TomlValue* Find(std::string_view key);
  void TypeError(std::string_view key, std::string_view expected, const TomlValue& got) const;

  Errors* errors_;
  std::string path_;
  const TomlValue* table_;
  std::filesystem::path base_dir_;
  std::set<std::string, std::less<>> known_;
};

// How a TOML value is shown after "got": strings quoted, numbers and booleans as written, other
// types by kind ("a table").
std::string Describe(const TomlValue& value);

}  // namespace tsunagu::config::internal

#endif  // TSUNAGU_CONFIG_SRC_TOML_READER_H_
