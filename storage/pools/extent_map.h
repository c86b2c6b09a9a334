// ExtentMap: the free space of a partitioned pool's data area, and best-fit allocation in it.
// Pure logic (no I/O): the pool manager builds one from the extents the store and in-flight
// imports hold, allocates, and writes the result to the device header and the store.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <vector>

#include "storage/model.h"

namespace flotilla::storage::pools {

// Every extent starts and ends on a MiB boundary.
inline constexpr uint64_t kExtentAlign = 1ULL << 20;

struct FreeSpace {
  uint64_t free_bytes = 0;
  uint64_t largest_free_bytes = 0;
  double fragmentation = 0.0;  // 1 - largest_free / free (0 when nothing or one piece is free)
  size_t free_extents = 0;
};

class ExtentMap {
 public:
  // The allocatable range [start, end); both rounded inwards to kExtentAlign.
  ExtentMap(uint64_t start, uint64_t end);

  // Marks an extent as used; false when it is not wholly free (overlap, outside the range).
  bool mark_used(const DiskExtent& e);
  // Returns an extent to the free space (merged with its neighbours); false if any of it was
  // already free or outside the range.
  bool release(const DiskExtent& e);

  // `bytes` (a multiple of kExtentAlign) as few extents as possible: the smallest free piece
  // that holds it all (best fit); else the largest pieces first and the best fit for the rest.
  // nullopt (nothing changed) when the free space is short.
  std::optional<std::vector<DiskExtent>> allocate(uint64_t bytes);
  // `current` grown by `bytes`: the last extent is extended in place when the space right after
  // it is free, then the rest is allocated. Returns the whole new list (adjacent pieces merged).
  std::optional<std::vector<DiskExtent>> grow(const std::vector<DiskExtent>& current,
                                              uint64_t bytes);

  FreeSpace free_space() const;
  std::vector<DiskExtent> free_list() const;
  uint64_t start() const { return start_; }
  uint64_t end() const { return end_; }

 private:
  bool take(uint64_t offset, uint64_t length);
  std::map<uint64_t, uint64_t> free_;  // offset → length, never adjacent (merged)
  uint64_t start_;
  uint64_t end_;
};

// Appends `e` to `list`, merging it into the last extent when they touch.
void append_extent(std::vector<DiskExtent>& list, const DiskExtent& e);
uint64_t total_length(const std::vector<DiskExtent>& list);
uint64_t align_up(uint64_t v, uint64_t align);

}  // namespace flotilla::storage::pools
