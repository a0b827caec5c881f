#include "j2k_decoder.h"

#include <openjpeg.h>

#include <algorithm>
#include <cstring>
#include <memory>

namespace tsunagu::viewer::internal {
namespace {

struct MemoryStream {
  const std::string* bytes;
  std::size_t pos = 0;
};

OPJ_SIZE_T Read(void* buffer, OPJ_SIZE_T n, void* user) {
  auto* s = static_cast<MemoryStream*>(user);
  if (s->pos >= s->bytes->size()) return static_cast<OPJ_SIZE_T>(-1);
  const std::size_t len = std::min<std::size_t>(n, s->bytes->size() - s->pos);
  std::memcpy(buffer, s->bytes->data() + s->pos, len);
  s->pos += len;
  return len;
}

OPJ_OFF_T Skip(OPJ_OFF_T n, void* user) {
  auto* s = static_cast<MemoryStream*>(user);
  const auto size = static_cast<OPJ_OFF_T>(s->bytes->size());
  OPJ_OFF_T target = static_cast<OPJ_OFF_T>(s->pos) + n;
  target = std::clamp<OPJ_OFF_T>(target, 0, size);
  const OPJ_OFF_T moved = target - static_cast<OPJ_OFF_T>(s->pos);
  s->pos = static_cast<std::size_t>(target);
  return moved;
}

OPJ_BOOL Seek(OPJ_OFF_T n, void* user) {
  auto* s = static_cast<MemoryStream*>(user);
  if (n < 0 || static_cast<std::size_t>(n) > s->bytes->size()) return OPJ_FALSE;
  s->pos = static_cast<std::size_t>(n);
  return OPJ_TRUE;
}

// OpenJPEG reports errors through a callback; keep the first one for the Status.
void OnError(const char* msg, void* user) {
  auto* out = static_cast<std::string*>(user);
  if (out->empty() && msg != nullptr) {
    *out = msg;
    while (!out->empty() && (out->back() == '\n' || out->back() == '\r')) out->pop_back();
  }
}
void Ignore(const char*, void*) {}

struct CodecDeleter {
  void operator()(opj_codec_t* c) const { opj_destroy_codec(c); }
};
struct StreamDeleter {
  void operator()(opj_stream_t* s) const { opj_stream_destroy(s); }
};
struct ImageDeleter {
  void operator()(opj_image_t* i) const { opj_image_destroy(i); }
};

}  // namespace

common::Result<J2kImage> DecodeJ2k(const std::string& bytes) {
  static constexpr unsigned char kJp2Magic[] = {0x00, 0x00, 0x00, 0x0C, 0x6A, 0x50};
  const bool jp2 = bytes.size() >= sizeof kJp2Magic &&
                   std::memcmp(bytes.data(), kJp2Magic, sizeof kJp2Magic) == 0;
  std::unique_ptr<opj_codec_t, CodecDeleter> codec(
      opj_create_decompress(jp2 ? OPJ_CODEC_JP2 : OPJ_CODEC_J2K));
  if (!codec) return common::InternalError("OpenJPEG: cannot create a decoder");
  std::string error;
  opj_set_error_handler(codec.get(), OnError, &error);
  opj_set_warning_handler(codec.get(), Ignore, nullptr);
  opj_set_info_handler(codec.get(), Ignore, nullptr);
  opj_dparameters_t params;
  opj_set_default_decoder_parameters(&params);
  if (!opj_setup_decoder(codec.get(), &params)) {
    return common::InternalError("OpenJPEG: cannot set up the decoder");
  }

  MemoryStream source{&bytes};
  std::unique_ptr<opj_stream_t, StreamDeleter> stream(opj_stream_create(1 << 16, OPJ_TRUE));
  if (!stream) return common::InternalError("OpenJPEG: cannot create a stream");
  opj_stream_set_user_data(stream.get(), &source, nullptr);
  opj_stream_set_user_data_length(stream.get(), bytes.size());
  opj_stream_set_read_function(stream.get(), Read);
  opj_stream_set_skip_function(stream.get(), Skip);
  opj_stream_set_seek_function(stream.get(), Seek);

  opj_image_t* raw = nullptr;
  if (!opj_read_header(stream.get(), codec.get(), &raw)) {
    opj_image_destroy(raw);
    return common::DataLossError("JPEG 2000 header does not decode: " + error);
  }
  std::unique_ptr<opj_image_t, ImageDeleter> image(raw);
  if (!opj_decode(codec.get(), stream.get(), image.get()) ||
      !opj_end_decompress(codec.get(), stream.get())) {
    return common::DataLossError("JPEG 2000 codestream does not decode: " + error);
  }
  if (image->numcomps == 0 || image->comps[0].data == nullptr) {
    return common::DataLossError("JPEG 2000 codestream has no components");
  }
  J2kImage out;
  out.width = image->comps[0].w;
  out.height = image->comps[0].h;
  out.components = static_cast<int>(image->numcomps);
  out.precision = static_cast<int>(image->comps[0].prec);
  out.is_signed = image->comps[0].sgnd != 0;
  const std::size_t count = static_cast<std::size_t>(out.width) * out.height;
  for (OPJ_UINT32 c = 0; c < image->numcomps; ++c) {
    const opj_image_comp_t& comp = image->comps[c];
    if (comp.w != out.width || comp.h != out.height || comp.data == nullptr) {
      return common::InvalidArgumentError("JPEG 2000 with subsampled components is not supported");
    }
    out.planes.emplace_back(comp.data, comp.data + count);
  }
  return out;
}

}  // namespace tsunagu::viewer::internal
