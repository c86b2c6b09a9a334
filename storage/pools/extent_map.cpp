#include "storage/pools/extent_map.h"

#include <algorithm>

namespace flotilla::storage::pools {

uint64_t align_up(uint64_t v, uint64_t align) {
  return (v + align - 1) / align * align;
}

uint64_t total_length(const std::vector<DiskExtent>& list) {
  uint64_t n = 0;
  for (const auto& e : list) n += e.length;
  return n;
}

void append_extent(std::vector<DiskExtent>& list, const DiskExtent& e) {
  if (!list.empty() && list.back().host_offset + list.back().length == e.host_offset) {
    list.back().length += e.length;
  } else {
    list.push_back(e);
  }
}

ExtentMap::ExtentMap(uint64_t start, uint64_t end)
    : start_(align_up(start, kExtentAlign)), end_(end / kExtentAlign * kExtentAlign) {
  if (end_ > start_) free_.emplace(start_, end_ - start_);
}

// Removes [offset, offset+length) from one free piece that holds it wholly.
bool ExtentMap::take(uint64_t offset, uint64_t length) {
  if (length == 0) return false;
  auto it = free_.upper_bound(offset);
  if (it == free_.begin()) return false;
  --it;
  const uint64_t piece_start = it->first;
  const uint64_t piece_end = it->first + it->second;
  if (offset < piece_start || offset + length > piece_end || offset + length < offset) {
    return false;
  }
  free_.erase(it);
  if (offset > piece_start) free_.emplace(piece_start, offset - piece_start);
  if (offset + length < piece_end) free_.emplace(offset + length, piece_end - offset - length);
  return true;
}

bool ExtentMap::mark_used(const DiskExtent& e) {
  return take(e.host_offset, e.length);
}

bool ExtentMap::release(const DiskExtent& e) {
  if (e.length == 0 || e.host_offset < start_ || e.host_offset + e.length > end_) return false;
  uint64_t offset = e.host_offset;
  uint64_t length = e.length;
  auto next = free_.lower_bound(offset);
  if (next != free_.end() && next->first < offset + length) return false;  // overlaps free
  if (next != free_.begin()) {
    auto prev = std::prev(next);
    if (prev->first + prev->second > offset) return false;
    if (prev->first + prev->second == offset) {
      offset = prev->first;
      length += prev->second;
      free_.erase(prev);
    }
  }
  if (next != free_.end() && next->first == offset + length) {
    length += next->second;
    free_.erase(next);
  }
  free_.emplace(offset, length);
  return true;
}

std::optional<std::vector<DiskExtent>> ExtentMap::allocate(uint64_t bytes) {
  if (bytes == 0 || bytes % kExtentAlign != 0) return std::nullopt;
  if (free_space().free_bytes < bytes) return std::nullopt;
  std::vector<DiskExtent> out;
  uint64_t remaining = bytes;
  while (remaining > 0) {
    // Best fit: the smallest piece that holds what is left (lowest offset among equals).
    auto best = free_.end();
    for (auto it = free_.begin(); it != free_.end(); ++it) {
      if (it->second >= remaining && (best == free_.end() || it->second < best->second)) best = it;
    }
    if (best == free_.end()) {
      // Nothing holds it all: take the largest piece whole and go on.
      best = std::max_element(free_.begin(), free_.end(),
                              [](const auto& a, const auto& b) { return a.second < b.second; });
    }
    const DiskExtent e{best->first, std::min(best->second, remaining)};
    take(e.host_offset, e.length);
    out.push_back(e);
    remaining -= e.length;
  }
  return out;
}

std::optional<std::vector<DiskExtent>> ExtentMap::grow(const std::vector<DiskExtent>& current,
                                                       uint64_t bytes) {
  if (bytes == 0 || bytes % kExtentAlign != 0) return std::nullopt;
  if (free_space().free_bytes < bytes) return std::nullopt;
  std::vector<DiskExtent> out = current;
  uint64_t remaining = bytes;
  if (!out.empty()) {
    const uint64_t tail = out.back().host_offset + out.back().length;
    if (auto it = free_.find(tail); it != free_.end()) {
      const uint64_t n = std::min(it->second, remaining);
      take(tail, n);
      out.back().length += n;
      remaining -= n;
    }
  }
  if (remaining > 0) {
    auto more = allocate(remaining);
    if (!more) return std::nullopt;  // unreachable: free space was checked
    for (const auto& e : *more) append_extent(out, e);
  }
  return out;
}

FreeSpace ExtentMap::free_space() const {
  FreeSpace f;
  for (const auto& [offset, length] : free_) {
    f.free_bytes += length;
    f.largest_free_bytes = std::max(f.largest_free_bytes, length);
  }
  f.free_extents = free_.size();
  if (f.free_bytes > 0) {
    f.fragmentation =
        1.0 - static_cast<double>(f.largest_free_bytes) / static_cast<double>(f.free_bytes);
  }
  return f;
}

std::vector<DiskExtent> ExtentMap::free_list() const {
  std::vector<DiskExtent> out;
  for (const auto& [offset, length] : free_) out.push_back({offset, length});
  return out;
}

}  // namespace flotilla::storage::pools
