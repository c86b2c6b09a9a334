// Whole-image operations the daemon needs: create, inspect, grow, copy (import/convert).
// Each works on raw and qcow2 alike; qcow2 is written by our own code (storage/image/qcow2/).
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "storage/image/block_image.h"

namespace flotilla::storage {

struct CreateOptions {
  std::string path;
  ImageFormat format = ImageFormat::kRaw;
  uint64_t size_bytes = 0;  // virtual size; multiple of 512; with a backing file, 0 = its size
  // qcow2 only: an overlay on this backing image (its format given or detected).
  std::string backing_path;
  std::optional<ImageFormat> backing_format;
  uint32_t cluster_bits = 16;  // qcow2 only: 64 KiB clusters, like qemu-img's default
};

// Creates the file (refusing to overwrite an existing one: kInvalidArgument), written with
// tmp + fsync + rename + directory fsync so a crash leaves either no file or a whole one. Raw
// files are sparse.
ImageResult<void> create_image(const CreateOptions& options);

struct ImageInfo {
  ImageFormat format = ImageFormat::kRaw;
  uint64_t size_bytes = 0;         // virtual size
  uint64_t file_bytes = 0;         // st_size of the file
  uint64_t allocated_bytes = 0;    // st_blocks * 512
  std::string backing_path;        // "" = none (qcow2 only)
  std::vector<std::string> chain;  // this file, then each backing file in order
};

// Reads the header only (and the backing chain's headers); refuses corrupt/hostile headers.
ImageResult<ImageInfo> image_info(const std::string& path);

// Grows the virtual size (shrinking is kInvalidArgument). Raw: ftruncate. qcow2: header size
// (and L1 table growth when needed), written crash-safely.
ImageResult<void> resize_image(const std::string& path, ImageFormat format, uint64_t new_size);

// Copies src's virtual contents into dst (same virtual size or dst larger), skipping zero
// runs so sparse stays sparse. progress(done_bytes, total_bytes) is called now and then; the
// copy stops with kIo "cancelled" when cancel becomes true. dst is flushed at the end.
ImageResult<void> copy_image(BlockImage& src, BlockImage& dst,
                             const std::function<void(uint64_t, uint64_t)>& progress,
                             const std::atomic<bool>* cancel = nullptr);

}  // namespace flotilla::storage
