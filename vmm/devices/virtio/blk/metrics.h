// BlockMetrics: virtio-blk counters (the control socket's `stats` → `disks`, STORAGE.md).
// Written by the device thread and the disk's worker threads, read from any thread.
#pragma once

#include <atomic>
#include <cstdint>
#include <mutex>
#include <string>

namespace flotilla::vmm::virtio {

struct BlockMetricsValues {
  uint64_t read_ops = 0;
  uint64_t write_ops = 0;
  uint64_t flush_ops = 0;
  uint64_t discard_ops = 0;
  uint64_t write_zeroes_ops = 0;
  uint64_t get_id_ops = 0;
  uint64_t read_bytes = 0;
  uint64_t write_bytes = 0;
  uint64_t errors = 0;           // requests completed with IOERR or UNSUPP (any cause)
  uint64_t no_space_errors = 0;  // of which: the host file system was full (ENOSPC/EDQUOT)
  uint64_t bad_requests = 0;     // of which: refused by validation (hostile or buggy driver)
  uint64_t unsupported = 0;      // of which: UNSUPP
  std::string last_error;        // "" until the first error
};

class BlockMetrics {
 public:
  std::atomic<uint64_t> read_ops{0};
  std::atomic<uint64_t> write_ops{0};
  std::atomic<uint64_t> flush_ops{0};
  std::atomic<uint64_t> discard_ops{0};
  std::atomic<uint64_t> write_zeroes_ops{0};
  std::atomic<uint64_t> get_id_ops{0};
  std::atomic<uint64_t> read_bytes{0};
  std::atomic<uint64_t> write_bytes{0};
  std::atomic<uint64_t> errors{0};
  std::atomic<uint64_t> no_space_errors{0};
  std::atomic<uint64_t> bad_requests{0};
  std::atomic<uint64_t> unsupported{0};

  static void add(std::atomic<uint64_t>& counter, uint64_t n = 1) {
    counter.fetch_add(n, std::memory_order_relaxed);
  }
  void set_last_error(std::string message) {
    std::lock_guard lock(mutex_);
    last_error_ = std::move(message);
  }
  BlockMetricsValues values() const {
    constexpr auto r = std::memory_order_relaxed;
    BlockMetricsValues v{read_ops.load(r),
                         write_ops.load(r),
                         flush_ops.load(r),
                         discard_ops.load(r),
                         write_zeroes_ops.load(r),
                         get_id_ops.load(r),
                         read_bytes.load(r),
                         write_bytes.load(r),
                         errors.load(r),
                         no_space_errors.load(r),
                         bad_requests.load(r),
                         unsupported.load(r),
                         {}};
    std::lock_guard lock(mutex_);
    v.last_error = last_error_;
    return v;
  }

 private:
  mutable std::mutex mutex_;
  std::string last_error_;  // GUARDED_BY(mutex_)
};

}  // namespace flotilla::vmm::virtio
