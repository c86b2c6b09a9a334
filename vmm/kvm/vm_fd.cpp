#include "vmm/kvm/vm_fd.h"

#include <linux/kvm.h>
#include <sys/ioctl.h>
#include <sys/mman.h>

namespace flotilla::vmm {

VmmResult<void> VmFd::set_memory_region(uint32_t slot, uint64_t gpa, uint64_t size, void* host) {
  kvm_userspace_memory_region region{};
  region.slot = slot;
  region.guest_phys_addr = gpa;
  region.memory_size = size;
  region.userspace_addr = reinterpret_cast<uint64_t>(host);
  // SAFETY: the caller (GuestMemory) owns the mapping at host for size bytes and keeps it alive
  // until the VM is destroyed.
  if (::ioctl(fd_.get(), KVM_SET_USER_MEMORY_REGION, &region) < 0) {
    return vmm_errno(VmmErrc::kIoctl, "KVM_SET_USER_MEMORY_REGION slot " + std::to_string(slot));
  }
  return {};
}

VmmResult<void> VmFd::set_tss_addr(uint64_t addr) {
  // SAFETY: KVM_SET_TSS_ADDR takes the guest physical address by value.
  if (::ioctl(fd_.get(), KVM_SET_TSS_ADDR, static_cast<unsigned long>(addr)) < 0) {
    return vmm_errno(VmmErrc::kIoctl, "KVM_SET_TSS_ADDR");
  }
  return {};
}

VmmResult<void> VmFd::set_identity_map_addr(uint64_t addr) {
  __u64 a = addr;
  // SAFETY: KVM_SET_IDENTITY_MAP_ADDR reads one u64 from &a.
  if (::ioctl(fd_.get(), KVM_SET_IDENTITY_MAP_ADDR, &a) < 0) {
    return vmm_errno(VmmErrc::kIoctl, "KVM_SET_IDENTITY_MAP_ADDR");
  }
  return {};
}

VmmResult<void> VmFd::create_irqchip() {
  // SAFETY: KVM_CREATE_IRQCHIP takes no argument.
  if (::ioctl(fd_.get(), KVM_CREATE_IRQCHIP, 0) < 0) {
    return vmm_errno(VmmErrc::kIoctl, "KVM_CREATE_IRQCHIP");
  }
  return {};
}

VmmResult<void> VmFd::create_pit2() {
  kvm_pit_config config{};
  config.flags = KVM_PIT_SPEAKER_DUMMY;
  // SAFETY: KVM_CREATE_PIT2 reads one kvm_pit_config from &config.
  if (::ioctl(fd_.get(), KVM_CREATE_PIT2, &config) < 0) {
    return vmm_errno(VmmErrc::kIoctl, "KVM_CREATE_PIT2");
  }
  return {};
}

VmmResult<void> VmFd::irq_line(uint32_t gsi, bool high) {
  kvm_irq_level level{};
  level.irq = gsi;
  level.level = high ? 1 : 0;
  // SAFETY: KVM_IRQ_LINE reads one kvm_irq_level from &level.
  if (::ioctl(fd_.get(), KVM_IRQ_LINE, &level) < 0) {
    return vmm_errno(VmmErrc::kIoctl, "KVM_IRQ_LINE " + std::to_string(gsi));
  }
  return {};
}

VmmResult<void> VmFd::register_irqfd(int efd, uint32_t gsi) {
  kvm_irqfd req{};
  req.fd = static_cast<__u32>(efd);
  req.gsi = gsi;
  // SAFETY: KVM_IRQFD reads one kvm_irqfd; the kernel takes its own reference on efd.
  if (::ioctl(fd_.get(), KVM_IRQFD, &req) < 0) {
    return vmm_errno(VmmErrc::kIoctl, "KVM_IRQFD gsi " + std::to_string(gsi));
  }
  return {};
}

VmmResult<void> VmFd::unregister_irqfd(int efd, uint32_t gsi) {
  kvm_irqfd req{};
  req.fd = static_cast<__u32>(efd);
  req.gsi = gsi;
  req.flags = KVM_IRQFD_FLAG_DEASSIGN;
  // SAFETY: KVM_IRQFD reads one kvm_irqfd.
  if (::ioctl(fd_.get(), KVM_IRQFD, &req) < 0) {
    return vmm_errno(VmmErrc::kIoctl, "KVM_IRQFD deassign gsi " + std::to_string(gsi));
  }
  return {};
}

VmmResult<void> VmFd::register_ioeventfd(int efd, IoSpace space, uint64_t addr, uint32_t len,
                                         std::optional<uint64_t> datamatch) {
  return ioeventfd(efd, space, addr, len, datamatch, false);
}

VmmResult<void> VmFd::unregister_ioeventfd(int efd, IoSpace space, uint64_t addr, uint32_t len,
                                           std::optional<uint64_t> datamatch) {
  return ioeventfd(efd, space, addr, len, datamatch, true);
}

VmmResult<void> VmFd::ioeventfd(int efd, IoSpace space, uint64_t addr, uint32_t len,
                                std::optional<uint64_t> datamatch, bool deassign) {
  kvm_ioeventfd req{};
  req.fd = efd;
  req.addr = addr;
  req.len = len;
  if (space == IoSpace::kPio) req.flags |= KVM_IOEVENTFD_FLAG_PIO;
  if (datamatch) {
    req.flags |= KVM_IOEVENTFD_FLAG_DATAMATCH;
    req.datamatch = *datamatch;
  }
  if (deassign) req.flags |= KVM_IOEVENTFD_FLAG_DEASSIGN;
  // SAFETY: KVM_IOEVENTFD reads one kvm_ioeventfd; the kernel takes its own reference on efd.
  if (::ioctl(fd_.get(), KVM_IOEVENTFD, &req) < 0) {
    return vmm_errno(VmmErrc::kIoctl, "KVM_IOEVENTFD at " + std::to_string(addr));
  }
  return {};
}

VmmResult<VcpuFd> VmFd::create_vcpu(uint32_t id) {
  // SAFETY: KVM_CREATE_VCPU takes the vCPU (APIC) id by value and returns a new fd.
  const int fd = ::ioctl(fd_.get(), KVM_CREATE_VCPU, static_cast<unsigned long>(id));
  if (fd < 0) return vmm_errno(VmmErrc::kIoctl, "KVM_CREATE_VCPU " + std::to_string(id));
  UniqueFd owned(fd);
  void* run = ::mmap(nullptr, mmap_size_, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (run == MAP_FAILED) return vmm_errno(VmmErrc::kIoctl, "mmap kvm_run");
  return VcpuFd(std::move(owned), static_cast<kvm_run*>(run), mmap_size_, id);
}

}  // namespace flotilla::vmm
