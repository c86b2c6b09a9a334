// RawImage: a disk whose bytes are stored as is, either a whole file/block device or a list of
// extents of one (a partitioned pool's disk). Every request is translated extent by extent, and
// nothing outside the extents is ever read or written.
#pragma once

#include <memory>

#include "common/unique_fd.h"
#include "storage/image/block_image.h"

namespace flotilla::storage {

class RawImage final : public BlockImage {
 public:
  // options.format must be kRaw. An empty extent list means "the whole file".
  static ImageResult<std::unique_ptr<RawImage>> open(const OpenOptions& options);

  uint64_t size_bytes() const override { return size_; }
  bool read_only() const override { return read_only_; }
  ImageFormat format() const override { return ImageFormat::kRaw; }

  ImageResult<void> readv(uint64_t offset, std::span<const iovec> iov) override;
  ImageResult<void> writev(uint64_t offset, std::span<const iovec> iov) override;
  ImageResult<void> flush() override;
  ImageResult<void> discard(uint64_t offset, uint64_t length) override;
  ImageResult<void> write_zeroes(uint64_t offset, uint64_t length, bool may_unmap) override;
  // Always maps (raw bytes are where the extents say): one segment per extent touched.
  ImageResult<bool> map_direct(uint64_t offset, uint64_t length, bool write,
                               std::vector<HostSegment>& out) override;

  bool is_block_device() const { return block_device_; }
  bool direct() const { return direct_fd_.valid(); }

 private:
  // One piece of a request after translation: host offset, byte count, offset in the request.
  struct Piece {
    uint64_t host_offset;
    uint64_t length;
    uint64_t request_offset;
  };
  RawImage() = default;
  ImageResult<std::vector<Piece>> translate(uint64_t offset, uint64_t length) const;
  ImageResult<void> transfer(uint64_t offset, std::span<const iovec> iov, bool write);
  ImageResult<void> zero_range(uint64_t host_offset, uint64_t length, bool may_unmap);
  ImageResult<void> punch(uint64_t host_offset, uint64_t length);
  ImageError io_error(const char* what, int err) const;

  std::string path_;
  UniqueFd fd_;         // buffered
  UniqueFd direct_fd_;  // O_DIRECT, when asked for and supported; aligned requests use it
  std::vector<HostExtent> extents_;
  uint64_t size_ = 0;
  bool read_only_ = false;
  bool block_device_ = false;
};

}  // namespace flotilla::storage
