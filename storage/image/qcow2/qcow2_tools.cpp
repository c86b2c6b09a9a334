// The qcow2 entry points (storage/image/qcow2_entry.h): create, info, resize, open.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>

#include "common/unique_fd.h"
#include "storage/image/qcow2/qcow2_image.h"
#include "storage/image/qcow2_entry.h"

namespace flotilla::storage {
namespace {

using qcow2::Header;

ImageError invalid(const std::string& path, const std::string& what) {
  return ImageError{ImageErrc::kInvalidArgument, path + ": " + what, 0};
}

struct Layout {
  uint64_t ref_table_clusters = 1;
  uint64_t ref_blocks = 1;
  uint64_t l1_clusters = 0;
  uint64_t total() const { return 1 + ref_table_clusters + ref_blocks + l1_clusters; }
};

// Header, refcount table, refcount blocks, L1: sized so the blocks cover every one of them.
Layout plan(uint64_t l1_entries, uint64_t cs) {
  Layout l;
  l.l1_clusters = (l1_entries * 8 + cs - 1) / cs;
  const uint64_t per_block = cs / 2;  // 16-bit refcounts
  for (;;) {
    const uint64_t blocks = (l.total() + per_block - 1) / per_block;
    const uint64_t table = (blocks * 8 + cs - 1) / cs;
    if (blocks == l.ref_blocks && table == l.ref_table_clusters) return l;
    l.ref_blocks = blocks;
    l.ref_table_clusters = table;
  }
}

}  // namespace

ImageResult<void> create_qcow2_file(const CreateOptions& options, const std::string& tmp_path) {
  const std::string& path = options.path;
  if (options.cluster_bits < qcow2::kMinClusterBits ||
      options.cluster_bits > qcow2::kMaxClusterBits) {
    return fail(invalid(path, "cluster_bits must be 9..21 (512 B to 2 MiB clusters)"));
  }
  Header h;
  h.cluster_bits = options.cluster_bits;
  h.size = options.size_bytes;
  if (!options.backing_path.empty()) {
    namespace fs = std::filesystem;
    const fs::path backing = options.backing_path;
    const std::string resolved =
        backing.is_absolute()
            ? backing.string()
            : (fs::path(path).parent_path() / backing).lexically_normal().string();
    auto info = image_info(resolved);
    if (!info) {
      return fail(ImageError{info.error().code, path + ": backing file: " + info.error().message,
                             info.error().sys_errno});
    }
    if (options.backing_format && *options.backing_format != info->format) {
      return fail(invalid(path, "backing file " + resolved + " is " + to_string(info->format) +
                                    ", not " + to_string(*options.backing_format)));
    }
    if (h.size == 0) h.size = (info->size_bytes + 511) / 512 * 512;
    h.backing_file = options.backing_path;
    h.backing_format = to_string(info->format);
  }
  if (h.size == 0) return fail(invalid(path, "a qcow2 image needs a size or a backing file"));
  const uint64_t l1_entries = qcow2::l1_entries_for(h.size, h.cluster_bits);
  if (l1_entries * 8 > qcow2::kMaxL1Bytes) {
    return fail(invalid(path, "virtual size too large for this cluster size"));
  }
  const uint64_t cs = h.cluster_size();
  const Layout layout = plan(l1_entries, cs);
  h.refcount_table_offset = cs;
  h.refcount_table_clusters = static_cast<uint32_t>(layout.ref_table_clusters);
  const uint64_t blocks_at = (1 + layout.ref_table_clusters) * cs;
  h.l1_table_offset = blocks_at + layout.ref_blocks * cs;
  h.l1_size = static_cast<uint32_t>(l1_entries);
  auto header_cluster = qcow2::build_header_cluster(h, path);
  if (!header_cluster) return fail(header_cluster.error());

  UniqueFd fd(::open(tmp_path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
  if (!fd) return fail(qcow2::sys_error(tmp_path, "create", errno));
  const uint64_t total = layout.total();
  if (::ftruncate(fd.get(), static_cast<off_t>(total * cs)) != 0) {
    return fail(qcow2::sys_error(tmp_path, "ftruncate", errno));
  }
  std::vector<uint8_t> table(layout.ref_table_clusters * cs, 0);
  for (uint64_t b = 0; b < layout.ref_blocks; ++b)
    qcow2::store_be64(&table[b * 8], blocks_at + b * cs);
  std::vector<uint8_t> blocks(layout.ref_blocks * cs, 0);
  for (uint64_t c = 0; c < total; ++c) blocks[c * 2 + 1] = 1;  // 16-bit big-endian 1
  for (const auto& [data, at] : {std::pair{&*header_cluster, uint64_t{0}}, std::pair{&table, cs},
                                 std::pair{&blocks, blocks_at}}) {
    if (int err = qcow2::pwrite_full(fd.get(), data->data(), data->size(), at); err != 0) {
      return fail(qcow2::sys_error(tmp_path, "write", err));
    }
  }
  if (::fsync(fd.get()) != 0) return fail(qcow2::sys_error(tmp_path, "fsync", errno));
  return {};
}

ImageResult<std::unique_ptr<BlockImage>> open_qcow2(const OpenOptions& options) {
  if (!options.extents.empty()) {
    return fail(invalid(options.path, "a qcow2 image cannot be a list of extents"));
  }
  qcow2::ChainSeen seen;
  auto image = qcow2::Qcow2Image::open(options, 0, seen);
  if (!image) return fail(image.error());
  return std::unique_ptr<BlockImage>(std::move(image).value());
}

ImageResult<ImageInfo> qcow2_info(const std::string& path) {
  qcow2::ChainSeen seen;
  auto image =
      qcow2::Qcow2Image::open(OpenOptions{path, ImageFormat::kQcow2, true, false, {}}, 0, seen);
  if (!image) return fail(image.error());
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return fail(qcow2::sys_error(path, "stat", errno));
  ImageInfo info;
  info.format = ImageFormat::kQcow2;
  info.size_bytes = (*image)->size_bytes();
  info.file_bytes = static_cast<uint64_t>(st.st_size);
  info.allocated_bytes = static_cast<uint64_t>(st.st_blocks) * 512;
  info.backing_path = (*image)->backing_path();
  info.chain = (*image)->chain();
  return info;
}

ImageResult<void> resize_qcow2(const std::string& path, uint64_t new_size) {
  qcow2::ChainSeen seen;
  auto image =
      qcow2::Qcow2Image::open(OpenOptions{path, ImageFormat::kQcow2, false, false, {}}, 0, seen);
  if (!image) return fail(image.error());
  if (auto r = (*image)->grow(new_size); !r) return r;
  return (*image)->flush();
}

}  // namespace flotilla::storage
