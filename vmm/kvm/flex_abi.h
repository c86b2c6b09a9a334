// C++ views of the KVM structs that end in a flexible array. This <linux/kvm.h> declares those
// arrays with __DECLARE_FLEX_ARRAY, which in C++ adds a 1-byte empty struct: sizeof(kvm_cpuid2)
// and sizeof(kvm_msrs) become 12 instead of 8, so the ioctl numbers derived from them
// (KVM_GET_SUPPORTED_CPUID, KVM_SET_CPUID2, KVM_GET_MSRS, KVM_SET_MSRS) and the entries'
// offset are wrong. The headers below have the C layout (nent/nmsrs + padding, entries at
// offset 8); the entry types still come from the system header.
#pragma once

#include <linux/kvm.h>
#include <sys/ioctl.h>

#include <cstdint>

namespace flotilla::vmm::abi {

struct Cpuid2Header {
  uint32_t nent;
  uint32_t padding;
  // kvm_cpuid_entry2 entries[nent] follow.
};
struct MsrsHeader {
  uint32_t nmsrs;
  uint32_t pad;
  // kvm_msr_entry entries[nmsrs] follow.
};
static_assert(sizeof(Cpuid2Header) == 8 && sizeof(MsrsHeader) == 8);
static_assert(sizeof(kvm_cpuid_entry2) == 40 && sizeof(kvm_msr_entry) == 16);

constexpr unsigned long kGetSupportedCpuid = _IOWR(KVMIO, 0x05, Cpuid2Header);
constexpr unsigned long kSetCpuid2 = _IOW(KVMIO, 0x90, Cpuid2Header);
constexpr unsigned long kGetMsrs = _IOWR(KVMIO, 0x88, MsrsHeader);
constexpr unsigned long kSetMsrs = _IOW(KVMIO, 0x89, MsrsHeader);

}  // namespace flotilla::vmm::abi
