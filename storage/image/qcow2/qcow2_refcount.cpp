// Qcow2Image: refcount blocks (cache, get/set), cluster allocation, refcount-table growth, and
// the ordered write-back of metadata.
#include <algorithm>
#include <cerrno>

#include "storage/image/qcow2/qcow2_image.h"

namespace flotilla::storage::qcow2 {
namespace {

uint64_t get_ref(const std::vector<uint8_t>& block, uint64_t index, uint32_t order) {
  const uint32_t bits = 1u << order;
  if (bits >= 8) {
    const uint32_t bytes = bits / 8;
    uint64_t v = 0;
    for (uint32_t i = 0; i < bytes; ++i) v = (v << 8) | block[index * bytes + i];
    return v;
  }
  const uint64_t bit = index * bits;
  return (block[bit / 8] >> (bit % 8)) & ((1u << bits) - 1);
}

void set_ref(std::vector<uint8_t>& block, uint64_t index, uint32_t order, uint64_t value) {
  const uint32_t bits = 1u << order;
  if (bits >= 8) {
    const uint32_t bytes = bits / 8;
    for (uint32_t i = 0; i < bytes; ++i) {
      block[index * bytes + bytes - 1 - i] = static_cast<uint8_t>(value >> (8 * i));
    }
    return;
  }
  const uint64_t bit = index * bits;
  const uint8_t mask = static_cast<uint8_t>(((1u << bits) - 1) << (bit % 8));
  block[bit / 8] = static_cast<uint8_t>((block[bit / 8] & ~mask) | ((value << (bit % 8)) & mask));
}

}  // namespace

ImageResult<void> Qcow2Image::sync_locked(const char* what) {
  if (int err = datasync(fd_.get()); err != 0) return fail(host_error(what, err));
  return {};
}

ImageResult<Qcow2Image::RefBlock*> Qcow2Image::ref_block_locked(uint64_t block_index) {
  if (block_index >= ref_table_.size()) return static_cast<RefBlock*>(nullptr);
  const uint64_t offset = ref_table_[block_index] & kRefTableOffsetMask;
  if (offset == 0) return static_cast<RefBlock*>(nullptr);
  if (auto it = ref_cache_.find(block_index); it != ref_cache_.end()) {
    it->second.last_use = ++use_clock_;
    return &it->second;
  }
  const uint64_t cs = header_.cluster_size();
  if (offset % cs != 0 || offset < cs || offset > host_end_ - cs) {
    return fail(corrupt(path_, "refcount block outside the file"));
  }
  if (overlaps_fixed_tables(offset))
    return fail(corrupt(path_, "refcount block overlaps metadata"));
  while (ref_cache_.size() >= max_ref_blocks_) {
    auto lru = std::min_element(
        ref_cache_.begin(), ref_cache_.end(),
        [](const auto& a, const auto& b) { return a.second.last_use < b.second.last_use; });
    if (lru->second.dirty) {
      if (auto r = flush_metadata_locked(); !r) return fail(r.error());
    }
    ref_cache_.erase(lru);
  }
  RefBlock block;
  block.bytes.resize(cs);
  if (int err = pread_full(fd_.get(), block.bytes.data(), cs, offset); err != 0) {
    return fail(host_error("read refcount block", err));
  }
  block.last_use = ++use_clock_;
  return &ref_cache_.emplace(block_index, std::move(block)).first->second;
}

ImageResult<uint64_t> Qcow2Image::refcount_locked(uint64_t cluster_index) {
  auto block = ref_block_locked(cluster_index / refs_per_block());
  if (!block) return fail(block.error());
  if (*block == nullptr) return uint64_t{0};
  return get_ref((*block)->bytes, cluster_index % refs_per_block(), header_.refcount_order);
}

ImageResult<void> Qcow2Image::set_refcount_locked(uint64_t cluster_index, uint64_t value) {
  const uint64_t block_index = cluster_index / refs_per_block();
  auto block = ref_block_locked(block_index);
  if (!block) return fail(block.error());
  if (*block == nullptr) {
    if (value == 0) return {};
    if (auto r = create_ref_block_locked(block_index); !r) return r;
    block = ref_block_locked(block_index);
    if (!block) return fail(block.error());
    if (*block == nullptr) return fail(corrupt(path_, "refcount block vanished"));
  }
  set_ref((*block)->bytes, cluster_index % refs_per_block(), header_.refcount_order, value);
  (*block)->dirty = true;
  return {};
}

// Clusters that the header names directly are never handed out, whatever the refcounts say.
static bool is_fixed(const Header& h, uint64_t cluster) {
  const uint64_t cs = h.cluster_size();
  const uint64_t at = cluster * cs;
  const uint64_t l1_bytes = uint64_t{h.l1_size} * 8;
  const uint64_t rt_bytes = uint64_t{h.refcount_table_clusters} * cs;
  auto in = [&](uint64_t start, uint64_t bytes) {
    return bytes > 0 && at < start + bytes && start < at + cs;
  };
  return cluster == 0 || in(h.l1_table_offset, l1_bytes) || in(h.refcount_table_offset, rt_bytes);
}

ImageResult<uint64_t> Qcow2Image::find_free_run_locked(uint64_t count) {
  const uint64_t per_block = refs_per_block();
  uint64_t start = free_hint_;
  uint64_t run = 0;
  for (uint64_t i = free_hint_; run < count;) {
    auto block = ref_block_locked(i / per_block);
    if (!block) return fail(block.error());
    if (*block == nullptr && !is_fixed(header_, i)) {
      // No block: every cluster it would describe is free (the header's own never are).
      const uint64_t block_end = (i / per_block + 1) * per_block;
      uint64_t j = i;
      while (j < block_end && run < count && !is_fixed(header_, j)) ++j, ++run;
      if (j < block_end && run < count) {
        run = 0;
        start = j + 1;
        i = j + 1;
      } else {
        i = j;
      }
      continue;
    }
    const uint64_t rc =
        *block == nullptr ? 1 : get_ref((*block)->bytes, i % per_block, header_.refcount_order);
    if (rc == 0 && !is_fixed(header_, i)) {
      ++run;
    } else {
      run = 0;
      start = i + 1;
    }
    ++i;
  }
  return start;
}

ImageResult<uint64_t> Qcow2Image::alloc_clusters_locked(uint64_t count) {
  const uint64_t per_block = refs_per_block();
  const uint64_t cs = header_.cluster_size();
  for (int attempt = 0; attempt < 64; ++attempt) {
    // The run, then right after it the refcount blocks it (and they) need: [run][blocks m].
    uint64_t start = 0;
    std::vector<uint64_t> missing;
    bool grew = false;
    for (int iter = 0;; ++iter) {
      if (iter > 64) return fail(ImageError{ImageErrc::kIo, path_ + ": allocation loop", 0});
      auto found = find_free_run_locked(count + missing.size());
      if (!found) return fail(found.error());
      start = *found;
      const uint64_t end = start + count + missing.size();
      std::vector<uint64_t> now;
      for (uint64_t b = start / per_block; b <= (end - 1) / per_block; ++b) {
        auto block = ref_block_locked(b);
        if (!block) return fail(block.error());
        if (*block == nullptr) now.push_back(b);
      }
      if (!now.empty() && now.back() >= ref_table_.size()) {
        if (auto r = grow_ref_table_locked(now.back() + 1); !r) return fail(r.error());
        grew = true;
        break;
      }
      const bool stable = now.size() == missing.size();
      missing = std::move(now);
      if (stable) break;
    }
    if (grew) continue;  // the table moved and took clusters: plan again
    if (!missing.empty()) {
      std::unordered_map<uint64_t, RefBlock> fresh;
      for (size_t j = 0; j < missing.size(); ++j) fresh[missing[j]].bytes.assign(cs, 0);
      for (uint64_t c = start + count; c < start + count + missing.size(); ++c) {
        auto it = fresh.find(c / per_block);
        if (it != fresh.end()) {
          set_ref(it->second.bytes, c % per_block, header_.refcount_order, 1);
        } else if (auto r = set_refcount_locked(c, 1); !r) {
          return fail(r.error());
        }
      }
      // Blocks (and the counts of existing blocks they are in) on disk before the entries.
      for (size_t j = 0; j < missing.size(); ++j) {
        const RefBlock& block = fresh[missing[j]];
        if (int err = pwrite_full(fd_.get(), block.bytes.data(), cs, (start + count + j) * cs);
            err != 0) {
          return fail(host_error("write refcount block", err));
        }
      }
      for (auto& [index, block] : ref_cache_) {
        if (!block.dirty) continue;
        if (int err = pwrite_full(fd_.get(), block.bytes.data(), cs, ref_table_[index]); err != 0) {
          return fail(host_error("write refcount block", err));
        }
        block.dirty = false;
      }
      if (auto r = sync_locked("fdatasync"); !r) return fail(r.error());
      for (size_t j = 0; j < missing.size(); ++j) {
        const uint64_t host = (start + count + j) * cs;
        uint8_t entry[8];
        store_be64(entry, host);
        if (int err =
                pwrite_full(fd_.get(), entry, 8, header_.refcount_table_offset + missing[j] * 8);
            err != 0) {
          return fail(host_error("write refcount table", err));
        }
        ref_table_[missing[j]] = host;
        table_clusters_.insert(host);
      }
      for (auto& [index, block] : fresh) {
        block.last_use = ++use_clock_;
        ref_cache_.insert_or_assign(index, std::move(block));
      }
    }
    for (uint64_t i = 0; i < count; ++i) {
      if (auto r = set_refcount_locked(start + i, 1); !r) return fail(r.error());
    }
    free_hint_ = start + count + missing.size();
    host_end_ = std::max(host_end_, (start + count + missing.size()) * cs);
    return start * cs;
  }
  return fail(ImageError{ImageErrc::kIo, path_ + ": cluster allocation did not converge", 0});
}

ImageResult<void> Qcow2Image::create_ref_block_locked(uint64_t block_index) {
  if (block_index >= ref_table_.size()) {
    if (auto r = grow_ref_table_locked(block_index + 1); !r) return r;
    auto now = ref_block_locked(block_index);
    if (!now) return fail(now.error());
    if (*now != nullptr) return {};
  }
  const uint64_t per_block = refs_per_block();
  const uint64_t cs = header_.cluster_size();
  // The block describes itself: it goes in the first usable cluster of its own range, all of
  // which is free (no block → refcount 0).
  uint64_t cluster = block_index * per_block;
  while (is_fixed(header_, cluster)) ++cluster;
  if (cluster >= (block_index + 1) * per_block) {
    return fail(corrupt(path_, "no room for a refcount block"));
  }
  RefBlock block;
  block.bytes.assign(cs, 0);
  set_ref(block.bytes, cluster % per_block, header_.refcount_order, 1);
  const uint64_t host = cluster * cs;
  if (int err = pwrite_full(fd_.get(), block.bytes.data(), cs, host); err != 0) {
    return fail(host_error("write refcount block", err));
  }
  if (auto r = sync_locked("fdatasync"); !r) return r;  // the block before the entry naming it
  uint8_t entry[8];
  store_be64(entry, host);
  if (int err = pwrite_full(fd_.get(), entry, 8, header_.refcount_table_offset + block_index * 8);
      err != 0) {
    return fail(host_error("write refcount table", err));
  }
  ref_table_[block_index] = host;
  table_clusters_.insert(host);
  host_end_ = std::max(host_end_, host + cs);
  block.last_use = ++use_clock_;
  ref_cache_.insert_or_assign(block_index, std::move(block));
  return {};
}

ImageResult<void> Qcow2Image::grow_ref_table_locked(uint64_t min_entries) {
  const uint64_t cs = header_.cluster_size();
  const uint64_t per_block = refs_per_block();
  uint64_t entries = std::max<uint64_t>(min_entries, ref_table_.size() * 2);
  entries = (entries + cs / 8 - 1) / (cs / 8) * (cs / 8);
  // Find room for the table and for the blocks describing it: [table k][new blocks m].
  uint64_t start = 0;
  uint64_t k = 0;
  std::vector<uint64_t> missing;
  for (int iter = 0;; ++iter) {
    if (iter > 64) return fail(ImageError{ImageErrc::kIo, path_ + ": refcount growth loop", 0});
    k = entries * 8 / cs;
    if (k * cs > kMaxRefcountTableBytes) {
      return fail(ImageError{ImageErrc::kNoSpace, path_ + ": refcount table at its limit", 0});
    }
    auto found = find_free_run_locked(k + missing.size());
    if (!found) return fail(found.error());
    start = *found;
    const uint64_t end = start + k + missing.size();
    std::vector<uint64_t> now;
    for (uint64_t b = start / per_block; b <= (end - 1) / per_block; ++b) {
      auto block = ref_block_locked(b);
      if (!block) return fail(block.error());
      if (*block == nullptr) now.push_back(b);
    }
    if (!now.empty() && now.back() >= entries) {
      entries = (now.back() + 1 + cs / 8 - 1) / (cs / 8) * (cs / 8);
      missing = now;
      continue;
    }
    if (now.size() == missing.size()) {
      missing = now;
      break;
    }
    missing = now;
  }
  std::vector<uint64_t> table = ref_table_;
  table.resize(entries, 0);
  std::unordered_map<uint64_t, RefBlock> fresh;
  for (size_t j = 0; j < missing.size(); ++j) {
    table[missing[j]] = (start + k + j) * cs;
    table_clusters_.insert((start + k + j) * cs);
    fresh[missing[j]].bytes.assign(cs, 0);
  }
  for (uint64_t c = start; c < start + k + missing.size(); ++c) {
    auto it = fresh.find(c / per_block);
    if (it != fresh.end()) {
      set_ref(it->second.bytes, c % per_block, header_.refcount_order, 1);
    } else if (auto r = set_refcount_locked(c, 1); !r) {
      return r;
    }
  }
  for (auto& [index, block] : fresh) {
    if (int err = pwrite_full(fd_.get(), block.bytes.data(), cs, table[index]); err != 0) {
      return fail(host_error("write refcount block", err));
    }
  }
  for (auto& [index, block] : ref_cache_) {
    if (!block.dirty) continue;
    if (int err = pwrite_full(fd_.get(), block.bytes.data(), cs, ref_table_[index]); err != 0) {
      return fail(host_error("write refcount block", err));
    }
    block.dirty = false;
  }
  std::vector<uint8_t> raw(k * cs, 0);
  for (uint64_t i = 0; i < entries; ++i) store_be64(&raw[i * 8], table[i]);
  if (int err = pwrite_full(fd_.get(), raw.data(), raw.size(), start * cs); err != 0) {
    return fail(host_error("write refcount table", err));
  }
  if (auto r = sync_locked("fdatasync"); !r) return r;
  uint8_t field[12];
  store_be64(field, start * cs);
  store_be32(field + 8, static_cast<uint32_t>(k));
  if (int err = pwrite_full(fd_.get(), field, sizeof field, kOffRefTable); err != 0) {
    return fail(host_error("write header", err));
  }
  if (auto r = sync_locked("fdatasync"); !r) return r;
  const uint64_t old_offset = header_.refcount_table_offset;
  const uint64_t old_bytes = uint64_t{header_.refcount_table_clusters} * cs;
  header_.refcount_table_offset = start * cs;
  header_.refcount_table_clusters = static_cast<uint32_t>(k);
  ref_table_ = std::move(table);
  host_end_ = std::max(host_end_, (start + k + missing.size()) * cs);
  for (auto& [index, block] : fresh) {
    block.last_use = ++use_clock_;
    ref_cache_.insert_or_assign(index, std::move(block));
  }
  free_hint_ = std::max(free_hint_, start + k + missing.size());
  // The header no longer names the old table.
  return free_clusters_locked(old_offset, old_bytes);
}

ImageResult<void> Qcow2Image::free_clusters_locked(uint64_t host, uint64_t bytes) {
  if (bytes == 0) return {};
  const uint32_t cb = header_.cluster_bits;
  for (uint64_t c = host >> cb; c <= (host + bytes - 1) >> cb; ++c) {
    auto rc = refcount_locked(c);
    if (!rc) return fail(rc.error());
    if (*rc == 0) return fail(corrupt(path_, "freeing a cluster whose refcount is 0"));
    if (auto r = set_refcount_locked(c, *rc - 1); !r) return r;
    if (*rc == 1) free_hint_ = std::min(free_hint_, c);
  }
  return {};
}

ImageResult<void> Qcow2Image::flush_metadata_locked() {
  if (read_only_) return {};
  const uint64_t cs = header_.cluster_size();
  auto write_ref_blocks = [&]() -> ImageResult<bool> {
    bool wrote = false;
    for (auto& [index, block] : ref_cache_) {
      if (!block.dirty) continue;
      if (int err = pwrite_full(fd_.get(), block.bytes.data(), cs, ref_table_[index]); err != 0) {
        return fail(host_error("write refcount block", err));
      }
      block.dirty = false;
      wrote = true;
    }
    return wrote;
  };
  auto wrote = write_ref_blocks();
  if (!wrote) return fail(wrote.error());
  const bool l2_dirty =
      std::any_of(l2_cache_.begin(), l2_cache_.end(), [](const auto& t) { return t.second.dirty; });
  if (l2_dirty) {
    // Refcounts and data clusters reach the disk before any table names them.
    if (auto r = sync_locked("fdatasync"); !r) return r;
    std::vector<uint8_t> raw(cs);
    for (auto& [offset, table] : l2_cache_) {
      if (!table.dirty) continue;
      for (uint64_t i = 0; i < cs / 8; ++i) store_be64(&raw[i * 8], table.entries[i]);
      if (int err = pwrite_full(fd_.get(), raw.data(), cs, offset); err != 0) {
        return fail(host_error("write L2 table", err));
      }
      table.dirty = false;
    }
  }
  if (!l1_dirty_.empty()) {
    if (auto r = sync_locked("fdatasync"); !r) return r;  // new L2 tables before their L1 entries
    for (uint64_t index : l1_dirty_) {
      uint8_t entry[8];
      store_be64(entry, l1_[index]);
      if (int err = pwrite_full(fd_.get(), entry, 8, header_.l1_table_offset + index * 8);
          err != 0) {
        return fail(host_error("write L1 table", err));
      }
    }
    l1_dirty_.clear();
  }
  if (!pending_frees_.empty()) {
    // The tables that named these clusters are on disk without them now.
    if (auto r = sync_locked("fdatasync"); !r) return r;
    auto frees = std::move(pending_frees_);
    pending_frees_.clear();
    for (const auto& [host, bytes] : frees) {
      if (auto r = free_clusters_locked(host, bytes); !r) return r;
    }
    auto again = write_ref_blocks();
    if (!again) return fail(again.error());
  }
  return {};
}

}  // namespace flotilla::storage::qcow2
