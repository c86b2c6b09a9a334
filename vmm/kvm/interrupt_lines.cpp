#include "vmm/kvm/interrupt_lines.h"

#include <sys/eventfd.h>
#include <unistd.h>

namespace flotilla::vmm {

void KvmIrqLine::set_level(bool high) {
  // A failure here means the VM is being torn down; the device cannot act on it anyway.
  (void)vm_.irq_line(gsi_, high);
}

void KvmIrqLine::trigger() {
  (void)vm_.irq_line(gsi_, true);
  (void)vm_.irq_line(gsi_, false);
}

VmmResult<std::unique_ptr<IrqfdLine>> IrqfdLine::create(VmFd& vm, uint32_t gsi) {
  UniqueFd efd(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (!efd) return vmm_errno(VmmErrc::kIo, "eventfd");
  auto reg = vm.register_irqfd(efd.get(), gsi);
  if (!reg) return fail(reg.error());
  return std::unique_ptr<IrqfdLine>(new IrqfdLine(vm, gsi, std::move(efd)));
}

IrqfdLine::~IrqfdLine() {
  (void)vm_.unregister_irqfd(efd_.get(), gsi_);
}

void IrqfdLine::set_level(bool high) {
  if (high) trigger();
}

void IrqfdLine::trigger() {
  const uint64_t one = 1;
  // EAGAIN (counter saturated) still leaves an interrupt pending, which is all an edge needs.
  (void)!::write(efd_.get(), &one, sizeof(one));
}

}  // namespace flotilla::vmm
