// BlockImage: one virtual disk's bytes, whatever holds them (a raw file, a qcow2 chain, extents
// cut out of a partitioned pool's device). The monitor's virtio-blk serves every guest request
// through this interface, and the daemon uses it to create, import and check images.
//
// Contract for every implementation:
//  - Offsets and lengths are bytes within the virtual disk; a request that reaches past
//    size_bytes() fails with kOutOfRange and touches nothing. No request ever reaches host bytes
//    outside the image's own file or extents.
//  - readv/writev move exactly the iovecs' total length or fail; partial transfers are retried
//    internally (EINTR, short reads), a real error is returned as kIo/kNoSpace with errno.
//  - flush() returns only when every write completed before it is durable (fdatasync, and for
//    qcow2 the metadata too).
//  - Calls may come from several worker threads at once; implementations serialise internally
//    what must be serialised (qcow2 metadata), so callers need no lock.
//  - Corrupt input (a hostile image file) gives kCorrupt, never a crash or an out-of-image read.
#pragma once

#include <sys/uio.h>

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "common/result.h"

namespace flotilla::storage {

enum class ImageErrc {
  kIo,               // the host's read/write/fsync failed (errno in sys_errno)
  kNoSpace,          // ENOSPC / EDQUOT: the host filesystem is full
  kOutOfRange,       // the request reaches past the end of the virtual disk
  kReadOnly,         // a write/discard to a read-only image
  kCorrupt,          // the image's metadata is inconsistent or hostile
  kUnsupported,      // a valid image using a feature we do not implement
  kInvalidArgument,  // bad parameters (size 0, unaligned where alignment is required, ...)
  kNotFound,         // the file does not exist
};

struct ImageError {
  ImageErrc code = ImageErrc::kIo;
  std::string message;  // one line naming the file and what is wrong
  int sys_errno = 0;
};

template <class T>
using ImageResult = Result<T, ImageError>;

const char* to_string(ImageErrc code);

enum class ImageFormat { kRaw, kQcow2 };

const char* to_string(ImageFormat format);
// "raw" / "qcow2"; anything else is kInvalidArgument.
ImageResult<ImageFormat> parse_image_format(const std::string& text);

// One piece of a range mapped by BlockImage::map_direct: `length` bytes of the request,
// starting `request_offset` bytes into it, live at `host_offset` of `fd`.
struct HostSegment {
  int fd = -1;               // buffered fd of the image's file (owned by the image)
  int direct_fd = -1;        // O_DIRECT fd of the same file, or -1; usable only when the host
                             // offset, the length and every buffer are 4 KiB-aligned
  uint64_t host_offset = 0;  // byte offset in the file
  uint64_t length = 0;
  uint64_t request_offset = 0;
};

class BlockImage {
 public:
  virtual ~BlockImage() = default;

  virtual uint64_t size_bytes() const = 0;
  virtual bool read_only() const = 0;
  virtual ImageFormat format() const = 0;

  virtual ImageResult<void> readv(uint64_t offset, std::span<const iovec> iov) = 0;
  virtual ImageResult<void> writev(uint64_t offset, std::span<const iovec> iov) = 0;
  virtual ImageResult<void> flush() = 0;
  // Guest no longer needs the range: reads may return zeroes or the old bytes afterwards (a
  // best-effort hint, as virtio says), but never another disk's data.
  virtual ImageResult<void> discard(uint64_t offset, uint64_t length) = 0;
  // Reads of the range return zeroes afterwards. may_unmap allows deallocating it.
  virtual ImageResult<void> write_zeroes(uint64_t offset, uint64_t length, bool may_unmap) = 0;

  // Direct-I/O seam, for a caller that moves the data itself (virtio-blk submits it through
  // io_uring). When a plain pread/pwrite of host ranges is exactly what readv/writev of
  // [offset, offset + length) would do, appends those ranges to `out` (in request order, one
  // HostSegment per contiguous host run) and returns true. Returns false (with `out` untouched)
  // when part of the range needs the image's own code — holes, zero or compressed clusters,
  // backing files, allocating or copy-on-write writes — or when the metadata is busy and the
  // answer would have to wait (the caller must not block): the caller then uses readv/writev.
  // Bounds and permissions are checked exactly as readv/writev check them (kOutOfRange,
  // kReadOnly); hostile metadata is kCorrupt. The fds belong to the image and stay valid while
  // it is open; I/O submitted through them must finish before the image is destroyed. A mapped
  // range stays valid while the image is open (data clusters are never moved or freed), but a
  // concurrent discard/write-zeroes of the same range races like any two requests do.
  // The default implementation checks bounds and answers false (no direct path).
  virtual ImageResult<bool> map_direct(uint64_t offset, uint64_t length, bool write,
                                       std::vector<HostSegment>& out);

  // Convenience single-buffer forms.
  ImageResult<void> read(uint64_t offset, std::span<std::byte> out);
  ImageResult<void> write(uint64_t offset, std::span<const std::byte> in);
};

// A range of a host file or block device that belongs to one virtual disk (partitioned pools).
struct HostExtent {
  uint64_t host_offset = 0;  // byte offset in the host device
  uint64_t length = 0;       // bytes; a multiple of 512
};

struct OpenOptions {
  std::string path;  // image file, or the pool's device when extents is non-empty
  ImageFormat format = ImageFormat::kRaw;
  bool read_only = false;
  bool direct = false;  // O_DIRECT where the file system allows it (falls back if not)
  // Non-empty: a raw disk made of these extents of `path`, in order (virtual offset 0 is the
  // first extent's first byte). Only with kRaw.
  std::vector<HostExtent> extents;
};

// Opens an image for I/O. qcow2 opens its whole backing chain (backings read-only), refusing
// loops, chains deeper than 16, and metadata that points outside the file.
ImageResult<std::unique_ptr<BlockImage>> open_image(const OpenOptions& options);

// Sniffs the format from the first bytes ("QFI\xfb" = qcow2, else raw).
ImageResult<ImageFormat> detect_image_format(const std::string& path);

}  // namespace flotilla::storage
