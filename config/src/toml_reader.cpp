#include "toml_reader.h"

#include <algorithm>
#include <fstream>
#include <sstream>

#include "tsunagu/common/units.h"

namespace tsunagu::config::internal {
namespace {

std::string Quote(std::string_view s) {
  std::string out = "\"";
  for (char c : s) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\x%02x", static_cast<unsigned char>(c));
          out += buf;
        } else {
          out += c;
        }
    }
  }
  return out + "\"";
}

// Levenshtein distance, for "did you mean" on unknown keys.
std::size_t EditDistance(std::string_view a, std::string_view b) {
  std::vector<std::size_t> prev(b.size() + 1), cur(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) prev[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    cur[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] != b[j - 1])});
    }
    std::swap(prev, cur);
  }
  return prev[b.size()];
}

// The first line of toml11's multi-line message, without its "[error] " prefix.
std::string FirstLine(std::string_view what) {
  std::string line(what.substr(0, what.find('\n')));
  constexpr std::string_view kPrefix = "[error] ";
  if (line.rfind(kPrefix, 0) == 0) line.erase(0, kPrefix.size());
  return line;
}

}  // namespace

void Errors::Add(std::string_view key_path, std::string_view message) {
  lines_.push_back(file_ + ": " + std::string(key_path) + ": " + std::string(message));
}

void Errors::AddFileLevel(std::string_view message) {
  lines_.push_back(file_ + ": " + std::string(message));
}

common::Status Errors::ToStatus() const {
  if (lines_.empty()) return common::Status::Ok();
  std::string joined;
  for (const auto& line : lines_) {
    if (!joined.empty()) joined += '\n';
    joined += line;
  }
  return common::InvalidArgumentError(std::move(joined));
}

std::optional<TomlValue> ParseTomlFile(const std::filesystem::path& path, Errors& errors) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    std::error_code ec;
    if (!std::filesystem::exists(path, ec)) {
      errors.AddFileLevel("cannot read the file: it does not exist");
    } else {
      errors.AddFileLevel("cannot read the file: permission denied or not a regular file");
    }
    return std::nullopt;
  }
  try {
    return toml::parse<toml::discard_comments, std::map, std::vector>(in, path.string());
  } catch (const toml::syntax_error& e) {
    errors.AddFileLevel("line " + std::to_string(e.location().line()) +
                        ": invalid TOML: " + FirstLine(e.what()));
  } catch (const std::exception& e) {
    errors.AddFileLevel("invalid TOML: " + FirstLine(e.what()));
  }
  return std::nullopt;
}

std::string Describe(const TomlValue& value) {
  switch (value.type()) {
    case toml::value_t::string:
      return Quote(value.as_string().str);
    case toml::value_t::integer:
      return std::to_string(value.as_integer());
    case toml::value_t::floating: {
      std::ostringstream os;
      os << value.as_floating();
      return os.str();
    }
    case toml::value_t::boolean:
      return value.as_boolean() ? "true" : "false";
    case toml::value_t::array:
      return "an array";
    case toml::value_t::table:
      return "a table";
    case toml::value_t::offset_datetime:
    case toml::value_t::local_datetime:
    case toml::value_t::local_date:
    case toml::value_t::local_time:
      return "a date or time";
    default:
      return "nothing";
  }
}

Section::Section(Errors* errors, std::string path, const TomlValue* table,
                 std::filesystem::path base_dir)
    : errors_(errors), path_(std::move(path)), table_(table), base_dir_(std::move(base_dir)) {}

bool Section::Has(std::string_view key) const {
  return table_ != nullptr && table_->as_table().count(std::string(key)) > 0;
}

std::string Section::KeyPath(std::string_view key) const {
  return path_.empty() ? std::string(key) : path_ + "." + std::string(key);
}

void Section::Error(std::string_view key, std::string_view message) const {
  errors_->Add(KeyPath(key), message);
}

const TomlValue* Section::Find(std::string_view key) {
  known_.insert(std::string(key));
  if (table_ == nullptr) return nullptr;
  const auto& table = table_->as_table();
  auto it = table.find(std::string(key));
  return it == table.end() ? nullptr : &it->second;
}

void Section::TypeError(std::string_view key, std::string_view expected,
                        const TomlValue& got) const {
  Error(key, "expected " + std::string(expected) + ", got " + Describe(got));
}

std::string Section::String(std::string_view key, std::string fallback) {
  const TomlValue* v = Find(key);
  if (v == nullptr) return fallback;
  if (!v->is_string()) {
    TypeError(key, "a string", *v);
    return fallback;
  }
  return v->as_string().str;
}

std::string Section::RequiredString(std::string_view key) {
  const TomlValue* v = Find(key);
  if (v == nullptr) {
    Error(key, "required, but missing");
    return {};
  }
  if (!v->is_string() || v->as_string().str.empty()) {
    TypeError(key, "a non-empty string", *v);
    return {};
  }
  return v->as_string().str;
}

std::string Section::Choice(std::string_view key, std::string fallback,
                            std::initializer_list<std::string_view> allowed) {
  const TomlValue* v = Find(key);
  if (v == nullptr) return fallback;
  std::string expected = "one of";
  for (std::size_t i = 0; i < allowed.size(); ++i) {
    expected += (i == 0 ? " \"" : ", \"") + std::string(*(allowed.begin() + i)) + "\"";
  }
  if (v->is_string()) {
    const std::string& s = v->as_string().str;
    if (std::find(allowed.begin(), allowed.end(), s) != allowed.end()) return s;
  }
  TypeError(key, expected, *v);
  return fallback;
}

std::int64_t Section::Integer(std::string_view key, std::int64_t fallback, std::int64_t min,
                              std::int64_t max) {
  const TomlValue* v = Find(key);
  if (v == nullptr) return fallback;
  if (!v->is_integer() || v->as_integer() < min || v->as_integer() > max) {
    TypeError(key, "an integer " + std::to_string(min) + "–" + std::to_string(max), *v);
    return fallback;
  }
  return v->as_integer();
}

std::uint16_t Section::Port(std::string_view key, std::uint16_t fallback) {
  return static_cast<std::uint16_t>(Integer(key, fallback, 1, 65535));
}

bool Section::Bool(std::string_view key, bool fallback) {
  const TomlValue* v = Find(key);
  if (v == nullptr) return fallback;
  if (!v->is_boolean()) {
    TypeError(key, "true or false", *v);
    return fallback;
  }
  return v->as_boolean();
}

std::chrono::milliseconds Section::Duration(std::string_view key,
                                            std::chrono::milliseconds fallback,
                                            std::chrono::milliseconds min) {
  const TomlValue* v = Find(key);
  if (v == nullptr) return fallback;
  std::optional<std::chrono::milliseconds> d;
  if (v->is_string()) d = common::ParseDuration(v->as_string().str);
  if (!d || *d < min) {
    std::string expected = "a duration such as \"3d\", \"36h\", \"90m\" or \"30s\"";
    if (min.count() > 0) expected += " of at least " + common::FormatDuration(min);
    TypeError(key, expected, *v);
    return fallback;
  }
  return *d;
}

std::uint64_t Section::ByteSize(std::string_view key, std::uint64_t fallback) {
  const TomlValue* v = Find(key);
  if (v == nullptr) return fallback;
  std::optional<std::uint64_t> size;
  if (v->is_string()) size = common::ParseByteSize(v->as_string().str);
  if (v->is_integer() && v->as_integer() >= 0) size = static_cast<std::uint64_t>(v->as_integer());
  if (!size) {
    TypeError(key, "a size such as \"512MiB\" or \"100GB\"", *v);
    return fallback;
  }
  return *size;
}

std::filesystem::path Section::Path(std::string_view key, std::filesystem::path fallback) {
  const TomlValue* v = Find(key);
  if (v == nullptr) return fallback;
  if (!v->is_string() || v->as_string().str.empty()) {
    TypeError(key, "a file or directory path", *v);
    return fallback;
  }
  std::filesystem::path p(v->as_string().str);
  if (p.is_relative()) p = base_dir_ / p;
  return p.lexically_normal();
}

std::filesystem::path Section::RequiredPath(std::string_view key) {
  if (!Has(key)) {
    Find(key);
    Error(key, "required, but missing");
    return {};
  }
  return Path(key, {});
}

std::vector<std::string> Section::StringList(std::string_view key) {
  const TomlValue* v = Find(key);
  std::vector<std::string> out;
  if (v == nullptr) return out;
  if (!v->is_array()) {
    TypeError(key, "an array of strings", *v);
    return out;
  }
  for (const auto& item : v->as_array()) {
    if (!item.is_string()) {
      TypeError(key, "an array of strings", item);
      return {};
    }
    out.push_back(item.as_string().str);
  }
  return out;
}

std::string Section::AeTitle(std::string_view key, std::string fallback) {
  const TomlValue* v = Find(key);
  if (v == nullptr) return fallback;
  // PS3.5 6.2: AE is 16 characters of the default repertoire, no backslash or control
  // characters; leading and trailing spaces are not significant, so all-space is empty.
  bool ok = v->is_string();
  if (ok) {
    const std::string& s = v->as_string().str;
    ok = !s.empty() && s.size() <= 16 && s.find_first_not_of(' ') != std::string::npos;
    for (unsigned char c : s) ok = ok && c >= 0x20 && c < 0x7f && c != '\\';
  }
  if (!ok) {
    TypeError(key, "an AE title of 1–16 ASCII characters without backslash", *v);
    return fallback;
  }
  return v->as_string().str;
}

Section Section::Table(std::string_view key) {
  const TomlValue* v = Find(key);
  if (v != nullptr && !v->is_table()) {
    TypeError(key, "a table", *v);
    v = nullptr;
  }
  return Section(errors_, KeyPath(key), v, base_dir_);
}

std::vector<Section> Section::TableArray(std::string_view key) {
  const TomlValue* v = Find(key);
  std::vector<Section> out;
  if (v == nullptr) return out;
  if (!v->is_array()) {
    TypeError(key, "an array of tables ([[" + KeyPath(key) + "]])", *v);
    return out;
  }
  const auto& array = v->as_array();
  for (std::size_t i = 0; i < array.size(); ++i) {
    std::string item_path = KeyPath(key) + "[" + std::to_string(i) + "]";
    if (!array[i].is_table()) {
      errors_->Add(item_path, "expected a table, got " + Describe(array[i]));
      continue;
    }
    out.emplace_back(errors_, item_path, &array[i], base_dir_);
  }
  return out;
}

std::vector<std::string> Section::Keys() {
  std::vector<std::string> out;
  if (table_ == nullptr) return out;
  for (const auto& [k, unused] : table_->as_table()) {
    known_.insert(k);
    out.push_back(k);
  }
  return out;
}

void Section::FinishUnknownKeys() const {
  if (table_ == nullptr) return;
  for (const auto& [key, value] : table_->as_table()) {
    if (known_.count(key) > 0) continue;
    std::string message = "unknown key";
    std::string best;
    std::size_t best_distance = 3;  // suggest only close matches
    for (const auto& candidate : known_) {
      const std::size_t d = EditDistance(key, candidate);
      if (d < best_distance) {
        best_distance = d;
        best = candidate;
      }
    }
    if (!best.empty()) message += " (did you mean \"" + best + "\"?)";
    errors_->Add(KeyPath(key), message);
  }
}

}  // namespace tsunagu::config::internal
