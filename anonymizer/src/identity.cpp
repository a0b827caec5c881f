#include "identity.h"

#include <algorithm>
#include <cctype>

#include "dcmtk_bridge.h"

namespace tsunagu::anonymizer::internal {
namespace {

bool IsAscii(std::string_view s) {
  return std::all_of(s.begin(), s.end(),
                     [](char c) { return static_cast<unsigned char>(c) < 0x80 && c != 0x1B; });
}

std::size_t Utf8Length(std::string_view s) {
  return static_cast<std::size_t>(std::count_if(
      s.begin(), s.end(), [](char c) { return (static_cast<unsigned char>(c) & 0xC0) != 0x80; }));
}

bool IsWordChar(char c) { return std::isalnum(static_cast<unsigned char>(c)) != 0; }

// ASCII case folding by table: tolower() goes through the locale on every byte, and the verifier
// folds every kept value. Bytes >= 0x80 are left alone, so positions match the original text.
char Lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

std::string LowerAscii(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = Lower(c);
  return out;
}

// Position of the next match of `token` in `text` (whose ASCII-folded copy is `lower`) at or
// after `from`, or npos.
std::size_t FindToken(std::string_view text, std::string_view lower, const Token& token,
                      std::size_t from) {
  // A token built by hand (tests) may lack its folded copy.
  std::string folded;
  if (token.ascii && token.lower.empty()) folded = LowerAscii(token.bytes);
  const std::string& t = token.ascii ? (token.lower.empty() ? folded : token.lower) : token.bytes;
  const std::string_view haystack = token.ascii ? lower : text;
  if (t.empty()) return std::string_view::npos;
  for (std::size_t i = haystack.find(t, from); i != std::string_view::npos;
       i = haystack.find(t, i + 1)) {
    if (token.ascii && t.size() < 4) {
      const bool left_ok = i == 0 || !IsWordChar(text[i - 1]);
      const bool right_ok = i + t.size() == text.size() || !IsWordChar(text[i + t.size()]);
      if (!left_ok || !right_ok) continue;
    }
    return i;
  }
  return std::string_view::npos;
}

// Splits on DICOM delimiters outside ISO 2022 multi-byte runs (PS3.5 6.1.2.5.3: delimiters are
// always in the single-byte code). Escape sequences stay inside the parts.
std::vector<std::string> SplitRaw(std::string_view value, std::string_view delimiters,
                                  std::vector<std::string>* multibyte_runs) {
  if (value.find('\x1B') == std::string_view::npos) {
    // No escape sequence: single-byte code throughout, a plain split (same parts as below).
    std::vector<std::string> parts;
    std::size_t start = 0;
    for (;;) {
      const std::size_t end = value.find_first_of(delimiters, start);
      parts.emplace_back(value.substr(start, end == std::string_view::npos ? end : end - start));
      if (end == std::string_view::npos) return parts;
      start = end + 1;
    }
  }
  std::vector<std::string> parts(1);
  bool multibyte = false;
  std::string run;
  for (std::size_t i = 0; i < value.size(); ++i) {
    const char c = value[i];
    if (c == 0x1B) {
      if (!run.empty() && multibyte_runs != nullptr) multibyte_runs->push_back(run);
      run.clear();
      multibyte = i + 1 < value.size() && value[i + 1] == '$';
      // ESC, intermediate bytes (0x20-0x2F), one final byte (ISO/IEC 2022).
      parts.back() += c;
      while (i + 1 < value.size() && value[i + 1] >= 0x20 && value[i + 1] <= 0x2F) {
        parts.back() += value[++i];
      }
      if (i + 1 < value.size()) parts.back() += value[++i];
      continue;
    }
    if (!multibyte && delimiters.find(c) != std::string_view::npos) {
      parts.emplace_back();
      continue;
    }
    parts.back() += c;
    if (multibyte) run += c;
  }
  if (!run.empty() && multibyte_runs != nullptr) multibyte_runs->push_back(run);
  return parts;
}

}  // namespace

bool IsIdentifyingAttribute(const DcmTagKey& tag) {
  static const DcmTagKey kTags[] = {
      DCM_PatientID,
      DCM_RETIRED_OtherPatientIDs,
      DCM_IssuerOfPatientID,
      DCM_AccessionNumber,
      DCM_PatientBirthDate,
      DCM_PatientAddress,
      DCM_PatientTelephoneNumbers,
      DCM_RETIRED_MedicalRecordLocator,
      DCM_InstitutionName,
      DCM_InstitutionAddress,
      DCM_InstitutionalDepartmentName,
      DCM_StudyID,
      DCM_AdmissionID,
      DCM_RequestedProcedureID,
      DCM_PerformedProcedureStepID,
      DCM_ScheduledProcedureStepID,
      DCM_FillerOrderNumberImagingServiceRequest,
      DCM_PlacerOrderNumberImagingServiceRequest,
      DCM_PatientInsurancePlanCodeSequence,
      DCM_MilitaryRank,
      DCM_BranchOfService,
      DCM_ReferringPhysicianAddress,
      DCM_ReferringPhysicianTelephoneNumbers,
  };
  return std::find(std::begin(kTags), std::end(kTags), tag) != std::end(kTags);
}

const std::string& Identity::Source::label() {
  if (label_.empty()) label_ = TagLabel(tag_);
  return label_;
}

void Identity::Add(std::string_view bytes, Source& source, bool exempt_in_patient_id) {
  bytes = TrimPadding(bytes);
  if (bytes.empty()) return;
  const bool ascii = IsAscii(bytes);
  // A single character carries no identity on its own and would match everywhere; a single
  // non-ASCII character (a one-kanji family name such as 林) is still looked for.
  if (ascii ? bytes.size() < 2 : Utf8Length(bytes) < 1) return;
  std::string key = ascii ? LowerAscii(bytes) : std::string(bytes);
  if (!seen_.insert(key).second) return;
  tokens_.push_back(Token{std::string(bytes), source.label(), ascii, exempt_in_patient_id,
                          ascii ? std::move(key) : std::string()});
}

void Identity::AddName(std::string_view value, Source& source, bool raw) {
  Add(value, source);
  std::vector<std::string> runs;
  for (const std::string& name : SplitRaw(value, "\\", nullptr)) {
    Add(name, source);
    for (const std::string& group : SplitRaw(name, "=", nullptr)) {
      Add(group, source);
      for (const std::string& component : SplitRaw(group, "^", raw ? &runs : nullptr)) {
        Add(component, source);
        // Words of a component ("van der Berg"), three characters or more.
        if (IsAscii(component)) {
          std::size_t start = 0;
          while (start < component.size()) {
            std::size_t end = component.find(' ', start);
            if (end == std::string::npos) end = component.size();
            if (end - start >= 3 && end - start < component.size()) {
              Add(std::string_view(component).substr(start, end - start), source);
            }
            start = end + 1;
          }
        }
      }
    }
  }
  // Raw ISO 2022 multi-byte payloads are 7-bit bytes: only two or more characters (4 bytes) are
  // specific enough to look for.
  for (const std::string& run : runs) {
    if (run.size() >= 4) tokens_.push_back(Token{run, source.label(), false, false, {}});
  }
}

void Identity::AddDate(std::string_view value, Source& source) {
  value = TrimPadding(value);
  if (value.size() != 8 || !std::all_of(value.begin(), value.end(), ::isdigit)) {
    Add(value, source);
    return;
  }
  const std::string y(value.substr(0, 4)), m(value.substr(4, 2)), d(value.substr(6, 2));
  Add(value, source);
  for (const char* sep : {"-", "/", "."}) Add(y + sep + m + sep + d, source);
}

void Identity::Collect(DcmItem& dataset, bool raw) {
  DcmStack stack;
  while (dataset.nextObject(stack, OFTrue).good()) {
    DcmObject* object = stack.top();
    const DcmEVR vr = object->ident();
    if (!object->isLeaf() || vr == EVR_pixelItem || vr == EVR_PixelData) continue;
    auto* element = static_cast<DcmElement*>(object);
    const DcmTagKey tag = element->getTag();
    if (tag == DCM_PixelData) continue;
    // The walk's stack holds the root item, then the element: depth 2 is the top level.
    const bool top_level = stack.card() == 2;
    Source source(tag);
    if (vr == EVR_PN) {
      AddName(RawValue(*element), source, raw);
    } else if (tag == DCM_PatientBirthDate) {
      const std::string value = RawValue(*element);
      AddDate(value, source);
      // DA is ASCII in every character set: the raw value is the decoded one.
      if (top_level) birth_date_ = std::string(TrimPadding(value));
    } else if (tag == DCM_PatientID) {
      // The Patient ID is kept as its last characters on purpose; if the whole ID is that short,
      // it equals its suffix and may appear in the Patient ID element only.
      for (const std::string& id : SplitRaw(RawValue(*element), "\\", nullptr)) {
        Add(id, source, top_level);
      }
    } else if (IsIdentifyingAttribute(tag) && element->isaString()) {
      for (const std::string& v : SplitRaw(RawValue(*element), "\\", nullptr)) {
        Add(v, source);
      }
    }
  }
}

void Identity::Exempt(const std::set<std::string>& kept_values) {
  // Only institution-type tokens may be exempted: a value found in an attribute the profile keeps
  // on purpose (e.g. Institution Name "TOSHIBA" inside the kept Manufacturer) reveals
  // nothing the released attribute does not already show. Names, IDs and the birth date are
  // never exempted here.
  std::erase_if(tokens_, [&](const Token& token) {
    const bool institution = token.source.find("Institution") != std::string::npos;
    if (!institution) return false;
    return std::any_of(kept_values.begin(), kept_values.end(),
                       [&](const std::string& kept) { return ContainsToken(kept, token); });
  });
}

SearchText::SearchText(std::string_view text) : text_(text), lower_(LowerAscii(text)) {}

bool SearchText::Contains(const Token& token) const {
  return FindToken(text_, lower_, token, 0) != std::string_view::npos;
}

bool ContainsToken(std::string_view text, const Token& token) {
  return SearchText(text).Contains(token);
}

std::string RemoveTokens(std::string_view text, const std::vector<Token>& tokens) {
  std::string out(text);
  // Longest first, so that "Yamada^Taro" goes before "Yamada" leaves "^Taro".
  std::vector<const Token*> sorted;
  for (const Token& t : tokens) sorted.push_back(&t);
  std::sort(sorted.begin(), sorted.end(),
            [](const Token* a, const Token* b) { return a->bytes.size() > b->bytes.size(); });
  // Folded once: erasing from both copies at the same positions keeps them aligned.
  std::string lower = LowerAscii(out);
  for (const Token* token : sorted) {
    std::size_t pos = 0;
    while ((pos = FindToken(out, lower, *token, pos)) != std::string::npos) {
      out.erase(pos, token->bytes.size());
      lower.erase(pos, token->bytes.size());
    }
  }
  std::string collapsed;
  for (char c : out) {
    if (c == ' ' && (collapsed.empty() || collapsed.back() == ' ')) continue;
    collapsed += c;
  }
  while (!collapsed.empty() && collapsed.back() == ' ') collapsed.pop_back();
  return collapsed;
}

}  // namespace tsunagu::anonymizer::internal
