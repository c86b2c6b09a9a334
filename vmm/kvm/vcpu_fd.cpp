#include "vmm/kvm/vcpu_fd.h"

#include <sys/ioctl.h>
#include <sys/mman.h>

#include <atomic>
#include <memory>

#include "vmm/kvm/flex_abi.h"

namespace flotilla::vmm {

VcpuFd::VcpuFd(VcpuFd&& o) noexcept
    : fd_(std::move(o.fd_)),
      run_(std::exchange(o.run_, nullptr)),
      run_size_(o.run_size_),
      id_(o.id_) {}

VcpuFd& VcpuFd::operator=(VcpuFd&& o) noexcept {
  if (this != &o) {
    unmap();
    fd_ = std::move(o.fd_);
    run_ = std::exchange(o.run_, nullptr);
    run_size_ = o.run_size_;
    id_ = o.id_;
  }
  return *this;
}

VcpuFd::~VcpuFd() {
  unmap();
}

void VcpuFd::unmap() {
  // SAFETY: run_ was returned by mmap of run_size_ bytes and is only unmapped here.
  if (run_ != nullptr) ::munmap(run_, run_size_);
  run_ = nullptr;
}

int VcpuFd::run() {
  // SAFETY: KVM_RUN takes no argument; results land in the kvm_run mapping we own.
  if (::ioctl(fd_.get(), KVM_RUN, 0) < 0) return errno;
  return 0;
}

void VcpuFd::set_immediate_exit(bool on) {
  // SAFETY: immediate_exit is a byte in our kvm_run mapping; the kernel reads it at KVM_RUN
  // entry; an atomic_ref store makes the write from another thread well defined.
  std::atomic_ref<__u8>(run_->immediate_exit).store(on ? 1 : 0, std::memory_order_seq_cst);
}

VmmResult<void> VcpuFd::set_cpuid(std::span<const kvm_cpuid_entry2> entries) {
  const size_t bytes = sizeof(abi::Cpuid2Header) + entries.size() * sizeof(kvm_cpuid_entry2);
  auto buf = std::make_unique<uint64_t[]>((bytes + 7) / 8);
  // SAFETY: buf is 8-aligned and sized for the C-layout header plus entries.size() entries.
  auto* header = reinterpret_cast<abi::Cpuid2Header*>(buf.get());
  header->nent = static_cast<uint32_t>(entries.size());
  std::copy(entries.begin(), entries.end(), reinterpret_cast<kvm_cpuid_entry2*>(header + 1));
  // SAFETY: KVM_SET_CPUID2 reads nent entries that follow the header in the buffer.
  if (::ioctl(fd_.get(), abi::kSetCpuid2, header) < 0) {
    return vmm_errno(VmmErrc::kIoctl, "KVM_SET_CPUID2");
  }
  return {};
}

#define FLOTILLA_VCPU_GET(type, req, name)                                        \
  VmmResult<type> VcpuFd::name() const {                                          \
    type v{};                                                                     \
    /* SAFETY: the ioctl writes exactly one `type` into v. */                     \
    if (::ioctl(fd_.get(), req, &v) < 0) return vmm_errno(VmmErrc::kIoctl, #req); \
    return v;                                                                     \
  }
#define FLOTILLA_VCPU_SET(type, req, name)                                        \
  VmmResult<void> VcpuFd::name(const type& v) {                                   \
    /* SAFETY: the ioctl reads exactly one `type` from v. */                      \
    if (::ioctl(fd_.get(), req, &v) < 0) return vmm_errno(VmmErrc::kIoctl, #req); \
    return {};                                                                    \
  }

FLOTILLA_VCPU_GET(kvm_regs, KVM_GET_REGS, get_regs)
FLOTILLA_VCPU_SET(kvm_regs, KVM_SET_REGS, set_regs)
FLOTILLA_VCPU_GET(kvm_sregs, KVM_GET_SREGS, get_sregs)
FLOTILLA_VCPU_SET(kvm_sregs, KVM_SET_SREGS, set_sregs)
FLOTILLA_VCPU_SET(kvm_fpu, KVM_SET_FPU, set_fpu)
FLOTILLA_VCPU_GET(kvm_lapic_state, KVM_GET_LAPIC, get_lapic)
FLOTILLA_VCPU_SET(kvm_lapic_state, KVM_SET_LAPIC, set_lapic)

#undef FLOTILLA_VCPU_GET
#undef FLOTILLA_VCPU_SET

// An 8-aligned buffer for the C-layout kvm_msrs header plus up to kMaxMsrs entries.
constexpr size_t kMaxMsrs = 64;
class MsrBuffer {
 public:
  explicit MsrBuffer(size_t n) : words_(std::make_unique<uint64_t[]>(1 + 2 * kMaxMsrs)) {
    header()->nmsrs = static_cast<uint32_t>(n);
  }
  // SAFETY: words_ is 8-aligned and holds the 8-byte header followed by kMaxMsrs entries.
  abi::MsrsHeader* header() { return reinterpret_cast<abi::MsrsHeader*>(words_.get()); }
  kvm_msr_entry* entries() { return reinterpret_cast<kvm_msr_entry*>(words_.get() + 1); }

 private:
  std::unique_ptr<uint64_t[]> words_;
};

VmmResult<void> VcpuFd::set_msrs(std::span<const MsrValue> msrs) {
  if (msrs.size() > kMaxMsrs) return vmm_fail(VmmErrc::kIoctl, "too many MSRs");
  MsrBuffer buf(msrs.size());
  for (size_t i = 0; i < msrs.size(); ++i) {
    buf.entries()[i].index = msrs[i].index;
    buf.entries()[i].data = msrs[i].value;
  }
  // SAFETY: KVM_SET_MSRS reads nmsrs entries that follow the header in the buffer.
  const int n = ::ioctl(fd_.get(), abi::kSetMsrs, buf.header());
  if (n < 0) return vmm_errno(VmmErrc::kIoctl, "KVM_SET_MSRS");
  if (static_cast<size_t>(n) != msrs.size()) {
    return vmm_fail(VmmErrc::kIoctl, "KVM_SET_MSRS refused MSR " +
                                         std::to_string(msrs[static_cast<size_t>(n)].index));
  }
  return {};
}

VmmResult<uint64_t> VcpuFd::get_msr(uint32_t index) const {
  MsrBuffer buf(1);
  buf.entries()[0].index = index;
  // SAFETY: KVM_GET_MSRS writes one entry that follows the header in the buffer.
  if (::ioctl(fd_.get(), abi::kGetMsrs, buf.header()) != 1) {
    return vmm_errno(VmmErrc::kIoctl, "KVM_GET_MSRS " + std::to_string(index));
  }
  return buf.entries()[0].data;
}

VmmResult<uint32_t> VcpuFd::get_mp_state() const {
  kvm_mp_state s{};
  // SAFETY: KVM_GET_MP_STATE writes one kvm_mp_state into s.
  if (::ioctl(fd_.get(), KVM_GET_MP_STATE, &s) < 0) {
    return vmm_errno(VmmErrc::kIoctl, "KVM_GET_MP_STATE");
  }
  return s.mp_state;
}

VmmResult<void> VcpuFd::set_mp_state(uint32_t state) {
  kvm_mp_state s{state};
  // SAFETY: KVM_SET_MP_STATE reads one kvm_mp_state from s.
  if (::ioctl(fd_.get(), KVM_SET_MP_STATE, &s) < 0) {
    return vmm_errno(VmmErrc::kIoctl, "KVM_SET_MP_STATE");
  }
  return {};
}

}  // namespace flotilla::vmm
