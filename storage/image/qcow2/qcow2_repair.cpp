// Qcow2Image: a read-write open of an image QEMU left dirty (lazy refcounts, then a crash).
// Lazy refcounts skip refcount increments, so some clusters the tables use may be counted 0 —
// the allocator would hand them out again. Before any write we recount every cluster the
// header, L1, L2 and refcount tables name and raise each on-disk refcount that is below it.
// Counts are only ever raised: a cluster we do not understand (bitmaps) is never freed, so the
// worst outcome is a leak. New refcount blocks go past the end of everything the tables name.
#include <algorithm>

#include "storage/image/qcow2/qcow2_image.h"

namespace flotilla::storage::qcow2 {
namespace {
constexpr uint64_t kMaxRepairClusters = 16ull << 20;  // 64 MiB of counters
}  // namespace

ImageResult<void> Qcow2Image::repair_dirty_locked() {
  const uint64_t cs = header_.cluster_size();
  const uint32_t cb = header_.cluster_bits;
  const uint64_t clusters = host_end_ / cs;
  if (clusters > kMaxRepairClusters) {
    return fail(ImageError{ImageErrc::kUnsupported,
                           path_ + ": dirty image too large to recount here; repair with "
                                   "`qemu-img check -r all`",
                           0});
  }
  std::vector<uint32_t> expected(clusters, 0);
  auto count = [&](uint64_t host, uint64_t bytes) -> ImageResult<void> {
    if (bytes == 0) return {};
    if (host >= host_end_ || bytes > host_end_ - host) {
      return fail(corrupt(path_, "metadata names bytes past the end of the file"));
    }
    for (uint64_t c = host >> cb; c <= (host + bytes - 1) >> cb; ++c) ++expected[c];
    return {};
  };
  if (auto r = count(0, cs); !r) return r;
  if (auto r = count(header_.l1_table_offset, uint64_t{header_.l1_size} * 8); !r) return r;
  if (auto r = count(header_.refcount_table_offset, uint64_t{header_.refcount_table_clusters} * cs);
      !r) {
    return r;
  }
  for (uint64_t entry : ref_table_) {
    const uint64_t off = entry & kRefTableOffsetMask;
    if (off != 0) {
      if (auto r = count(off, cs); !r) return r;
    }
  }
  const uint32_t shift = 62 - (cb - 8);
  for (uint64_t i = 0; i < l1_.size(); ++i) {
    const uint64_t l2_offset = l1_[i] & kOffsetMask;
    if (l2_offset == 0) continue;
    if (auto r = count(l2_offset, cs); !r) return r;
    auto table = l2_table_locked(l2_offset);
    if (!table) return fail(table.error());
    for (uint64_t entry : (*table)->entries) {
      if (entry & kOflagCompressed) {
        const uint64_t offset = entry & ((1ull << shift) - 1);
        const uint64_t sectors = ((entry >> shift) & ((1ull << (cb - 8)) - 1)) + 1;
        const uint64_t bytes = std::min(sectors * 512 - (offset & 511), host_end_ - offset);
        if (offset >= host_end_) return fail(corrupt(path_, "compressed cluster past the end"));
        if (auto r = count(offset, bytes); !r) return r;
      } else if (const uint64_t host = entry & kOffsetMask; host != 0) {
        if (auto r = check_data_cluster(host); !r) return r;
        if (auto r = count(host, cs); !r) return r;
      }
    }
  }
  const uint64_t max_ref =
      header_.refcount_order >= 6 ? ~0ull : (1ull << (1u << header_.refcount_order)) - 1;
  // Everything allocated from here on lands past every cluster counted above.
  free_hint_ = clusters;
  const uint64_t per_block = refs_per_block();
  for (uint64_t c = 0; c < clusters; ++c) {
    if (expected[c] == 0) continue;
    if (expected[c] > max_ref) {
      return fail(ImageError{ImageErrc::kUnsupported,
                             path_ + ": refcount too wide for this image's refcount_order", 0});
    }
    auto block = ref_block_locked(c / per_block);
    if (!block) return fail(block.error());
    if (*block == nullptr) {
      if (auto r = create_ref_block_past_end_locked(c / per_block); !r) return r;
    }
    auto now = refcount_locked(c);
    if (!now) return fail(now.error());
    if (*now < expected[c]) {
      if (auto r = set_refcount_locked(c, expected[c]); !r) return r;
    }
  }
  if (auto r = flush_metadata_locked(); !r) return r;
  if (auto r = sync_locked("fdatasync"); !r) return r;
  // Counts are right again: the dirty bit goes (one field, in place).
  uint8_t field[8];
  store_be64(field, header_.incompatible & ~kIncompatDirty);
  if (int err = pwrite_full(fd_.get(), field, 8, kOffIncompatible); err != 0) {
    return fail(host_error("write header", err));
  }
  if (auto r = sync_locked("fdatasync"); !r) return r;
  header_.incompatible &= ~kIncompatDirty;
  free_hint_ = 0;
  return {};
}

ImageResult<void> Qcow2Image::create_ref_block_past_end_locked(uint64_t block_index) {
  const uint64_t cs = header_.cluster_size();
  if (block_index >= ref_table_.size()) {
    if (auto r = grow_ref_table_locked(block_index + 1); !r) return r;
    auto now = ref_block_locked(block_index);
    if (!now) return fail(now.error());
    if (*now != nullptr) return {};
  }
  auto host = alloc_clusters_locked(1);  // counted, and at or past free_hint_
  if (!host) return fail(host.error());
  auto again = ref_block_locked(block_index);  // the allocation may have created it
  if (!again) return fail(again.error());
  if (*again != nullptr) return free_clusters_locked(*host, cs);
  RefBlock block;
  block.bytes.assign(cs, 0);
  if (int err = pwrite_full(fd_.get(), block.bytes.data(), cs, *host); err != 0) {
    return fail(host_error("write refcount block", err));
  }
  if (auto r = flush_metadata_locked(); !r) return r;  // the block's own count
  if (auto r = sync_locked("fdatasync"); !r) return r;
  uint8_t entry[8];
  store_be64(entry, *host);
  if (int err = pwrite_full(fd_.get(), entry, 8, header_.refcount_table_offset + block_index * 8);
      err != 0) {
    return fail(host_error("write refcount table", err));
  }
  ref_table_[block_index] = *host;
  table_clusters_.insert(*host);
  block.last_use = ++use_clock_;
  ref_cache_.insert_or_assign(block_index, std::move(block));
  return {};
}

}  // namespace flotilla::storage::qcow2
