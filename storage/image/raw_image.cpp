#include "storage/image/raw_image.h"

#include <fcntl.h>
#include <linux/falloc.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <vector>

#include "storage/image/iov.h"

namespace flotilla::storage {
namespace {

constexpr uint64_t kSector = 512;
constexpr size_t kDirectAlign = 4096;  // safe for every logical block size we meet

ImageErrc errc_for(int err) {
  return err == ENOSPC || err == EDQUOT ? ImageErrc::kNoSpace : ImageErrc::kIo;
}

}  // namespace

ImageResult<std::unique_ptr<RawImage>> RawImage::open(const OpenOptions& options) {
  if (options.format != ImageFormat::kRaw) {
    return fail(ImageError{ImageErrc::kInvalidArgument, options.path + ": not a raw image", 0});
  }
  std::unique_ptr<RawImage> image(new RawImage());
  image->path_ = options.path;
  image->read_only_ = options.read_only;
  const int flags = (options.read_only ? O_RDONLY : O_RDWR) | O_CLOEXEC;
  image->fd_.reset(::open(options.path.c_str(), flags));
  if (!image->fd_) {
    const int err = errno;
    return fail(ImageError{err == ENOENT ? ImageErrc::kNotFound : ImageErrc::kIo,
                           options.path + ": " + std::strerror(err), err});
  }
  struct stat st {};
  if (::fstat(image->fd_.get(), &st) != 0) return fail(image->io_error("fstat", errno));
  uint64_t host_size = static_cast<uint64_t>(st.st_size);
  if (S_ISBLK(st.st_mode)) {
    image->block_device_ = true;
    if (::ioctl(image->fd_.get(), BLKGETSIZE64, &host_size) != 0) {
      return fail(image->io_error("BLKGETSIZE64", errno));
    }
  } else if (!S_ISREG(st.st_mode)) {
    return fail(ImageError{ImageErrc::kInvalidArgument,
                           options.path + ": not a regular file or block device", 0});
  }
  if (options.extents.empty()) {
    image->extents_.push_back(HostExtent{0, host_size});
  } else {
    for (const HostExtent& e : options.extents) {
      if (e.length == 0 || e.length % kSector != 0 || e.host_offset % kSector != 0 ||
          e.host_offset > host_size || e.length > host_size - e.host_offset) {
        return fail(ImageError{ImageErrc::kInvalidArgument,
                               options.path + ": extent at " + std::to_string(e.host_offset) +
                                   " (+" + std::to_string(e.length) + ") is outside the device",
                               0});
      }
      image->extents_.push_back(e);
    }
  }
  for (const HostExtent& e : image->extents_) image->size_ += e.length;
  if (options.direct) {
    image->direct_fd_.reset(::open(options.path.c_str(), flags | O_DIRECT));
    // EINVAL: the file system has no O_DIRECT (tmpfs); buffered I/O it is.
  }
  return image;
}

ImageError RawImage::io_error(const char* what, int err) const {
  return ImageError{errc_for(err), path_ + ": " + what + ": " + std::strerror(err), err};
}

ImageResult<std::vector<RawImage::Piece>> RawImage::translate(uint64_t offset,
                                                              uint64_t length) const {
  if (offset > size_ || length > size_ - offset) {
    return fail(ImageError{ImageErrc::kOutOfRange,
                           path_ + ": request at " + std::to_string(offset) + " (+" +
                               std::to_string(length) + ") is past the disk's end (" +
                               std::to_string(size_) + " bytes)",
                           0});
  }
  std::vector<Piece> pieces;
  uint64_t extent_start = 0;
  uint64_t done = 0;
  for (const HostExtent& e : extents_) {
    if (done == length) break;
    const uint64_t extent_end = extent_start + e.length;
    const uint64_t at = offset + done;
    if (at < extent_end) {
      const uint64_t within = at - extent_start;
      const uint64_t take = std::min(e.length - within, length - done);
      pieces.push_back(Piece{e.host_offset + within, take, done});
      done += take;
    }
    extent_start = extent_end;
  }
  return pieces;
}

ImageResult<void> RawImage::transfer(uint64_t offset, std::span<const iovec> iov, bool write) {
  if (write && read_only_) {
    return fail(ImageError{ImageErrc::kReadOnly, path_ + ": the disk is read-only", EROFS});
  }
  auto pieces = translate(offset, iov_total(iov));
  if (!pieces) return fail(pieces.error());
  for (const Piece& p : pieces.value()) {
    std::vector<iovec> part = iov_slice(iov, p.request_offset, p.length);
    const bool aligned =
        direct_fd_.valid() && p.host_offset % kDirectAlign == 0 && iov_aligned(part, kDirectAlign);
    const int fd = aligned ? direct_fd_.get() : fd_.get();
    if (const int err = transfer_full(fd, p.host_offset, part, write); err != 0) {
      return fail(io_error(write ? "write" : "read", err));
    }
  }
  return {};
}

ImageResult<void> RawImage::readv(uint64_t offset, std::span<const iovec> iov) {
  return transfer(offset, iov, false);
}

ImageResult<void> RawImage::writev(uint64_t offset, std::span<const iovec> iov) {
  return transfer(offset, iov, true);
}

ImageResult<bool> RawImage::map_direct(uint64_t offset, uint64_t length, bool write,
                                       std::vector<HostSegment>& out) {
  if (write && read_only_) {
    return fail(ImageError{ImageErrc::kReadOnly, path_ + ": the disk is read-only", EROFS});
  }
  auto pieces = translate(offset, length);
  if (!pieces) return fail(pieces.error());
  const int direct = direct_fd_.valid() ? direct_fd_.get() : -1;
  for (const Piece& p : pieces.value()) {
    out.push_back(HostSegment{fd_.get(), direct, p.host_offset, p.length, p.request_offset});
  }
  return true;
}

ImageResult<void> RawImage::flush() {
  if (read_only_) return {};
  while (::fdatasync(fd_.get()) != 0) {
    if (errno != EINTR) return fail(io_error("fdatasync", errno));
  }
  return {};
}

ImageResult<void> RawImage::punch(uint64_t host_offset, uint64_t length) {
  if (block_device_) {
    uint64_t range[2] = {host_offset, length};
    if (::ioctl(fd_.get(), BLKDISCARD, range) == 0) return {};
    return fail(io_error("BLKDISCARD", errno));
  }
  if (::fallocate(fd_.get(), FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
                  static_cast<off_t>(host_offset), static_cast<off_t>(length)) == 0) {
    return {};
  }
  return fail(io_error("fallocate(PUNCH_HOLE)", errno));
}

ImageResult<void> RawImage::zero_range(uint64_t host_offset, uint64_t length, bool may_unmap) {
  if (block_device_) {
    uint64_t range[2] = {host_offset, length};
    if (::ioctl(fd_.get(), BLKZEROOUT, range) == 0) return {};
  } else {
    // A punched hole reads as zeroes in a regular file; ZERO_RANGE keeps the blocks allocated.
    const int mode = may_unmap ? (FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE)
                               : (FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE);
    if (::fallocate(fd_.get(), mode, static_cast<off_t>(host_offset), static_cast<off_t>(length)) ==
        0) {
      return {};
    }
    if (errno == ENOSPC) return fail(io_error("fallocate", errno));
  }
  // The file system cannot do it in place: write zeroes.
  static const std::vector<char> zeroes(1 << 20, 0);
  for (uint64_t done = 0; done < length;) {
    const uint64_t take = std::min<uint64_t>(zeroes.size(), length - done);
    iovec v{const_cast<char*>(zeroes.data()), take};
    if (const int err =
            transfer_full(fd_.get(), host_offset + done, std::span<const iovec>(&v, 1), true);
        err != 0) {
      return fail(io_error("write", err));
    }
    done += take;
  }
  return {};
}

ImageResult<void> RawImage::discard(uint64_t offset, uint64_t length) {
  if (read_only_)
    return fail(ImageError{ImageErrc::kReadOnly, path_ + ": the disk is read-only", EROFS});
  auto pieces = translate(offset, length);
  if (!pieces) return fail(pieces.error());
  for (const Piece& p : pieces.value()) {
    // A hint: a file system without hole punching keeps the bytes, which virtio allows.
    auto r = punch(p.host_offset, p.length);
    if (!r && r.error().sys_errno != EOPNOTSUPP && r.error().sys_errno != ENOTTY) return r;
  }
  return {};
}

ImageResult<void> RawImage::write_zeroes(uint64_t offset, uint64_t length, bool may_unmap) {
  if (read_only_)
    return fail(ImageError{ImageErrc::kReadOnly, path_ + ": the disk is read-only", EROFS});
  auto pieces = translate(offset, length);
  if (!pieces) return fail(pieces.error());
  for (const Piece& p : pieces.value()) {
    if (auto r = zero_range(p.host_offset, p.length, may_unmap); !r) return r;
  }
  return {};
}

}  // namespace flotilla::storage
