#include "vmm/arch/x86_64/cpuid.h"

#include <algorithm>
#include <cstring>

namespace flotilla::vmm {
namespace {

constexpr uint32_t kLeafFeatures = 1;
constexpr uint32_t kLeafCache = 4;
constexpr uint32_t kLeafTopology = 0xb;
constexpr uint32_t kLeafTopologyV2 = 0x1f;
constexpr uint32_t kLeafHypervisor = 0x40000000;
constexpr uint32_t kHypervisorBit = 1u << 31;  // leaf 1 ECX
constexpr uint32_t kHttBit = 1u << 28;         // leaf 1 EDX
constexpr uint32_t kLevelSmt = 1, kLevelCore = 2;

void adjust_features(kvm_cpuid_entry2& e, uint32_t apic_id, uint32_t vcpus) {
  const uint32_t logical = std::min<uint32_t>(vcpus, 255);
  e.ebx = (e.ebx & 0x0000ffff) | (logical << 16) | ((apic_id & 0xff) << 24);
  e.ecx |= kHypervisorBit;
  if (vcpus > 1) e.edx |= kHttBit;
}

void adjust_cache(kvm_cpuid_entry2& e, uint32_t vcpus) {
  if ((e.eax & 0x1f) == 0) return;  // no cache at this index
  const uint32_t level = (e.eax >> 5) & 0x7;
  const uint32_t cores = std::min<uint32_t>(vcpus, 64) - 1;
  const uint32_t sharing = level >= 3 ? std::min<uint32_t>(vcpus, 4096) - 1 : 0;
  e.eax = (e.eax & 0x3fff) | (sharing << 14) | (cores << 26);
}

// Topology sub-leaf `index`: 0 = SMT (1 thread per core), 1 = core (vcpus per package).
void fill_topology(kvm_cpuid_entry2& e, uint32_t apic_id, uint32_t vcpus) {
  e.flags |= KVM_CPUID_FLAG_SIGNIFCANT_INDEX;
  e.edx = apic_id;
  if (e.index == 0) {
    e.eax = 0;
    e.ebx = 1;
    e.ecx = (kLevelSmt << 8) | 0;
  } else if (e.index == 1) {
    e.eax = apic_id_shift(vcpus);
    e.ebx = vcpus;
    e.ecx = (kLevelCore << 8) | 1;
  } else {
    e.eax = 0;
    e.ebx = 0;
    e.ecx = e.index;  // level type 0: invalid, ends the enumeration
  }
}

uint32_t max_basic_leaf(const std::vector<kvm_cpuid_entry2>& entries) {
  for (const auto& e : entries) {
    if (e.function == 0) return e.eax;
  }
  return 0;
}

void replace_topology_leaf(std::vector<kvm_cpuid_entry2>& out, uint32_t leaf, uint32_t apic_id,
                           uint32_t vcpus) {
  std::erase_if(out, [leaf](const kvm_cpuid_entry2& e) { return e.function == leaf; });
  for (uint32_t index = 0; index < 3; ++index) {
    kvm_cpuid_entry2 e{};
    e.function = leaf;
    e.index = index;
    fill_topology(e, apic_id, vcpus);
    out.push_back(e);
  }
}

void add_signature_if_missing(std::vector<kvm_cpuid_entry2>& out) {
  for (const auto& e : out) {
    if (e.function == kLeafHypervisor) return;
  }
  kvm_cpuid_entry2 e{};
  e.function = kLeafHypervisor;
  e.eax = kLeafHypervisor;  // highest hypervisor leaf
  std::memcpy(&e.ebx, "Flot", 4);
  std::memcpy(&e.ecx, "illa", 4);
  std::memcpy(&e.edx, "VMM\0", 4);
  out.push_back(e);
}

}  // namespace

uint32_t apic_id_shift(uint32_t count) {
  uint32_t shift = 0;
  while ((1u << shift) < count) ++shift;
  return shift;
}

std::vector<kvm_cpuid_entry2> cpuid_for_vcpu(const std::vector<kvm_cpuid_entry2>& supported,
                                             uint32_t apic_id, uint32_t vcpus) {
  std::vector<kvm_cpuid_entry2> out = supported;
  for (auto& e : out) {
    if (e.function == kLeafFeatures) adjust_features(e, apic_id, vcpus);
    if (e.function == kLeafCache) adjust_cache(e, vcpus);
  }
  const uint32_t max_leaf = max_basic_leaf(out);
  if (max_leaf >= kLeafTopology) replace_topology_leaf(out, kLeafTopology, apic_id, vcpus);
  if (max_leaf >= kLeafTopologyV2) replace_topology_leaf(out, kLeafTopologyV2, apic_id, vcpus);
  add_signature_if_missing(out);
  return out;
}

}  // namespace flotilla::vmm
