#include "vmm/arch/x86_64/cpuid.h"

#include <gtest/gtest.h>

#include <cstring>

namespace flotilla::vmm {
namespace {

kvm_cpuid_entry2 leaf(uint32_t f, uint32_t i, uint32_t a, uint32_t b, uint32_t c, uint32_t d) {
  kvm_cpuid_entry2 e{};
  e.function = f;
  e.index = i;
  e.eax = a;
  e.ebx = b;
  e.ecx = c;
  e.edx = d;
  return e;
}

const kvm_cpuid_entry2* find(const std::vector<kvm_cpuid_entry2>& v, uint32_t f, uint32_t i = 0) {
  for (const auto& e : v) {
    if (e.function == f && e.index == i) return &e;
  }
  return nullptr;
}

std::vector<kvm_cpuid_entry2> supported() {
  return {
      leaf(0, 0, 0x1c, 0, 0, 0),  leaf(1, 0, 0xa10f11, 0x00020800, 0x00202000, 0x078bfbff),
      leaf(4, 0, 0x121, 0, 0, 0), leaf(4, 1, 0x163, 0, 0, 0),
      leaf(0xb, 0, 0, 0, 0, 0),   leaf(0x40000000, 0, 0x40000001, 0x4b4d564b, 0x564b4d56, 0x4d)};
}

TEST(Cpuid, SetsApicIdCountsAndHypervisorBit) {
  auto v = cpuid_for_vcpu(supported(), 3, 4);
  const auto* l1 = find(v, 1);
  ASSERT_NE(l1, nullptr);
  EXPECT_EQ(l1->ebx >> 24, 3u);
  EXPECT_EQ((l1->ebx >> 16) & 0xff, 4u);
  EXPECT_EQ(l1->ebx & 0xffff, 0x0800u);  // CLFLUSH size kept
  EXPECT_TRUE(l1->ecx & (1u << 31));
  EXPECT_TRUE(l1->edx & (1u << 28));
  EXPECT_EQ(l1->eax, 0xa10f11u);
}

TEST(Cpuid, SingleCpuHasNoHtt) {
  auto v = cpuid_for_vcpu(supported(), 0, 1);
  EXPECT_FALSE(find(v, 1)->edx & (1u << 28));
  EXPECT_EQ(find(v, 1)->ebx >> 24, 0u);
}

TEST(Cpuid, TopologyLeafB) {
  auto v = cpuid_for_vcpu(supported(), 2, 3);
  const auto* smt = find(v, 0xb, 0);
  const auto* core = find(v, 0xb, 1);
  const auto* end = find(v, 0xb, 2);
  ASSERT_TRUE(smt && core && end);
  EXPECT_EQ(smt->edx, 2u);
  EXPECT_EQ(core->edx, 2u);
  EXPECT_EQ(smt->ebx, 1u);
  EXPECT_EQ((smt->ecx >> 8) & 0xff, 1u);
  EXPECT_EQ(core->ebx, 3u);
  EXPECT_EQ(core->eax, 2u);  // ceil(log2(3))
  EXPECT_EQ((core->ecx >> 8) & 0xff, 2u);
  EXPECT_EQ((end->ecx >> 8) & 0xff, 0u);
  EXPECT_TRUE(core->flags & KVM_CPUID_FLAG_SIGNIFCANT_INDEX);
  EXPECT_EQ(find(v, 0x1f), nullptr);  // max leaf 0x1c
}

TEST(Cpuid, CacheLeafCoreCounts) {
  auto v = cpuid_for_vcpu(supported(), 0, 4);
  EXPECT_EQ(find(v, 4, 0)->eax >> 26, 3u);
  EXPECT_EQ((find(v, 4, 0)->eax >> 14) & 0xfff, 0u);  // L1 per core
  EXPECT_EQ((find(v, 4, 1)->eax >> 14) & 0xfff, 3u);  // L3 shared by all
}

TEST(Cpuid, KeepsKvmSignatureOrAddsOurs) {
  auto v = cpuid_for_vcpu(supported(), 0, 1);
  EXPECT_EQ(find(v, 0x40000000)->ebx, 0x4b4d564bu);
  auto none = supported();
  none.pop_back();
  auto w = cpuid_for_vcpu(none, 0, 1);
  const auto* sig = find(w, 0x40000000);
  ASSERT_NE(sig, nullptr);
  char name[13] = {};
  std::memcpy(name, &sig->ebx, 4);
  std::memcpy(name + 4, &sig->ecx, 4);
  std::memcpy(name + 8, &sig->edx, 4);
  EXPECT_STREQ(name, "FlotillaVMM");
}

TEST(Cpuid, ApicIdShift) {
  EXPECT_EQ(apic_id_shift(1), 0u);
  EXPECT_EQ(apic_id_shift(2), 1u);
  EXPECT_EQ(apic_id_shift(4), 2u);
  EXPECT_EQ(apic_id_shift(5), 3u);
}

}  // namespace
}  // namespace flotilla::vmm
