#include "charset.h"

#include <dcmtk/dcmdata/dcspchrs.h>
#include <iconv.h>

#include <algorithm>
#include <map>
#include <memory>
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
  // iconv_open loads a conversion module: once per thread, not once per value.
  thread_local EucJpToUtf8 converter;
  if (!converter.ok()) return std::nullopt;
  return converter.Convert(euc);
}

namespace {

// Delimiters after which ISO 2022 code extensions return to the initial code (PS3.5 6.1.2.5.3):
// the value, component and group separators of PN, the value separator of the other string
// VRs, and the control characters of the text VRs.
const char* Delimiters(DcmEVR vr) {
  switch (vr) {
    case EVR_PN:
      return "\\^=";
    case EVR_LO:
    case EVR_SH:
    case EVR_UC:
      return "\\";
    default:
      return "\r\n\t\f";
  }
}

// Whether text in `charset` is already UTF-8 (the default repertoire is ASCII, a subset).
bool IsUtf8Compatible(std::string_view charset) {
  for (const std::string& term : Terms(charset)) {
    if (!term.empty() && term != "ISO_IR 192" && term != "ISO 2022 IR 6" && term != "ISO_IR 6") {
      return false;
    }
  }
  return true;
}

// Decodes values of one dataset to UTF-8, each with the Specific Character Set in force where
// it is: that of its own item when the item has one, else that of the enclosing item, up to the
// dataset's (PS3.5 6.1.2.5.1; PS3.3 C.12.1.1.2: the attribute may appear in sequence items).
class Utf8Decoder {
 public:
  common::Status Item(DcmItem& item, const std::string& inherited) {
    std::string charset = inherited;
    DcmElement* own = nullptr;
    if (item.findAndGetElement(DCM_SpecificCharacterSet, own, OFFalse).good() && own != nullptr) {
      charset = RawValue(*own);
      charsets_.push_back(own);
    }
    const bool utf8_compatible = IsUtf8Compatible(charset);
    for (DcmElement* element : Elements(item)) {
      if (element == nullptr) continue;
      if (element->ident() == EVR_SQ) {
        auto& sq = static_cast<DcmSequenceOfItems&>(*element);
        for (unsigned long k = 0; k < sq.card(); ++k) {
          if (DcmItem* child = sq.getItem(k)) TSUNAGU_RETURN_IF_ERROR(Item(*child, charset));
        }
        continue;
      }
      if (!element->isLeaf() || !IsCharsetAffected(element->ident())) continue;
      if (utf8_compatible) continue;
      const std::string raw = RawValue(*element);
      if (raw.empty()) continue;
      std::optional<std::string> utf8 = Decode(charset, raw, element->ident());
      if (!utf8) {
        return common::DeidentificationRefusedError(
            "a value of " + TagLabel(element->getTag()) +
            " cannot be decoded with its Specific Character Set, so it cannot be checked");
      }
      if (*utf8 == raw) continue;  // nothing outside ASCII: the value reads the same
      element->putString(utf8->c_str(), static_cast<Uint32>(utf8->size()));
      converted_ = true;
    }
    return common::Status::Ok();
  }

  // Every Specific Character Set met, at any depth; after decoding each says ISO_IR 192.
  void MarkUtf8() {
    for (DcmElement* element : charsets_) element->putString("ISO_IR 192");
  }

  bool converted() const { return converted_; }

 private:
  std::optional<std::string> Decode(const std::string& charset, const std::string& raw, DcmEVR vr) {
    if (IsIso2022Japanese(charset)) {
      // Without escape sequences and 8-bit bytes the value stays in the initial ASCII code (G0;
      // DecodeIso2022Japanese passes such bytes through unchanged).
      if (std::none_of(raw.begin(), raw.end(),
                       [](char c) { return c == 0x1B || static_cast<unsigned char>(c) >= 0x80; })) {
        return raw;
      }
      // The first term is the initial code: ISO 2022 IR 13 starts with half-width katakana.
      return DecodeIso2022Japanese(raw, Terms(charset).front() == "ISO 2022 IR 13");
    }
    auto it = dcmtk_.find(charset);
    if (it == dcmtk_.end()) {
      auto converter = std::make_unique<DcmSpecificCharacterSet>();
      if (converter->selectCharacterSet(charset.c_str(), "ISO_IR 192").bad()) {
        converter.reset();
      }
      it = dcmtk_.emplace(charset, std::move(converter)).first;
    }
    if (!it->second) return std::nullopt;
    OFString out;
    if (it->second->convertString(OFString(raw.data(), raw.size()), out, Delimiters(vr)).bad()) {
      return std::nullopt;
    }
    return std::string(out.c_str(), out.length());
  }

  std::map<std::string, std::unique_ptr<DcmSpecificCharacterSet>> dcmtk_;
  std::vector<DcmElement*> charsets_;
  bool converted_ = false;
};

}  // namespace

common::Result<bool> ConvertDatasetToUtf8(DcmItem& dataset) {
  Utf8Decoder decoder;
  TSUNAGU_RETURN_IF_ERROR(decoder.Item(dataset, ""));
  decoder.MarkUtf8();
  return decoder.converted();
}

}  // namespace tsunagu::anonymizer::internal
