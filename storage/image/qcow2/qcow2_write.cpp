// Qcow2Image: writes that need metadata changes (new clusters with copy-on-write from the
// backing file, zero and compressed clusters), and zeroing whole clusters (discard/zeroes).
#include <fcntl.h>
#include <linux/falloc.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "storage/image/iov.h"
#include "storage/image/qcow2/qcow2_image.h"

namespace flotilla::storage::qcow2 {
namespace {

constexpr size_t kCowAlign = 4096;

// The 4 KiB-aligned start of a copy-on-write buffer filled by fill_cow().
uint8_t* cow_span(std::vector<uint8_t>& buffer, uint64_t length) {
  if (length == 0) return buffer.data();
  const auto at = reinterpret_cast<uintptr_t>(buffer.data());
  return buffer.data() + ((kCowAlign - at % kCowAlign) % kCowAlign);
}

}  // namespace

ImageResult<void> Qcow2Image::fill_cow(uint64_t guest, uint64_t length, const Mapping& m,
                                       std::vector<uint8_t>& out) {
  // Over-allocated so the bytes can start on a 4 KiB boundary (O_DIRECT); see cow_span().
  out.assign(length + kCowAlign, 0);
  if (length == 0 || m.kind == Kind::kZero) return {};
  iovec v{cow_span(out, length), length};
  return read_backing(guest, std::span<const iovec>(&v, 1));
}

bool Qcow2Image::in_flight_locked(uint64_t first_cluster, uint64_t count) const {
  return std::any_of(in_flight_.begin(), in_flight_.end(), [&](const InFlight& f) {
    return first_cluster < f.first_cluster + f.count && f.first_cluster < first_cluster + count;
  });
}

ImageResult<uint64_t> Qcow2Image::write_allocating_locked(std::unique_lock<std::mutex>& lock,
                                                          uint64_t guest,
                                                          std::span<const iovec> iov,
                                                          const Mapping& first) {
  const uint64_t cs = header_.cluster_size();
  const uint32_t cb = header_.cluster_bits;
  const uint64_t l1_index = guest >> (cb + header_.l2_bits());
  const uint64_t l2_index = (guest >> cb) & (cs / 8 - 1);
  const uint64_t in_cluster = guest & (cs - 1);
  const uint64_t cluster_start = guest - in_cluster;
  const uint64_t total = iov_total(iov);

  if (first.kind == Kind::kCompressed || (first.kind == Kind::kZero && first.allocated)) {
    // One cluster: rebuild it whole in memory, then write it to its (new or kept) place.
    const uint64_t bytes = std::min(total, cs - in_cluster);
    std::vector<uint8_t> cluster(cs, 0);
    if (first.kind == Kind::kCompressed) {
      iovec v{cluster.data(), cs};
      if (auto r = read_compressed_locked(first.host, 0, std::span<const iovec>(&v, 1)); !r) {
        return fail(r.error());
      }
    }
    size_t at = in_cluster;
    for (const iovec& v : iov_slice(iov, 0, bytes)) {
      std::memcpy(cluster.data() + at, v.iov_base, v.iov_len);
      at += v.iov_len;
    }
    uint64_t host = first.host - in_cluster;  // zero-allocated: keep its cluster
    if (first.kind == Kind::kCompressed) {
      auto fresh = alloc_clusters_locked(1);
      if (!fresh) return fail(fresh.error());
      host = *fresh;
    }
    if (int err = pwrite_full(fd_.get(), cluster.data(), cs, host); err != 0) {
      if (first.kind == Kind::kCompressed) (void)set_refcount_locked(host >> cb, 0);
      return fail(host_error("write", err));
    }
    auto table = l2_for_write_locked(l1_index);
    if (!table) return fail(table.error());
    const uint64_t old = (*table)->entries[l2_index];
    (*table)->entries[l2_index] = host | kOflagCopied;
    (*table)->dirty = true;
    if (first.kind == Kind::kCompressed) {
      const uint32_t shift = 62 - (cb - 8);
      const uint64_t offset = old & ((1ull << shift) - 1);
      const uint64_t sectors = ((old >> shift) & ((1ull << (cb - 8)) - 1)) + 1;
      pending_frees_.emplace_back(offset, sectors * 512 - (offset & 511));
      compressed_key_ = ~0ull;
    }
    return bytes;
  }

  // A run of unallocated or plain-zero clusters within this L2 table: fresh clusters, written in
  // one pwritev with the copy-on-write head and tail around the request's bytes.
  const uint64_t run_bytes = std::min(total, first.length);
  const uint64_t end = guest + run_bytes;
  const uint64_t clusters = (in_cluster + run_bytes + cs - 1) / cs;
  if (auto t = l2_for_write_locked(l1_index); !t) return fail(t.error());
  auto host = alloc_clusters_locked(clusters);
  if (!host) return fail(host.error());
  // The data (and the copy-on-write reads) move without the lock: the new clusters are counted
  // but named by no table yet, and the guest clusters are marked in flight so no other request
  // allocates them meanwhile. Only then does the L2 table name them.
  const uint64_t first_cluster = guest >> cb;
  in_flight_.push_back(InFlight{first_cluster, clusters});
  lock.unlock();
  std::vector<uint8_t> head;
  std::vector<uint8_t> tail;
  const uint64_t end_in_cluster = end & (cs - 1);
  auto cow = fill_cow(cluster_start, in_cluster, first, head);
  if (cow && end_in_cluster != 0) cow = fill_cow(end, cs - end_in_cluster, first, tail);
  int err = 0;
  if (cow) {
    std::vector<iovec> parts;
    const uint64_t tail_len = end_in_cluster == 0 ? 0 : cs - end_in_cluster;
    if (in_cluster != 0) parts.push_back(iovec{cow_span(head, in_cluster), in_cluster});
    for (const iovec& v : iov_slice(iov, 0, run_bytes)) parts.push_back(v);
    if (tail_len != 0) parts.push_back(iovec{cow_span(tail, tail_len), tail_len});
    const bool direct =
        direct_fd_.valid() && *host % kCowAlign == 0 && iov_aligned(parts, kCowAlign);
    err = transfer_full(direct ? direct_fd_.get() : fd_.get(), *host, parts, true);
  }
  lock.lock();
  std::erase_if(in_flight_, [&](const InFlight& f) { return f.first_cluster == first_cluster; });
  in_flight_cv_.notify_all();
  if (!cow || err != 0) {
    // Nothing names the new clusters yet: give them back at once.
    for (uint64_t i = 0; i < clusters; ++i) (void)set_refcount_locked((*host >> cb) + i, 0);
    free_hint_ = std::min(free_hint_, *host >> cb);
    if (!cow) return fail(cow.error());
    return fail(host_error("write", err));
  }
  auto table = l2_for_write_locked(l1_index);
  if (!table) return fail(table.error());
  for (uint64_t i = 0; i < clusters; ++i) {
    (*table)->entries[l2_index + i] = (*host + i * cs) | kOflagCopied;
  }
  (*table)->dirty = true;
  return run_bytes;
}

ImageResult<void> Qcow2Image::zero_cluster_locked(uint64_t guest_cluster, bool punch) {
  const uint64_t cs = header_.cluster_size();
  const uint32_t cb = header_.cluster_bits;
  auto m = map_locked(guest_cluster, cs);
  if (!m) return fail(m.error());
  if (m->kind == Kind::kZero) return {};
  if (m->kind == Kind::kUnallocated && !backing_) return {};
  const uint64_t l1_index = guest_cluster >> (cb + header_.l2_bits());
  const uint64_t l2_index = (guest_cluster >> cb) & (cs / 8 - 1);
  auto table = l2_for_write_locked(l1_index);
  if (!table) return fail(table.error());
  uint64_t& entry = (*table)->entries[l2_index];
  const uint64_t old = entry;
  (*table)->dirty = true;
  if (m->kind == Kind::kData) {
    // The cluster stays allocated (never reused while the image is open); only its blocks go.
    entry = m->host | kOflagCopied | kOflagZero;
    if (punch && ::fallocate(fd_.get(), FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
                             static_cast<off_t>(m->host), static_cast<off_t>(cs)) != 0) {
      if (errno != EOPNOTSUPP) return fail(host_error("fallocate(PUNCH_HOLE)", errno));
    }
    return {};
  }
  entry = kOflagZero;
  if (m->kind == Kind::kCompressed) {
    const uint32_t shift = 62 - (cb - 8);
    const uint64_t offset = old & ((1ull << shift) - 1);
    const uint64_t sectors = ((old >> shift) & ((1ull << (cb - 8)) - 1)) + 1;
    pending_frees_.emplace_back(offset, sectors * 512 - (offset & 511));
    compressed_key_ = ~0ull;
  }
  return {};
}

}  // namespace flotilla::storage::qcow2
