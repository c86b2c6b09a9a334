#include "vmm/kvm/interrupt_lines.h"

namespace flotilla::vmm {

void KvmIrqLine::set_level(bool high) {
  // A failure here means the VM is being torn down; the device cannot act on it anyway.
  (void)vm_.irq_line(gsi_, high);
}

void KvmIrqLine::trigger() {
  (void)vm_.irq_line(gsi_, true);
  (void)vm_.irq_line(gsi_, false);
}

}  // namespace flotilla::vmm
