#include "jpeg2000.h"

#include <openjpeg.h>

#include <algorithm>
#include <cstring>
#include <memory>

namespace tsunagu::anonymizer::internal {
namespace {

struct Buffer {
  std::string_view data;
  std::size_t offset = 0;
};

OPJ_SIZE_T Read(void* out, OPJ_SIZE_T n, void* user) {
  auto* b = static_cast<Buffer*>(user);
  if (b->offset >= b->data.size()) return static_cast<OPJ_SIZE_T>(-1);
  const std::size_t count = std::min<std::size_t>(n, b->data.size() - b->offset);
  std::memcpy(out, b->data.data() + b->offset, count);
  b->offset += count;
  return count;
}

OPJ_OFF_T Skip(OPJ_OFF_T n, void* user) {
  auto* b = static_cast<Buffer*>(user);
  if (n < 0 || b->offset + static_cast<std::size_t>(n) > b->data.size()) return -1;
  b->offset += static_cast<std::size_t>(n);
  return n;
}

OPJ_BOOL Seek(OPJ_OFF_T n, void* user) {
  auto* b = static_cast<Buffer*>(user);
  if (n < 0 || static_cast<std::size_t>(n) > b->data.size()) return OPJ_FALSE;
  b->offset = static_cast<std::size_t>(n);
  return OPJ_TRUE;
}

void Quiet(const char*, void*) {}

struct CodecDeleter {
  void operator()(opj_codec_t* c) const { opj_destroy_codec(c); }
};
struct StreamDeleter {
  void operator()(opj_stream_t* s) const { opj_stream_destroy(s); }
};
struct ImageDeleter {
  void operator()(opj_image_t* i) const { opj_image_destroy(i); }
};

common::Status Refuse(const char* why) {
  return common::DeidentificationRefusedError(
      std::string("burned-in annotation cannot be masked: JPEG 2000 ") + why);
}

}  // namespace

common::Result<DecodedImage> DecodeJpeg2000(std::string_view data) {
  if (data.size() < 12) return Refuse("frame is too short");
  static constexpr unsigned char kJp2Signature[] = {0, 0, 0, 0x0C, 'j', 'P', ' ', ' '};
  const bool jp2 = std::memcmp(data.data(), kJp2Signature, sizeof(kJp2Signature)) == 0;
  std::unique_ptr<opj_codec_t, CodecDeleter> codec(
      opj_create_decompress(jp2 ? OPJ_CODEC_JP2 : OPJ_CODEC_J2K));
  if (!codec) return Refuse("decoder unavailable");
  opj_set_info_handler(codec.get(), Quiet, nullptr);
  opj_set_warning_handler(codec.get(), Quiet, nullptr);
  opj_set_error_handler(codec.get(), Quiet, nullptr);
  opj_dparameters_t parameters;
  opj_set_default_decoder_parameters(&parameters);
  if (!opj_setup_decoder(codec.get(), &parameters)) return Refuse("decoder setup failed");

  Buffer buffer{data, 0};
  std::unique_ptr<opj_stream_t, StreamDeleter> stream(opj_stream_create(64 * 1024, OPJ_TRUE));
  if (!stream) return Refuse("stream setup failed");
  opj_stream_set_user_data(stream.get(), &buffer, nullptr);
  opj_stream_set_user_data_length(stream.get(), data.size());
  opj_stream_set_read_function(stream.get(), Read);
  opj_stream_set_skip_function(stream.get(), Skip);
  opj_stream_set_seek_function(stream.get(), Seek);

  opj_image_t* raw = nullptr;
  if (!opj_read_header(stream.get(), codec.get(), &raw)) return Refuse("header unreadable");
  std::unique_ptr<opj_image_t, ImageDeleter> image(raw);
  if (!opj_decode(codec.get(), stream.get(), image.get()) ||
      !opj_end_decompress(codec.get(), stream.get())) {
    return Refuse("data undecodable");
  }
  if (image->numcomps != 1 && image->numcomps != 3) return Refuse("component count unsupported");
  DecodedImage out;
  out.width = image->comps[0].w;
  out.height = image->comps[0].h;
  out.components = image->numcomps;
  out.precision = image->comps[0].prec;
  out.is_signed = image->comps[0].sgnd != 0;
  if (out.width == 0 || out.height == 0 || out.precision == 0 || out.precision > 16) {
    return Refuse("image geometry unsupported");
  }
  for (std::uint32_t c = 0; c < out.components; ++c) {
    const opj_image_comp_t& comp = image->comps[c];
    if (comp.w != out.width || comp.h != out.height || comp.dx != 1 || comp.dy != 1 ||
        comp.prec != out.precision || comp.data == nullptr) {
      return Refuse("subsampled or uneven components");
    }
  }
  const std::size_t pixels = std::size_t{out.width} * out.height;
  out.samples.resize(pixels * out.components);
  for (std::size_t i = 0; i < pixels; ++i) {
    for (std::uint32_t c = 0; c < out.components; ++c) {
      out.samples[i * out.components + c] = image->comps[c].data[i];
    }
  }
  return out;
}

}  // namespace tsunagu::anonymizer::internal
