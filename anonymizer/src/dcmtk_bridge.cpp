#include "dcmtk_bridge.h"

#include <cstdio>

namespace tsunagu::anonymizer::internal {

common::Status StatusFromOFCondition(const OFCondition& condition, std::string_view what,
                                     common::ErrorCode code) {
  if (condition.good()) return common::Status::Ok();
  // DCMTK's condition texts describe the failure (e.g. "Premature end of stream"); they never
  // carry element values.
  return common::Status(code, std::string(what) + ": " + condition.text());
}

std::string TagText(const DcmTagKey& tag) {
  char buf[16];
  std::snprintf(buf, sizeof(buf), "(%04X,%04X)", tag.getGroup(), tag.getElement());
  return buf;
}

std::string TagLabel(const DcmTagKey& tag) {
  std::string out = TagText(tag);
  if (tag.getGroup() % 2 == 1) return out;
  DcmTag full(tag);
  const char* name = full.getTagName();
  if (name != nullptr && std::string_view(name) != DcmTag_ERROR_TagName) {
    out += ' ';
    out += name;
  }
  return out;
}

bool IsTextVr(DcmEVR vr) {
  switch (vr) {
    case EVR_AE:
    case EVR_CS:
    case EVR_LO:
    case EVR_LT:
    case EVR_PN:
    case EVR_SH:
    case EVR_ST:
    case EVR_UC:
    case EVR_UR:
    case EVR_UT:
      return true;
    default:
      return false;
  }
}

bool IsBinaryNumberVr(DcmEVR vr) {
  switch (vr) {
    case EVR_AT:
    case EVR_FL:
    case EVR_FD:
    case EVR_OD:
    case EVR_OF:
    case EVR_OL:
    case EVR_OV:
    case EVR_SL:
    case EVR_SS:
    case EVR_SV:
    case EVR_UL:
    case EVR_US:
    case EVR_UV:
    case EVR_xs:
    case EVR_lt:
      return true;
    default:
      return false;
  }
}

std::string RawValue(DcmElement& element) {
  if (element.getLength() == 0) return {};
  if (element.isaString()) {
    OFString value;
    if (element.getOFStringArray(value).bad()) return {};
    return std::string(value.c_str(), value.length());
  }
  const DcmEVR vr = element.ident();
  if (vr == EVR_OB || vr == EVR_UN || vr == EVR_ox) {
    Uint8* data = nullptr;
    if (element.getUint8Array(data).bad() || data == nullptr) return {};
    return std::string(reinterpret_cast<const char*>(data), element.getLength());
  }
  if (vr == EVR_OW) {
    Uint16* data = nullptr;
    if (element.getUint16Array(data).bad() || data == nullptr) return {};
    return std::string(reinterpret_cast<const char*>(data), element.getLength());
  }
  return {};
}

std::string_view TrimPadding(std::string_view text) {
  while (!text.empty() && (text.back() == ' ' || text.back() == '\0')) text.remove_suffix(1);
  while (!text.empty() && text.front() == ' ') text.remove_prefix(1);
  return text;
}

std::string GetString(DcmItem& item, const DcmTagKey& tag) {
  DcmElement* element = nullptr;
  if (item.findAndGetElement(tag, element, OFFalse).bad() || element == nullptr) return {};
  if (!element->isaString()) return {};
  OFString value;
  if (element->getOFStringArray(value).bad()) return {};
  return std::string(TrimPadding(std::string_view(value.c_str(), value.length())));
}

std::vector<DcmElement*> Elements(DcmItem& item) {
  std::vector<DcmElement*> out;
  out.reserve(item.card());
  for (DcmObject* object = item.nextInContainer(nullptr); object != nullptr;
       object = item.nextInContainer(object)) {
    out.push_back(static_cast<DcmElement*>(object));
  }
  return out;
}

}  // namespace tsunagu::anonymizer::internal
