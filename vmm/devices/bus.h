// The port-I/O and MMIO buses the dispatcher routes exits through (kvmtool mmio.c/ioport.c).
// Devices never call ioctls; the vCPU loop calls Bus::read/write with the exit's address.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "common/result.h"

namespace flotilla::vmm {

class BusDevice {
 public:
  virtual ~BusDevice() = default;
  // offset is relative to the base the device was inserted at; data.size() is 1, 2, 4 or 8.
  // Called from vCPU threads; a device guards its own state. Must never throw or abort on any
  // guest-supplied offset, size or value.
  virtual void read(uint64_t offset, std::span<uint8_t> data) = 0;
  virtual void write(uint64_t offset, std::span<const uint8_t> data) = 0;
};

struct BusRangeStats {
  std::string name;
  uint64_t base = 0;
  uint64_t length = 0;
  uint64_t reads = 0;
  uint64_t writes = 0;
};

// A fixed set of non-overlapping ranges, built before the vCPUs start (insert is not safe to
// race with dispatch); dispatch is lock-free apart from the devices' own locks.
class Bus {
 public:
  explicit Bus(std::string name) : name_(std::move(name)) {}
  // Refuses a zero length, an overflow or an overlap with an existing range.
  Result<void, SimpleError> insert(uint64_t base, uint64_t length,
                                   std::shared_ptr<BusDevice> device, std::string name);
  // False when nothing is mapped at addr..addr+size (the access is then counted as unknown and
  // logged once per address; a read then returns all ones).
  bool read(uint64_t addr, std::span<uint8_t> data);
  bool write(uint64_t addr, std::span<const uint8_t> data);

  // Unmapped accesses inside [base, base+length) are expected (guests probing empty virtio
  // slots): still counted as unknown, never logged. Like insert, only before dispatch starts.
  void set_quiet(uint64_t base, uint64_t length) { quiet_.push_back({base, length}); }

  std::vector<BusRangeStats> stats() const;
  uint64_t unknown_accesses() const { return unknown_.load(std::memory_order_relaxed); }

 private:
  struct Range {
    uint64_t base;
    uint64_t length;
    std::shared_ptr<BusDevice> device;
    std::string name;
    std::unique_ptr<std::atomic<uint64_t>> reads;
    std::unique_ptr<std::atomic<uint64_t>> writes;
  };
  const Range* find(uint64_t addr, uint64_t size) const;
  void note_unknown(uint64_t addr, bool is_write, size_t size);

  std::string name_;
  std::vector<Range> ranges_;                         // sorted by base
  std::vector<std::pair<uint64_t, uint64_t>> quiet_;  // (base, length)
  std::atomic<uint64_t> unknown_{0};
  std::mutex logged_mutex_;
  std::vector<uint64_t> logged_;  // GUARDED_BY(logged_mutex_): addresses already logged, capped
};

}  // namespace flotilla::vmm
