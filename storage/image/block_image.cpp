#include "storage/image/block_image.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "common/unique_fd.h"
#include "storage/image/qcow2_entry.h"
#include "storage/image/raw_image.h"

namespace flotilla::storage {

const char* to_string(ImageErrc code) {
  switch (code) {
    case ImageErrc::kIo:
      return "io";
    case ImageErrc::kNoSpace:
      return "no_space";
    case ImageErrc::kOutOfRange:
      return "out_of_range";
    case ImageErrc::kReadOnly:
      return "read_only";
    case ImageErrc::kCorrupt:
      return "corrupt";
    case ImageErrc::kUnsupported:
      return "unsupported";
    case ImageErrc::kInvalidArgument:
      return "invalid_argument";
    case ImageErrc::kNotFound:
      return "not_found";
  }
  return "unknown";
}

const char* to_string(ImageFormat format) {
  return format == ImageFormat::kQcow2 ? "qcow2" : "raw";
}

ImageResult<ImageFormat> parse_image_format(const std::string& text) {
  if (text == "raw") return ImageFormat::kRaw;
  if (text == "qcow2") return ImageFormat::kQcow2;
  return fail(ImageError{ImageErrc::kInvalidArgument,
                         "unknown image format \"" + text + "\" (raw or qcow2)", 0});
}

ImageResult<void> BlockImage::read(uint64_t offset, std::span<std::byte> out) {
  iovec v{out.data(), out.size()};
  return readv(offset, std::span<const iovec>(&v, 1));
}

ImageResult<void> BlockImage::write(uint64_t offset, std::span<const std::byte> in) {
  iovec v{const_cast<std::byte*>(in.data()), in.size()};
  return writev(offset, std::span<const iovec>(&v, 1));
}

ImageResult<bool> BlockImage::map_direct(uint64_t offset, uint64_t length, bool write,
                                         std::vector<HostSegment>& /*out*/) {
  if (write && read_only()) {
    return fail(ImageError{ImageErrc::kReadOnly, "the disk is read-only", EROFS});
  }
  if (offset > size_bytes() || length > size_bytes() - offset) {
    return fail(ImageError{ImageErrc::kOutOfRange,
                           "request at " + std::to_string(offset) + " (+" + std::to_string(length) +
                               ") is past the disk's end",
                           0});
  }
  return false;
}

ImageResult<ImageFormat> detect_image_format(const std::string& path) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) {
    const int err = errno;
    return fail(ImageError{err == ENOENT ? ImageErrc::kNotFound : ImageErrc::kIo,
                           path + ": " + std::strerror(err), err});
  }
  unsigned char magic[4] = {};
  const ssize_t n = ::pread(fd.get(), magic, sizeof magic, 0);
  if (n == 4 && magic[0] == 'Q' && magic[1] == 'F' && magic[2] == 'I' && magic[3] == 0xfb) {
    return ImageFormat::kQcow2;
  }
  return ImageFormat::kRaw;
}

ImageResult<std::unique_ptr<BlockImage>> open_image(const OpenOptions& options) {
  if (options.format == ImageFormat::kRaw) {
    auto raw = RawImage::open(options);
    if (!raw) return fail(raw.error());
    return std::unique_ptr<BlockImage>(std::move(raw).value());
  }
  return open_qcow2(options);
}

}  // namespace flotilla::storage
