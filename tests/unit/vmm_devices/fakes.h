// Pure-logic fakes for the device tests: guest RAM over a plain buffer (wrapped in the real
// GuestMemoryView) and an interrupt line that records what devices did to it.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

#include "vmm/devices/interrupt.h"
#include "vmm/memory/guest_memory_view.h"

namespace flotilla::vmm::testing {

class RecordingLine : public InterruptLine {
 public:
  void set_level(bool high) override {
    std::lock_guard lock(mutex_);
    levels_.push_back(high);
    level_ = high;
  }
  void trigger() override { triggers_.fetch_add(1); }
  bool level() const {
    std::lock_guard lock(mutex_);
    return level_;
  }
  std::vector<bool> levels() const {
    std::lock_guard lock(mutex_);
    return levels_;
  }
  uint64_t triggers() const { return triggers_.load(); }

 private:
  mutable std::mutex mutex_;
  std::vector<bool> levels_;
  bool level_ = false;
  std::atomic<uint64_t> triggers_{0};
};

// size bytes of "guest RAM" at guest-physical base, page-aligned on the host.
class GuestRam {
 public:
  GuestRam(uint64_t base, uint64_t size)
      : base_(base), size_(size), host_(static_cast<uint8_t*>(std::aligned_alloc(4096, size))) {
    std::memset(host_, 0, size);
  }
  ~GuestRam() { std::free(host_); }
  GuestRam(const GuestRam&) = delete;
  GuestRam& operator=(const GuestRam&) = delete;

  GuestMemoryView view() const { return GuestMemoryView({MemoryRegion{base_, size_, host_}}); }
  uint8_t* at(uint64_t gpa) { return host_ + (gpa - base_); }
  template <class T>
  void put(uint64_t gpa, const T& v) {
    std::memcpy(at(gpa), &v, sizeof(T));
  }
  template <class T>
  T get(uint64_t gpa) {
    T v;
    std::memcpy(&v, at(gpa), sizeof(T));
    return v;
  }
  uint64_t base() const { return base_; }
  uint64_t size() const { return size_; }

 private:
  uint64_t base_;
  uint64_t size_;
  uint8_t* host_;
};

// Polls cond until true or the deadline passes.
inline bool wait_for(const std::function<bool()>& cond,
                     std::chrono::milliseconds deadline = std::chrono::milliseconds(5000)) {
  const auto end = std::chrono::steady_clock::now() + deadline;
  while (std::chrono::steady_clock::now() < end) {
    if (cond()) return true;
    std::this_thread::sleep_for(std::chrono::microseconds(200));
  }
  return cond();
}

}  // namespace flotilla::vmm::testing
