// Qcow2Image: guest offset → host cluster (L1/L2 lookup with the L2 cache), and reads of what
// is not a plain data cluster (zeroes, backing file, compressed clusters).
#include <zlib.h>

#include <algorithm>
#include <cstring>

#include "storage/image/iov.h"
#include "storage/image/qcow2/qcow2_image.h"

namespace flotilla::storage::qcow2 {

bool Qcow2Image::overlaps_fixed_tables(uint64_t host) const {
  const uint64_t cs = header_.cluster_size();
  const uint64_t l1_bytes = uint64_t{header_.l1_size} * 8;
  const uint64_t rt_bytes = uint64_t{header_.refcount_table_clusters} * cs;
  auto overlaps = [&](uint64_t start, uint64_t bytes) {
    return bytes > 0 && host < start + bytes && start < host + cs;
  };
  return host < cs || overlaps(header_.l1_table_offset, l1_bytes) ||
         overlaps(header_.refcount_table_offset, rt_bytes);
}

ImageResult<void> Qcow2Image::check_data_cluster(uint64_t host) const {
  const uint64_t cs = header_.cluster_size();
  if (host % cs != 0) return fail(corrupt(path_, "data cluster offset not cluster-aligned"));
  if (host < cs || host > host_end_ - cs) {
    return fail(corrupt(path_, "data cluster at " + std::to_string(host) + " outside the file"));
  }
  if (overlaps_fixed_tables(host) || table_clusters_.count(host) != 0) {
    return fail(corrupt(path_, "data cluster at " + std::to_string(host) + " overlaps metadata"));
  }
  return {};
}

ImageResult<Qcow2Image::Table*> Qcow2Image::l2_table_locked(uint64_t l2_offset) {
  if (auto it = l2_cache_.find(l2_offset); it != l2_cache_.end()) {
    it->second.last_use = ++use_clock_;
    return &it->second;
  }
  const uint64_t cs = header_.cluster_size();
  if (l2_offset % cs != 0 || l2_offset < cs || l2_offset > host_end_ - cs) {
    return fail(corrupt(path_, "L2 table at " + std::to_string(l2_offset) + " outside the file"));
  }
  if (overlaps_fixed_tables(l2_offset)) {
    return fail(corrupt(path_, "L2 table at " + std::to_string(l2_offset) + " overlaps metadata"));
  }
  while (l2_cache_.size() >= max_l2_tables_) {
    auto lru = std::min_element(
        l2_cache_.begin(), l2_cache_.end(),
        [](const auto& a, const auto& b) { return a.second.last_use < b.second.last_use; });
    if (lru->second.dirty) {
      if (auto r = flush_metadata_locked(); !r) return fail(r.error());
    }
    l2_cache_.erase(lru);
  }
  std::vector<uint8_t> raw(cs);
  if (int err = pread_full(fd_.get(), raw.data(), cs, l2_offset); err != 0) {
    return fail(host_error("read L2 table", err));
  }
  Table table;
  table.entries.resize(cs / 8);
  for (uint64_t i = 0; i < cs / 8; ++i) table.entries[i] = load_be64(&raw[i * 8]);
  table.last_use = ++use_clock_;
  return &l2_cache_.emplace(l2_offset, std::move(table)).first->second;
}

ImageResult<Qcow2Image::Table*> Qcow2Image::l2_for_write_locked(uint64_t l1_index) {
  if (l1_index >= l1_.size()) return fail(corrupt(path_, "L1 index past the table"));
  const uint64_t existing = l1_[l1_index] & kOffsetMask;
  if (existing != 0) return l2_table_locked(existing);
  const uint64_t cs = header_.cluster_size();
  auto host = alloc_clusters_locked(1);
  if (!host) return fail(host.error());
  while (l2_cache_.size() >= max_l2_tables_) {
    auto lru = std::min_element(
        l2_cache_.begin(), l2_cache_.end(),
        [](const auto& a, const auto& b) { return a.second.last_use < b.second.last_use; });
    if (lru->second.dirty) {
      if (auto r = flush_metadata_locked(); !r) return fail(r.error());
    }
    l2_cache_.erase(lru);
  }
  // Written (by flush_metadata_locked) before the L1 entry that names it.
  Table table;
  table.entries.assign(cs / 8, 0);
  table.dirty = true;
  table.last_use = ++use_clock_;
  l1_[l1_index] = *host | kOflagCopied;
  table_clusters_.insert(*host);
  l1_dirty_.push_back(l1_index);
  return &l2_cache_.insert_or_assign(*host, std::move(table)).first->second;
}

ImageResult<Qcow2Image::Mapping> Qcow2Image::map_locked(uint64_t guest, uint64_t max_length) {
  const uint64_t cs = header_.cluster_size();
  const uint32_t cb = header_.cluster_bits;
  const uint64_t l1_index = guest >> (cb + header_.l2_bits());
  if (l1_index >= l1_.size()) return fail(corrupt(path_, "guest offset past the L1 table"));
  const uint64_t span_end = (l1_index + 1) << (cb + header_.l2_bits());
  const uint64_t limit = std::min(max_length, span_end - guest);
  const uint64_t l2_offset = l1_[l1_index] & kOffsetMask;
  if (l2_offset == 0) return Mapping{Kind::kUnallocated, 0, limit, false};
  auto table = l2_table_locked(l2_offset);
  if (!table) return fail(table.error());
  const std::vector<uint64_t>& entries = (*table)->entries;
  const uint64_t mask = (cs / 8) - 1;
  uint64_t index = (guest >> cb) & mask;
  const bool v3 = header_.version == 3;
  auto classify = [&](uint64_t entry, uint64_t& host, bool& allocated) {
    host = entry & kOffsetMask;
    allocated = host != 0;
    if (entry & kOflagCompressed) return Kind::kCompressed;
    if (v3 && (entry & kOflagZero)) return Kind::kZero;
    return host == 0 ? Kind::kUnallocated : Kind::kData;
  };
  Mapping m;
  uint64_t host = 0;
  m.kind = classify(entries[index], host, m.allocated);
  m.length = std::min(limit, cs - (guest & (cs - 1)));
  if (m.kind == Kind::kCompressed) {
    m.host = entries[index];
    return m;
  }
  if (m.kind == Kind::kData || (m.kind == Kind::kZero && m.allocated)) {
    if (auto r = check_data_cluster(host); !r) return fail(r.error());
  }
  m.host = host == 0 ? 0 : host + (guest & (cs - 1));
  uint64_t prev_host = host;
  while (m.length < limit && ++index <= mask) {
    uint64_t next_host = 0;
    bool next_allocated = false;
    const Kind kind = classify(entries[index], next_host, next_allocated);
    if (kind != m.kind) break;
    if (kind == Kind::kZero && next_allocated != m.allocated) break;
    if (kind == Kind::kData) {
      if (next_host != prev_host + cs) break;
      if (auto r = check_data_cluster(next_host); !r) return fail(r.error());
    }
    prev_host = next_host;
    m.length += std::min(cs, limit - m.length);
  }
  return m;
}

ImageResult<void> Qcow2Image::read_backing(uint64_t guest, std::span<const iovec> out) {
  const uint64_t length = iov_total(out);
  const uint64_t in =
      !backing_ || guest >= backing_size_ ? 0 : std::min<uint64_t>(length, backing_size_ - guest);
  if (in > 0) {
    std::vector<iovec> part = iov_slice(out, 0, in);
    if (auto r = backing_->readv(guest, part); !r) return r;
  }
  if (in < length) iov_zero(out, in, length - in);
  return {};
}

ImageResult<void> Qcow2Image::read_unmapped(const Mapping& m, uint64_t guest,
                                            std::span<const iovec> out) {
  if (m.kind == Kind::kZero) {
    iov_zero(out, 0, iov_total(out));
    return {};
  }
  return read_backing(guest, out);
}

ImageResult<void> Qcow2Image::read_compressed_locked(uint64_t entry, uint64_t in_cluster,
                                                     std::span<const iovec> out) {
  const uint64_t cs = header_.cluster_size();
  const uint32_t cb = header_.cluster_bits;
  if (compressed_key_ != entry || compressed_buf_.size() != cs) {
    const uint32_t shift = 62 - (cb - 8);
    const uint64_t sectors_mask = (1ull << (cb - 8)) - 1;
    const uint64_t offset = entry & ((1ull << shift) - 1);
    const uint64_t sectors = ((entry >> shift) & sectors_mask) + 1;
    uint64_t bytes = sectors * 512 - (offset & 511);
    if (offset < cs || offset >= host_end_) {
      return fail(corrupt(path_, "compressed cluster outside the file"));
    }
    bytes = std::min(bytes, host_end_ - offset);  // QEMU may name bytes past the end
    std::vector<uint8_t> input(bytes);
    if (int err = pread_full(fd_.get(), input.data(), bytes, offset); err != 0) {
      return fail(host_error("read compressed cluster", err));
    }
    compressed_buf_.assign(cs, 0);
    compressed_key_ = ~0ull;
    z_stream z{};
    if (inflateInit2(&z, -12) != Z_OK) {
      return fail(ImageError{ImageErrc::kIo, path_ + ": zlib init failed", 0});
    }
    z.next_in = input.data();
    z.avail_in = static_cast<uInt>(input.size());
    z.next_out = compressed_buf_.data();
    z.avail_out = static_cast<uInt>(cs);
    const int ret = inflate(&z, Z_FINISH);
    const bool ok = (ret == Z_STREAM_END || ret == Z_BUF_ERROR) && z.avail_out == 0;
    inflateEnd(&z);
    if (!ok) {
      compressed_buf_.clear();
      return fail(corrupt(path_, "compressed cluster does not decompress"));
    }
    compressed_key_ = entry;
  }
  uint64_t at = in_cluster;
  for (const iovec& v : out) {
    std::memcpy(v.iov_base, compressed_buf_.data() + at, v.iov_len);
    at += v.iov_len;
  }
  return {};
}

}  // namespace flotilla::storage::qcow2
