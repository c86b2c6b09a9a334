// Initial vCPU state for a PVH boot (Xen PVH ABI): 32-bit protected mode, paging off, flat
// 4 GiB CS/DS/ES/SS/FS/GS, CR0 = PE|ET, EFLAGS = 2, EBX = start_info address, EIP = entry.
// Plus the per-vCPU CPUID, the MSRs every vCPU starts with, and for the BSP the LAPIC local
// interrupts (LINT0 ExtINT for the PIC, LINT1 NMI). APs are left in wait-for-SIPI; the guest
// starts them with INIT/SIPI.
#pragma once

#include <linux/kvm.h>

#include <cstdint>
#include <vector>

#include "vmm/kvm/error.h"
#include "vmm/kvm/vcpu_fd.h"

namespace flotilla::vmm {

constexpr uint32_t kMsrMiscEnable = 0x1a0;
constexpr uint64_t kMiscEnableFastStrings = 1;
constexpr uint32_t kMsrPat = 0x277;
constexpr uint64_t kPatDefault = 0x0007040600070406ULL;

// The MSRs each vCPU starts with (MISC_ENABLE fast strings, default PAT, SYSCALL/SYSENTER 0).
std::vector<MsrValue> initial_msrs();

// The protected-mode segment state for entry (pure, for tests).
void pvh_sregs(kvm_sregs& sregs);

// CPUID + MSRs for every vCPU; registers, segments, FPU and LAPIC LINTs for the BSP.
VmmResult<void> setup_vcpu(VcpuFd& vcpu, const std::vector<kvm_cpuid_entry2>& supported,
                           uint32_t vcpus, uint32_t entry, uint64_t start_info);

}  // namespace flotilla::vmm
