// ExitStats: counters per KVM exit reason, shared by all vCPUs of a machine (relaxed atomics),
// plus the exits the dispatcher did not expect (logged once per reason).
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <map>
#include <string>

namespace flotilla::vmm {

class ExitStats {
 public:
  static constexpr size_t kMaxReason = 64;

  void count(uint32_t reason) {
    counts_[reason < kMaxReason ? reason : kMaxReason - 1].fetch_add(1, std::memory_order_relaxed);
  }
  // True the first time an unexpected reason is seen (so it is logged once).
  bool first_unexpected(uint32_t reason) {
    const size_t i = reason < kMaxReason ? reason : kMaxReason - 1;
    return !unexpected_[i].exchange(true, std::memory_order_relaxed);
  }
  // Non-zero counters by name ("io", "mmio", "shutdown", ...).
  std::map<std::string, uint64_t> snapshot() const;
  uint64_t total() const;

 private:
  std::array<std::atomic<uint64_t>, kMaxReason> counts_{};
  std::array<std::atomic<bool>, kMaxReason> unexpected_{};
};

const char* exit_reason_name(uint32_t reason);

}  // namespace flotilla::vmm
