#include "vmm/vcpu/exit_stats.h"

#include <linux/kvm.h>

namespace flotilla::vmm {

const char* exit_reason_name(uint32_t reason) {
  switch (reason) {
    case KVM_EXIT_UNKNOWN:
      return "unknown";
    case KVM_EXIT_EXCEPTION:
      return "exception";
    case KVM_EXIT_IO:
      return "io";
    case KVM_EXIT_HYPERCALL:
      return "hypercall";
    case KVM_EXIT_DEBUG:
      return "debug";
    case KVM_EXIT_HLT:
      return "hlt";
    case KVM_EXIT_MMIO:
      return "mmio";
    case KVM_EXIT_IRQ_WINDOW_OPEN:
      return "irq_window_open";
    case KVM_EXIT_SHUTDOWN:
      return "shutdown";
    case KVM_EXIT_FAIL_ENTRY:
      return "fail_entry";
    case KVM_EXIT_INTR:
      return "intr";
    case KVM_EXIT_SET_TPR:
      return "set_tpr";
    case KVM_EXIT_TPR_ACCESS:
      return "tpr_access";
    case KVM_EXIT_NMI:
      return "nmi";
    case KVM_EXIT_INTERNAL_ERROR:
      return "internal_error";
    case KVM_EXIT_SYSTEM_EVENT:
      return "system_event";
    case KVM_EXIT_X86_RDMSR:
      return "x86_rdmsr";
    case KVM_EXIT_X86_WRMSR:
      return "x86_wrmsr";
    default:
      return nullptr;
  }
}

std::map<std::string, uint64_t> ExitStats::snapshot() const {
  std::map<std::string, uint64_t> out;
  for (uint32_t r = 0; r < kMaxReason; ++r) {
    const uint64_t n = counts_[r].load(std::memory_order_relaxed);
    if (n == 0) continue;
    const char* name = exit_reason_name(r);
    out[name != nullptr ? name : "reason_" + std::to_string(r)] = n;
  }
  return out;
}

uint64_t ExitStats::total() const {
  uint64_t t = 0;
  for (const auto& c : counts_) t += c.load(std::memory_order_relaxed);
  return t;
}

}  // namespace flotilla::vmm
