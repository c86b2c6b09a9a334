// VcpuFd: the owner of a KVM vCPU fd and its kvm_run mapping. Every vCPU-level ioctl the
// monitor needs. All calls except kick() must come from the vCPU's own thread once it runs
// (on PVM a vCPU ioctl from another thread blocks while the vCPU is inside KVM_RUN).
#pragma once

#include <linux/kvm.h>

#include <cstdint>
#include <span>
#include <utility>
#include <vector>

#include "common/unique_fd.h"
#include "vmm/kvm/error.h"

namespace flotilla::vmm {

struct MsrValue {
  uint32_t index;
  uint64_t value;
};

class VcpuFd {
 public:
  VcpuFd(UniqueFd fd, kvm_run* run, size_t run_size, uint32_t id)
      : fd_(std::move(fd)), run_(run), run_size_(run_size), id_(id) {}
  VcpuFd(VcpuFd&& o) noexcept;
  VcpuFd& operator=(VcpuFd&& o) noexcept;
  VcpuFd(const VcpuFd&) = delete;
  VcpuFd& operator=(const VcpuFd&) = delete;
  ~VcpuFd();

  uint32_t id() const { return id_; }
  kvm_run* run_struct() const { return run_; }

  // KVM_RUN: 0 on an exit to handle, else the errno (EINTR after a kick, EAGAIN once after
  // INIT/SIPI on an AP).
  int run();
  // Makes the next (or current, with a signal) KVM_RUN return EINTR. Any thread.
  void set_immediate_exit(bool on);

  VmmResult<void> set_cpuid(std::span<const kvm_cpuid_entry2> entries);
  VmmResult<kvm_regs> get_regs() const;
  VmmResult<void> set_regs(const kvm_regs& regs);
  VmmResult<kvm_sregs> get_sregs() const;
  VmmResult<void> set_sregs(const kvm_sregs& sregs);
  VmmResult<void> set_fpu(const kvm_fpu& fpu);
  VmmResult<void> set_msrs(std::span<const MsrValue> msrs);
  VmmResult<uint64_t> get_msr(uint32_t index) const;
  VmmResult<kvm_lapic_state> get_lapic() const;
  VmmResult<void> set_lapic(const kvm_lapic_state& lapic);
  VmmResult<uint32_t> get_mp_state() const;
  VmmResult<void> set_mp_state(uint32_t state);

 private:
  void unmap();
  UniqueFd fd_;
  kvm_run* run_ = nullptr;
  size_t run_size_ = 0;
  uint32_t id_ = 0;
};

}  // namespace flotilla::vmm
