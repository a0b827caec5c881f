#include "tsunagu/config/anonymizer_config.h"

#include <algorithm>
#include <charconv>

#include "anonymizer_section.h"
#include "file_checks.h"

namespace tsunagu::config {
namespace internal {
namespace {

// "left,top,right,bottom" with right > left and bottom > top.
std::optional<std::array<std::uint32_t, 4>> ParseRectangle(std::string_view text) {
  std::array<std::uint32_t, 4> out{};
  const char* p = text.data();
  const char* end = text.data() + text.size();
  for (std::size_t i = 0; i < 4; ++i) {
    while (p < end && *p == ' ') ++p;
    auto [next, ec] = std::from_chars(p, end, out[i]);
    if (ec != std::errc() || next == p || out[i] > 65535) return std::nullopt;
    p = next;
    while (p < end && *p == ' ') ++p;
    if (i < 3) {
      if (p == end || *p != ',') return std::nullopt;
      ++p;
    }
  }
  if (p != end || out[2] <= out[0] || out[3] <= out[1]) return std::nullopt;
  return out;
}

}  // namespace

AnonymizerOptions ReadAnonymizerSection(Section s, bool secret_required) {
  AnonymizerOptions o;
  o.profile = s.Choice("profile", o.profile, {"share"});
  o.secret_file = secret_required ? s.RequiredPath("secret_file") : s.Path("secret_file", {});
  // Retired site secrets, newest first (docs/operations.md, rotating the site secret).
  for (const std::string& f : s.StringList("previous_secret_files")) {
    if (f.empty()) {
      s.Error("previous_secret_files", "expected file names, got an empty string");
      continue;
    }
    std::filesystem::path p(f);
    if (p.is_relative()) p = s.BaseDir() / p;
    p = p.lexically_normal();
    if (p == o.secret_file) {
      s.Error("previous_secret_files",
              "lists the current secret_file \"" + f + "\"; list only retired secrets");
    } else if (std::find(o.previous_secret_files.begin(), o.previous_secret_files.end(), p) !=
               o.previous_secret_files.end()) {
      s.Error("previous_secret_files", "lists \"" + f + "\" twice");
    }
    o.previous_secret_files.push_back(std::move(p));
  }
  o.patient_id_keep = static_cast<int>(s.Integer("patient_id_keep", o.patient_id_keep, 0, 8));
  for (Section& p : s.TableArray("safe_private")) {
    SafePrivateOption safe;
    safe.group = static_cast<std::uint16_t>(p.Integer("group", 0, 0x0009, 0xFFFF));
    if (p.Has("group") && safe.group % 2 == 0) {
      p.Error("group", "expected an odd (private) group, got " + std::to_string(safe.group));
    }
    if (!p.Has("group")) p.Error("group", "required, but missing");
    safe.creator = p.RequiredString("creator");
    safe.element = static_cast<std::uint8_t>(p.Integer("element", 0, 0x00, 0xFF));
    if (!p.Has("element")) p.Error("element", "required, but missing");
    p.FinishUnknownKeys();
    o.safe_private.push_back(std::move(safe));
  }
  for (Section& m : s.TableArray("pixel_mask")) {
    PixelMaskOption rule;
    rule.manufacturer = m.String("manufacturer", "");
    rule.model = m.String("model", "");
    rule.rows = static_cast<std::uint32_t>(m.Integer("rows", 0, 0, 65535));
    rule.columns = static_cast<std::uint32_t>(m.Integer("columns", 0, 0, 65535));
    for (const std::string& r : m.StringList("rectangles")) {
      if (auto rect = ParseRectangle(r)) {
        rule.rectangles.push_back(*rect);
      } else {
        m.Error("rectangles",
                "expected \"left,top,right,bottom\" with right > left and "
                "bottom > top, got \"" +
                    r + "\"");
      }
    }
    if (!m.Has("rectangles")) m.Error("rectangles", "required, but missing");
    m.FinishUnknownKeys();
    o.pixel_mask.push_back(std::move(rule));
  }
  s.FinishUnknownKeys();
  return o;
}

}  // namespace internal

common::Result<AnonymizerOptions> LoadAnonymizerConfig(const std::filesystem::path& path,
                                                       const LoadOptions& options) {
  internal::Errors errors(path.string());
  std::optional<internal::TomlValue> doc = internal::ParseTomlFile(path, errors);
  if (!doc) return errors.ToStatus();
  const std::filesystem::path base = std::filesystem::absolute(path).parent_path();
  internal::Section root(&errors, "", &*doc, base);
  if (!root.Has("anonymizer")) errors.AddFileLevel("expected an [anonymizer] table");
  AnonymizerOptions o =
      internal::ReadAnonymizerSection(root.Table("anonymizer"), /*secret_required=*/false);
  root.FinishUnknownKeys();
  if (options.check_files && !o.secret_file.empty()) {
    internal::CheckSecretFile(errors, "anonymizer.secret_file", o.secret_file);
  }
  if (options.check_files) {
    for (std::size_t i = 0; i < o.previous_secret_files.size(); ++i) {
      internal::CheckSecretFile(errors,
                                "anonymizer.previous_secret_files[" + std::to_string(i) + "]",
                                o.previous_secret_files[i]);
    }
  }
  if (!errors.empty()) return errors.ToStatus();
  return o;
}

}  // namespace tsunagu::config
