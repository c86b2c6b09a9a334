// Per-vCPU CPUID: KVM_GET_SUPPORTED_CPUID adjusted for one vCPU of a `vcpus`-CPU guest laid
// out as one package of `vcpus` cores with one thread each: the initial APIC id (leaf 1
// EBX[31:24], leaves 0xB/0x1F EDX), logical/core counts (leaves 1, 4, 0xB, 0x1F), the
// hypervisor bit (leaf 1 ECX[31]). The hypervisor leaves 0x40000000.. stay KVM's (Linux wants
// "KVMKVMKVM" for kvmclock); when KVM offers none, leaf 0x40000000 says "FlotillaVMM\0".
#pragma once

#include <linux/kvm.h>

#include <cstdint>
#include <vector>

namespace flotilla::vmm {

std::vector<kvm_cpuid_entry2> cpuid_for_vcpu(const std::vector<kvm_cpuid_entry2>& supported,
                                             uint32_t apic_id, uint32_t vcpus);

// Number of low x2APIC id bits needed for `count` ids (ceil(log2(count))).
uint32_t apic_id_shift(uint32_t count);

}  // namespace flotilla::vmm
