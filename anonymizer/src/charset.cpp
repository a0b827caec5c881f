#include "charset.h"

#include <iconv.h>

#include <vector>

#include "dcmtk_bridge.h"

namespace tsunagu::anonymizer::internal {
namespace {

std::vector<std::string> Terms(std::string_view value) {
  std::vector<std::string> terms;
  std::size_t start = 0;
  while (start <= value.size()) {
    std::size_t end = value.find('\\', start);
    if (end == std::string_view::npos) end = value.size();
    terms.emplace_back(TrimPadding(value.substr(start, end - start)));
    start = end + 1;
  }
  return terms;
}

bool IsCharsetAffected(DcmEVR vr) {
  return vr == EVR_PN || vr == EVR_LO || vr == EVR_SH || vr == EVR_LT || vr == EVR_ST ||
         vr == EVR_UT || vr == EVR_UC;
}

class EucJpToUtf8 {
 public:
  EucJpToUtf8() : cd_(iconv_open("UTF-8", "EUC-JP")) {}
  ~EucJpToUtf8() {
    if (ok()) iconv_close(cd_);
  }
  EucJpToUtf8(const EucJpToUtf8&) = delete;
  EucJpToUtf8& operator=(const EucJpToUtf8&) = delete;
  bool ok() const { return cd_ != reinterpret_cast<iconv_t>(-1); }

  std::optional<std::string> Convert(const std::string& in) {
    std::string out(in.size() * 3 + 4, '\0');
    char* src = const_cast<char*>(in.data());
    std::size_t src_left = in.size();
    char* dst = out.data();
    std::size_t dst_left = out.size();
    iconv(cd_, nullptr, nullptr, nullptr, nullptr);
    if (iconv(cd_, &src, &src_left, &dst, &dst_left) == static_cast<std::size_t>(-1)) {
      return std::nullopt;
    }
    out.resize(out.size() - dst_left);
    return out;
  }

 private:
  iconv_t cd_;
};

}  // namespace

bool IsIso2022Japanese(std::string_view specific_character_set) {
  bool japanese = false;
  const std::vector<std::string> terms = Terms(specific_character_set);
  for (std::size_t i = 0; i < terms.size(); ++i) {
    const std::string& t = terms[i];
    if (t == "ISO 2022 IR 87" || t == "ISO 2022 IR 159" || t == "ISO 2022 IR 13") {
      japanese = true;
    } else if (!(t.empty() && i == 0) && t != "ISO 2022 IR 6") {
      return false;
    }
  }
  return japanese;
}

std::optional<std::string> DecodeIso2022Japanese(std::string_view value, bool g1_katakana) {
  enum class G0 { kAscii, kJis0208, kJis0212 } g0 = G0::kAscii;
  std::string euc;
  for (std::size_t i = 0; i < value.size(); ++i) {
    const auto b = static_cast<unsigned char>(value[i]);
    if (b == 0x1B) {
      const std::string_view rest = value.substr(i + 1);
      if (rest.rfind("(B", 0) == 0 || rest.rfind("(J", 0) == 0) {
        g0 = G0::kAscii;
        i += 2;
      } else if (rest.rfind("$B", 0) == 0 || rest.rfind("$@", 0) == 0) {
        g0 = G0::kJis0208;
        i += 2;
      } else if (rest.rfind("$(D", 0) == 0) {
        g0 = G0::kJis0212;
        i += 3;
      } else if (rest.rfind(")I", 0) == 0) {
        g1_katakana = true;
        i += 2;
      } else {
        return std::nullopt;
      }
      continue;
    }
    if (b >= 0x80) {
      if (!g1_katakana || b < 0xA1 || b > 0xDF) return std::nullopt;
      euc += '\x8E';
      euc += static_cast<char>(b);
      continue;
    }
    if (g0 == G0::kAscii || b < 0x21 || b == 0x7F) {
      euc += static_cast<char>(b);
      continue;
    }
    if (i + 1 >= value.size()) return std::nullopt;
    const auto b2 = static_cast<unsigned char>(value[i + 1]);
    if (b2 < 0x21 || b2 > 0x7E) return std::nullopt;
    if (g0 == G0::kJis0212) euc += '\x8F';
    euc += static_cast<char>(b | 0x80);
    euc += static_cast<char>(b2 | 0x80);
    ++i;
  }
  EucJpToUtf8 converter;
  if (!converter.ok()) return std::nullopt;
  return converter.Convert(euc);
}

common::Status ConvertDatasetToUtf8(DcmItem& dataset, const std::string& charset) {
  if (!IsIso2022Japanese(charset)) {
    if (dataset.convertToUTF8().bad()) {
      return common::DeidentificationRefusedError(
          "the Specific Character Set cannot be decoded, so names cannot be checked");
    }
    return common::Status::Ok();
  }
  // The first term is the initial code: ISO 2022 IR 13 starts with half-width katakana in G1.
  const bool g1_katakana = Terms(charset).front() == "ISO 2022 IR 13";
  DcmStack stack;
  std::vector<DcmElement*> elements;
  while (dataset.nextObject(stack, OFTrue).good()) {
    DcmObject* object = stack.top();
    if (object->isLeaf() && IsCharsetAffected(object->ident())) {
      elements.push_back(static_cast<DcmElement*>(object));
    }
  }
  for (DcmElement* element : elements) {
    const std::string raw = RawValue(*element);
    if (raw.empty()) continue;
    std::optional<std::string> utf8 = DecodeIso2022Japanese(raw, g1_katakana);
    if (!utf8) {
      return common::DeidentificationRefusedError(
          "a value of " + TagLabel(element->getTag()) +
          " cannot be decoded with its Specific Character Set, so it cannot be checked");
    }
    element->putString(utf8->c_str(), static_cast<Uint32>(utf8->size()));
  }
  stack.clear();
  std::vector<DcmElement*> charsets;
  while (dataset.nextObject(stack, OFTrue).good()) {
    if (stack.top()->getTag() == DCM_SpecificCharacterSet && stack.top()->isLeaf()) {
      charsets.push_back(static_cast<DcmElement*>(stack.top()));
    }
  }
  for (DcmElement* element : charsets) element->putString("ISO_IR 192");
  return common::Status::Ok();
}

}  // namespace tsunagu::anonymizer::internal
