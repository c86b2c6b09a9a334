#include "vmm/kvm/kvm.h"

#include <fcntl.h>
#include <sys/ioctl.h>

#include <memory>

#include "vmm/kvm/flex_abi.h"

namespace flotilla::vmm {
namespace {

struct RequiredCap {
  int cap;
  const char* name;
  const char* why;
};

constexpr RequiredCap kRequired[] = {
    {KVM_CAP_USER_MEMORY, "KVM_CAP_USER_MEMORY", "guest RAM memslots"},
    {KVM_CAP_IRQCHIP, "KVM_CAP_IRQCHIP", "in-kernel PIC/IOAPIC/LAPIC"},
    {KVM_CAP_PIT2, "KVM_CAP_PIT2", "in-kernel PIT"},
    {KVM_CAP_IOEVENTFD, "KVM_CAP_IOEVENTFD", "virtio queue notifications"},
    {KVM_CAP_IRQFD, "KVM_CAP_IRQFD", "virtio interrupts"},
    {KVM_CAP_SET_TSS_ADDR, "KVM_CAP_SET_TSS_ADDR", "TSS address in the MMIO hole"},
    {KVM_CAP_SET_IDENTITY_MAP_ADDR, "KVM_CAP_SET_IDENTITY_MAP_ADDR", "identity map address"},
    {KVM_CAP_EXT_CPUID, "KVM_CAP_EXT_CPUID", "KVM_GET_SUPPORTED_CPUID"},
    {KVM_CAP_MP_STATE, "KVM_CAP_MP_STATE", "vCPU run states (INIT/SIPI)"},
    {KVM_CAP_IMMEDIATE_EXIT, "KVM_CAP_IMMEDIATE_EXIT", "kicking vCPUs out of KVM_RUN"},
};

}  // namespace

VmmResult<Kvm> Kvm::open(const std::string& path) {
  UniqueFd fd(::open(path.c_str(), O_RDWR | O_CLOEXEC));
  if (!fd) {
    if (errno == EACCES || errno == EPERM) {
      return vmm_errno(VmmErrc::kNoKvm, "permission denied opening " + path);
    }
    return vmm_errno(VmmErrc::kNoKvm, "cannot open " + path);
  }
  Kvm kvm(std::move(fd));
  // SAFETY: KVM_GET_API_VERSION takes no argument.
  const int version = ::ioctl(kvm.fd(), KVM_GET_API_VERSION, 0);
  if (version != KVM_API_VERSION) {
    return vmm_fail(VmmErrc::kApiVersion,
                    path + ": KVM API version " + std::to_string(version) + ", need 12");
  }
  for (const auto& c : kRequired) {
    if (kvm.check_extension(c.cap) <= 0) {
      return vmm_fail(VmmErrc::kMissingCapability,
                      std::string("KVM lacks ") + c.name + " (needed for " + c.why + ")");
    }
  }
  kvm.nr_vcpus_ = std::max(1, kvm.check_extension(KVM_CAP_NR_VCPUS));
  kvm.max_vcpus_ = std::max(kvm.nr_vcpus_, kvm.check_extension(KVM_CAP_MAX_VCPUS));
  // SAFETY: KVM_GET_VCPU_MMAP_SIZE takes no argument and returns the kvm_run mapping size.
  const int size = ::ioctl(kvm.fd(), KVM_GET_VCPU_MMAP_SIZE, 0);
  if (size < static_cast<int>(sizeof(kvm_run))) {
    return vmm_errno(VmmErrc::kIoctl, "KVM_GET_VCPU_MMAP_SIZE");
  }
  kvm.mmap_size_ = static_cast<size_t>(size);
  return kvm;
}

int Kvm::check_extension(int cap) const {
  // SAFETY: KVM_CHECK_EXTENSION takes the capability number by value.
  return ::ioctl(fd_.get(), KVM_CHECK_EXTENSION, cap);
}

VmmResult<std::vector<kvm_cpuid_entry2>> Kvm::supported_cpuid() const {
  constexpr uint32_t kMaxEntries = 256;
  const size_t bytes = sizeof(abi::Cpuid2Header) + kMaxEntries * sizeof(kvm_cpuid_entry2);
  auto buf = std::make_unique<uint64_t[]>((bytes + 7) / 8);
  // SAFETY: buf is zeroed, 8-aligned and holds the C-layout header plus kMaxEntries entries.
  auto* header = reinterpret_cast<abi::Cpuid2Header*>(buf.get());
  auto* entries = reinterpret_cast<kvm_cpuid_entry2*>(header + 1);
  header->nent = kMaxEntries;
  // SAFETY: the kernel writes at most nent entries after the header, inside the buffer.
  if (::ioctl(fd_.get(), abi::kGetSupportedCpuid, header) < 0) {
    return vmm_errno(VmmErrc::kIoctl, "KVM_GET_SUPPORTED_CPUID");
  }
  return std::vector<kvm_cpuid_entry2>(entries, entries + header->nent);
}

VmmResult<VmFd> Kvm::create_vm() const {
  // SAFETY: KVM_CREATE_VM takes the machine type (0 = default) and returns a new fd.
  const int vm = ::ioctl(fd_.get(), KVM_CREATE_VM, 0);
  if (vm < 0) return vmm_errno(VmmErrc::kIoctl, "KVM_CREATE_VM");
  return VmFd(UniqueFd(vm), mmap_size_);
}

}  // namespace flotilla::vmm
