#include "dcmtk_reference.h"

#include <dcmtk/config/osconfig.h>
#include <dcmtk/dcmdata/dcfilefo.h>
#include <dcmtk/dcmdata/dcrledrg.h>
#include <dcmtk/dcmimage/diregist.h>
#include <dcmtk/dcmimgle/dcmimage.h>
#include <dcmtk/dcmjpeg/djdecode.h>
#include <dcmtk/dcmjpls/djdecode.h>
#include <dcmtk/oflog/oflog.h>

#include <cstdlib>
#include <cstring>
#include <memory>

namespace tsunagu::viewer::testing {
namespace {
// DCMTK warns on stderr about every oddity of the edge-case files; the tests check outcomes.
const bool kQuietDcmtk = [] {
  OFLog::configure(OFLogger::FATAL_LOG_LEVEL);
  return true;
}();
}  // namespace

ReferenceImage RenderWithDcmtk(const std::filesystem::path& path, const ReferenceRequest& request) {
  // Idempotent in DCMTK; the library under test registers the same codecs.
  DcmRLEDecoderRegistration::registerCodecs();
  DJDecoderRegistration::registerCodecs();
  DJLSDecoderRegistration::registerCodecs();
  ReferenceImage out;
  DcmFileFormat file;
  if (file.loadFile(path.c_str()).bad()) {
    out.error = "DCMTK cannot load the file";
    return out;
  }
  DicomImage image(&file, file.getDataset()->getOriginalXfer(), 0UL,
                   static_cast<unsigned long>(request.frame), 1UL);
  if (image.getStatus() != EIS_Normal) {
    out.error = DicomImage::getString(image.getStatus());
    return out;
  }
  if (image.isMonochrome()) {
    if (request.voi == ReferenceVoi::kFirstVoiLut) {
      image.setVoiLut(0);
    } else {
      image.setWindow(request.window.center, request.window.width);
    }
    image.setVoiLutFunction(request.sigmoid ? EFV_Sigmoid : EFV_Linear);
  }
  const void* data = image.getOutputData(8, 0, 0);
  if (data == nullptr) {
    out.error = "DCMTK renders no output";
    return out;
  }
  out.image.width = static_cast<std::uint32_t>(image.getWidth());
  out.image.height = static_cast<std::uint32_t>(image.getHeight());
  out.image.channels = image.isMonochrome() ? 1 : 3;
  const std::size_t n =
      static_cast<std::size_t>(out.image.width) * out.image.height * out.image.channels;
  out.image.pixels.resize(n);
  std::memcpy(out.image.pixels.data(), data, n);
  return out;
}

int MaxDifference(const Image8& a, const Image8& b, const std::vector<bool>& mask) {
  if (a.width != b.width || a.height != b.height || a.channels != b.channels ||
      a.pixels.size() != b.pixels.size()) {
    return -1;
  }
  int max = 0;
  for (std::size_t i = 0; i < a.pixels.size(); ++i) {
    if (!mask.empty() && !mask[i / a.channels]) continue;
    max = std::max(max, std::abs(int{a.pixels[i]} - int{b.pixels[i]}));
  }
  return max;
}

}  // namespace tsunagu::viewer::testing
