#include "dcmtk_bridge.h"

#include <dcmtk/dcmdata/dcdict.h>
#include <dcmtk/dcmdata/dcrledrg.h>
#include <dcmtk/dcmjpeg/djdecode.h>
#include <dcmtk/dcmjpls/djdecode.h>

#include <algorithm>
#include <mutex>
#include <string>

namespace tsunagu::viewer::internal {
namespace {

// A DcmProducer reading `reader` from `start` on.
class ReaderProducer final : public DcmProducer {
 public:
  ReaderProducer(std::shared_ptr<DicomReader> reader, offile_off_t start)
      : reader_(std::move(reader)), pos_(start) {}

  OFBool good() const override { return status_.good(); }
  OFCondition status() const override { return status_; }
  OFBool eos() override { return Remaining() == 0; }
  offile_off_t avail() override { return status_.good() ? Remaining() : 0; }
  offile_off_t read(void* buf, offile_off_t buflen) override {
    if (status_.bad() || buflen <= 0) return 0;
    const auto n =
        reader_->ReadAt(static_cast<std::uint64_t>(pos_),
                        std::span<char>(static_cast<char*>(buf), static_cast<std::size_t>(buflen)));
    if (!n.ok()) {
      status_ = EC_InvalidStream;
      return 0;
    }
    pos_ += static_cast<offile_off_t>(*n);
    return static_cast<offile_off_t>(*n);
  }
  offile_off_t skip(offile_off_t skiplen) override {
    const offile_off_t n = std::min(skiplen, Remaining());
    pos_ += n;
    return n;
  }
  void putback(offile_off_t num) override {
    if (num > pos_) {
      status_ = EC_PutbackFailed;
      return;
    }
    pos_ -= num;
  }

 private:
  offile_off_t Remaining() const {
    const auto size = static_cast<offile_off_t>(reader_->Size());
    return pos_ < size ? size - pos_ : 0;
  }

  std::shared_ptr<DicomReader> reader_;
  offile_off_t pos_;
  OFCondition status_ = EC_Normal;
};

class ReaderInputStream final : public DcmInputStream {
 public:
  ReaderInputStream(std::shared_ptr<DicomReader> reader, offile_off_t start)
      : DcmInputStream(&producer_), producer_(reader, start), reader_(reader), start_(start) {}

  DcmInputStreamFactory* newFactory() const override;

 private:
  ReaderProducer producer_;
  std::shared_ptr<DicomReader> reader_;
  offile_off_t start_;
};

// Creates streams positioned on one value, for DCMTK's lazy loading.
class ReaderStreamFactory final : public DcmInputStreamFactory {
 public:
  ReaderStreamFactory(std::shared_ptr<DicomReader> reader, offile_off_t offset)
      : reader_(std::move(reader)), offset_(offset) {}
  DcmInputStream* create() const override { return new ReaderInputStream(reader_, offset_); }
  DcmInputStreamFactory* clone() const override { return new ReaderStreamFactory(*this); }
  // DCMTK uses the type only to share a DcmFileCache between file streams; this one is not a
  // file stream, so it claims the temporary-file kind, which no cache path treats specially.
  DcmInputStreamFactoryType ident() const override { return DFT_DcmInputTempFileStreamFactory; }
  offile_off_t offset() const { return offset_; }

 private:
  std::shared_ptr<DicomReader> reader_;
  offile_off_t offset_;
};

DcmInputStreamFactory* ReaderInputStream::newFactory() const {
  // Lazy loading only without a compression filter (deflated syntax): offsets are then offsets in
  // the reader. Same rule as DcmInputFileStream.
  if (currentProducer() != &producer_) return nullptr;
  return new ReaderStreamFactory(reader_, start_ + tell());
}

struct CodecRegistration {
  CodecRegistration() {
    DcmRLEDecoderRegistration::registerCodecs();
    DJDecoderRegistration::registerCodecs();
    DJLSDecoderRegistration::registerCodecs();
  }
  ~CodecRegistration() {
    DJLSDecoderRegistration::cleanup();
    DJDecoderRegistration::cleanup();
    DcmRLEDecoderRegistration::cleanup();
  }
};

}  // namespace

common::Status StatusFromOFCondition(const OFCondition& cond, std::string_view what,
                                     common::ErrorCode code) {
  if (cond.good()) return common::Status::Ok();
  return common::Status(code, std::string(what) + ": " + cond.text());
}

common::Status EnsureDcmtkReady() {
  // The codec registry is DCMTK's own process-wide state; registering it from the library (once)
  // keeps every caller, tests included, from having to remember it.
  static CodecRegistration registration;
  if (!dcmDataDict.isDictionaryLoaded()) {
    return common::FailedPreconditionError(
        "the DICOM data dictionary is not loaded (DCMDICTPATH or libdcmtk's dicom.dic)");
  }
  return common::Status::Ok();
}

common::Result<std::unique_ptr<DcmFileFormat>> ReadDicom(std::shared_ptr<DicomReader> reader,
                                                         Uint32 max_read_length) {
  TSUNAGU_RETURN_IF_ERROR(EnsureDcmtkReady());
  if (reader == nullptr) return common::InvalidArgumentError("no DICOM reader");
  if (reader->Size() == 0) return common::InvalidArgumentError("empty DICOM object");
  auto file = std::make_unique<DcmFileFormat>();
  ReaderInputStream stream(reader, 0);
  file->transferInit();
  OFCondition cond = file->read(stream, EXS_Unknown, EGL_noChange, max_read_length);
  file->transferEnd();
  if (cond.bad()) return StatusFromOFCondition(cond, "not a readable DICOM object");
  return file;
}

std::optional<std::uint64_t> ValueOffset(const DcmElement& element) {
  // DCMTK makes the factory when it skips a long value (dcelem.cc, DcmElement::read), with the
  // stream on the value's first byte; loading the value later deletes it.
  const auto* factory = dynamic_cast<const ReaderStreamFactory*>(element.getInputStream());
  if (factory == nullptr || factory->offset() < 0) return std::nullopt;
  return static_cast<std::uint64_t>(factory->offset());
}

}  // namespace tsunagu::viewer::internal
