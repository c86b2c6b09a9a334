// VmFd: the owner of a KVM VM fd. The narrow set of VM-level operations the monitor needs, so
// devices and the rest of the monitor never issue ioctls themselves.
#pragma once

#include <cstdint>
#include <optional>

#include "common/unique_fd.h"
#include "vmm/kvm/error.h"
#include "vmm/kvm/vcpu_fd.h"

namespace flotilla::vmm {

enum class IoSpace { kPio, kMmio };

class VmFd {
 public:
  VmFd(UniqueFd fd, size_t vcpu_mmap_size) : fd_(std::move(fd)), mmap_size_(vcpu_mmap_size) {}
  VmFd(VmFd&&) = default;
  VmFd& operator=(VmFd&&) = default;

  int fd() const { return fd_.get(); }

  // A memslot: guest [gpa, gpa+size) backed by host [host, host+size). size 0 deletes it.
  VmmResult<void> set_memory_region(uint32_t slot, uint64_t gpa, uint64_t size, void* host);
  VmmResult<void> set_tss_addr(uint64_t addr);
  VmmResult<void> set_identity_map_addr(uint64_t addr);
  VmmResult<void> create_irqchip();
  VmmResult<void> create_pit2();

  // Drives an interrupt line of the in-kernel PIC/IOAPIC (legacy devices and virtio-mmio).
  VmmResult<void> irq_line(uint32_t gsi, bool high);
  // The eventfd `efd` fires an edge on `gsi` each time it is written.
  VmmResult<void> register_irqfd(int efd, uint32_t gsi);
  VmmResult<void> unregister_irqfd(int efd, uint32_t gsi);
  // Writes of `len` bytes to `addr` (matching `datamatch` if given) signal `efd` in the kernel
  // instead of exiting to userspace.
  VmmResult<void> register_ioeventfd(int efd, IoSpace space, uint64_t addr, uint32_t len,
                                     std::optional<uint64_t> datamatch);
  VmmResult<void> unregister_ioeventfd(int efd, IoSpace space, uint64_t addr, uint32_t len,
                                       std::optional<uint64_t> datamatch);

  VmmResult<VcpuFd> create_vcpu(uint32_t id);

 private:
  VmmResult<void> ioeventfd(int efd, IoSpace space, uint64_t addr, uint32_t len,
                            std::optional<uint64_t> datamatch, bool deassign);
  UniqueFd fd_;
  size_t mmap_size_ = 0;
};

}  // namespace flotilla::vmm
