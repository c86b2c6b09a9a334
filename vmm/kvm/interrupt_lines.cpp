#include "vmm/kvm/interrupt_lines.h"

#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

namespace flotilla::vmm {
namespace {

int64_t monotonic_ns() {
  timespec ts{};
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

// One edge: KVM_IRQ_LINE up and down. A failure means the VM is being torn down; the device
// cannot act on it anyway.
void pulse(VmFd& vm, uint32_t gsi) {
  (void)vm.irq_line(gsi, true);
  (void)vm.irq_line(gsi, false);
}

}  // namespace

void KvmIrqLine::set_level(bool high) {
  // A failure here means the VM is being torn down; the device cannot act on it anyway.
  (void)vm_.irq_line(gsi_, high);
}

void KvmIrqLine::trigger() {
  pulse(vm_, gsi_);
}

VmmResult<std::unique_ptr<VirtioIrqLine>> VirtioIrqLine::create(VmFd& vm, uint32_t gsi) {
  UniqueFd efd(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (!efd) return vmm_errno(VmmErrc::kIo, "eventfd");
  auto reg = vm.register_irqfd(efd.get(), gsi);
  if (!reg) return fail(reg.error());
  return std::unique_ptr<VirtioIrqLine>(new VirtioIrqLine(vm, gsi, std::move(efd)));
}

VirtioIrqLine::~VirtioIrqLine() {
  (void)vm_.unregister_irqfd(efd_.get(), gsi_);
}

void VirtioIrqLine::set_level(bool high) {
  if (high) trigger();
}

void VirtioIrqLine::trigger() {
  const int64_t now = monotonic_ns();
  const int64_t last = last_ns_.exchange(now, std::memory_order_relaxed);
  if (now - last >= kQuietNs) {
    // Both paths pulse the same GSI from the same source: if they overlap, the guest sees at
    // least one edge, and it reads the interrupt status for everything pending.
    pulse(vm_, gsi_);
    return;
  }
  const uint64_t one = 1;
  // EAGAIN (counter saturated) still leaves an interrupt pending, which is all an edge needs.
  (void)!::write(efd_.get(), &one, sizeof(one));
}

}  // namespace flotilla::vmm
