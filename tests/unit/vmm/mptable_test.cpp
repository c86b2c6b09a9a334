#include "vmm/arch/x86_64/mptable.h"

#include <gtest/gtest.h>

#include <cstring>

namespace flotilla::vmm {
namespace {

struct Counts {
  int processors = 0, buses = 0, ioapics = 0, ioints = 0, lints = 0;
  int bsp = 0;
  std::vector<int> io_pins;
};

uint16_t u16(const std::vector<uint8_t>& b, size_t at) {
  return uint16_t(b[at] | b[at + 1] << 8);
}

Counts walk(const std::vector<uint8_t>& t) {
  Counts c;
  size_t at = 16 + 44;
  const uint16_t n = u16(t, 16 + 34);
  for (uint16_t i = 0; i < n; ++i) {
    switch (t[at]) {
      case 0:
        ++c.processors;
        c.bsp += (t[at + 3] & 2) ? 1 : 0;
        EXPECT_TRUE(t[at + 3] & 1);
        at += 20;
        break;
      case 1:
        ++c.buses;
        EXPECT_EQ(std::memcmp(&t[at + 2], "ISA   ", 6), 0);
        at += 8;
        break;
      case 2:
        ++c.ioapics;
        at += 8;
        break;
      case 3:
        ++c.ioints;
        c.io_pins.push_back(t[at + 7]);
        at += 8;
        break;
      case 4:
        ++c.lints;
        at += 8;
        break;
      default:
        ADD_FAILURE() << "bad entry type " << int(t[at]);
        return c;
    }
  }
  EXPECT_EQ(at, t.size());
  return c;
}

TEST(MpTable, ChecksumsAndHeaders) {
  for (uint32_t cpus : {1u, 2u, 4u, 64u}) {
    auto t = build_mptable(cpus, 0x9fc00, {16, 17});
    ASSERT_TRUE(t.ok());
    ASSERT_GE(t->size(), 60u);
    EXPECT_EQ(std::memcmp(t->data(), "_MP_", 4), 0);
    EXPECT_EQ(mp_checksum(t->data(), 16), 0);
    uint32_t physptr;
    std::memcpy(&physptr, t->data() + 4, 4);
    EXPECT_EQ(physptr, 0x9fc10u);
    EXPECT_EQ(std::memcmp(t->data() + 16, "PCMP", 4), 0);
    EXPECT_EQ(u16(*t, 16 + 4), t->size() - 16);
    EXPECT_EQ(mp_checksum(t->data() + 16, t->size() - 16), 0);
    uint32_t lapic;
    std::memcpy(&lapic, t->data() + 16 + 36, 4);
    EXPECT_EQ(lapic, 0xfee00000u);
  }
}

TEST(MpTable, DescribesCpusBusIoapicAndInterrupts) {
  auto t = build_mptable(4, 0x9fc00, {16, 17, 30});
  ASSERT_TRUE(t.ok());
  Counts c = walk(*t);
  EXPECT_EQ(c.processors, 4);
  EXPECT_EQ(c.bsp, 1);
  EXPECT_EQ(c.buses, 1);
  EXPECT_EQ(c.ioapics, 1);
  EXPECT_EQ(c.ioints, 16 + 2);  // GSI 30 has no pin on KVM's 24-pin IOAPIC
  EXPECT_EQ(c.lints, 2);
  for (int i = 0; i < 16; ++i) EXPECT_EQ(c.io_pins[static_cast<size_t>(i)], i);
  EXPECT_EQ(c.io_pins[16], 16);
  EXPECT_EQ(c.io_pins[17], 17);
}

TEST(MpTable, RefusesZeroOrTooManyCpus) {
  EXPECT_FALSE(build_mptable(0, 0x9fc00, {}).ok());
  EXPECT_FALSE(build_mptable(255, 0x9fc00, {}).ok());
}

TEST(MpTable, WritesIntoGuestMemory) {
  std::vector<uint8_t> ram(1 << 20);
  GuestMemoryView view({{0, ram.size(), ram.data()}});
  ASSERT_TRUE(write_mptable(view, 2, {16}).ok());
  EXPECT_EQ(std::memcmp(ram.data() + 0x9fc00, "_MP_", 4), 0);
  GuestMemoryView tiny({{0, 0x9fc00, ram.data()}});
  EXPECT_FALSE(write_mptable(tiny, 2, {}).ok());
}

}  // namespace
}  // namespace flotilla::vmm
