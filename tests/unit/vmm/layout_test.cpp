#include "vmm/memory/layout.h"

#include <gtest/gtest.h>

#include "vmm/arch/x86_64/start_info.h"

namespace flotilla::vmm {
namespace {

using namespace layout;

uint64_t usable(const MemoryLayout& l) {
  uint64_t n = 0;
  for (const auto& e : l.e820) n += e.type == E820Type::kRam ? e.size : 0;
  return n;
}

TEST(Layout, SmallGuest) {
  auto l = compute_layout(128 * kMiB);
  ASSERT_TRUE(l.ok());
  ASSERT_EQ(l->slots.size(), 1u);
  EXPECT_EQ(l->slots[0].gpa, 0u);
  EXPECT_EQ(l->slots[0].size, 128 * kMiB);
  ASSERT_EQ(l->e820.size(), 3u);
  EXPECT_EQ(l->e820[0].addr, 0u);
  EXPECT_EQ(l->e820[0].size, 0x9fc00u);
  EXPECT_EQ(l->e820[1].type, E820Type::kReserved);
  EXPECT_EQ(l->e820[1].addr, 0x9fc00u);
  EXPECT_EQ(l->e820[1].addr + l->e820[1].size, 0x100000u);
  EXPECT_EQ(l->e820[2].addr, 0x100000u);
  EXPECT_EQ(l->e820[2].addr + l->e820[2].size, 128 * kMiB);
  EXPECT_TRUE(e820_is_valid(l->e820));
  EXPECT_EQ(usable(*l), 128 * kMiB - (0x100000 - 0x9fc00));
}

TEST(Layout, ExactlyThreeGiBHasNoHighRam) {
  auto l = compute_layout(3 * kGiB);
  ASSERT_TRUE(l.ok());
  EXPECT_EQ(l->slots.size(), 1u);
  EXPECT_EQ(l->e820.back().addr + l->e820.back().size, 3 * kGiB);
}

TEST(Layout, LargeGuestSkipsTheHole) {
  auto l = compute_layout(6 * kGiB);
  ASSERT_TRUE(l.ok());
  ASSERT_EQ(l->slots.size(), 2u);
  EXPECT_EQ(l->slots[0].size, 3 * kGiB);
  EXPECT_EQ(l->slots[1].gpa, 4 * kGiB);
  EXPECT_EQ(l->slots[1].size, 3 * kGiB);
  EXPECT_EQ(l->slots[1].offset, 3 * kGiB);
  ASSERT_EQ(l->e820.size(), 4u);
  EXPECT_EQ(l->e820[2].addr + l->e820[2].size, 3 * kGiB);
  EXPECT_EQ(l->e820[3].addr, 4 * kGiB);
  EXPECT_EQ(l->e820[3].size, 3 * kGiB);
  EXPECT_TRUE(e820_is_valid(l->e820));
  // Nothing the VMM places in the hole overlaps RAM.
  for (uint64_t a : {kVirtioBase, kIoapic, kLapic, kIdentityMap, kTss}) {
    for (const auto& s : l->slots) EXPECT_FALSE(a >= s.gpa && a < s.gpa + s.size) << a;
  }
}

TEST(Layout, RefusesTinyOrUnalignedSizes) {
  EXPECT_FALSE(compute_layout(0).ok());
  EXPECT_FALSE(compute_layout(1 * kMiB).ok());
  EXPECT_FALSE(compute_layout(64 * kMiB + 1).ok());
}

TEST(Layout, OverlapsAreDetected) {
  EXPECT_FALSE(e820_is_valid({{0, 0x2000, E820Type::kRam}, {0x1000, 0x1000, E820Type::kRam}}));
  EXPECT_FALSE(e820_is_valid({{0, 0, E820Type::kRam}}));
  EXPECT_TRUE(e820_is_valid({{0, 0x1000, E820Type::kRam}, {0x1000, 0x1000, E820Type::kRam}}));
}

TEST(StartInfo, WritesStructMemmapAndCmdline) {
  auto l = compute_layout(5 * kGiB).value();
  std::vector<uint8_t> low(2 * kMiB);
  GuestMemoryView view({{0, low.size(), low.data()}});
  auto addr = write_start_info(view, l, "console=ttyS0 hello");
  ASSERT_TRUE(addr.ok());
  EXPECT_EQ(*addr, 0x6000u);
  auto info = view.read_obj<HvmStartInfo>(0x6000).value();
  EXPECT_EQ(info.magic, 0x336ec578u);
  EXPECT_EQ(info.version, 1u);
  EXPECT_EQ(info.cmdline_paddr, 0x7000u);
  EXPECT_EQ(info.memmap_entries, 4u);
  EXPECT_EQ(info.memmap_paddr, 0x6000u + sizeof(HvmStartInfo));
  auto last = view.read_obj<HvmMemmapEntry>(info.memmap_paddr + 3 * sizeof(HvmMemmapEntry));
  EXPECT_EQ(last->addr, 4 * kGiB);
  EXPECT_EQ(last->size, 2 * kGiB);
  EXPECT_EQ(last->type, 1u);
  EXPECT_STREQ(reinterpret_cast<const char*>(low.data() + 0x7000), "console=ttyS0 hello");
  EXPECT_FALSE(write_start_info(view, l, std::string(2049, 'x')).ok());
  EXPECT_TRUE(write_start_info(view, l, std::string(2048, 'x')).ok());
}

}  // namespace
}  // namespace flotilla::vmm
