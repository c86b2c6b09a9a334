// Randomised hostile rings (fixed seeds, so failures reproduce): whatever the driver writes,
// pop() never hands out a buffer outside guest RAM, never loops, and add_used() stays in the
// used ring. Run under the asan preset this also checks for out-of-bounds host accesses.
#include <gtest/gtest.h>

#include <random>

#include "tests/unit/vmm_devices/virtq_driver.h"
#include "vmm/virtio/queue.h"

namespace flotilla::vmm::virtio {
namespace {

constexpr uint64_t kBase = 0x100000;  // RAM does not start at 0, to catch base arithmetic
constexpr uint64_t kSize = 64ULL * 1024;

uint64_t random_addr(std::mt19937_64& rng) {
  switch (rng() % 4) {
    case 0:
      return kBase + rng() % kSize;  // inside
    case 1:
      return kBase + kSize - rng() % 64;  // near the end
    case 2:
      return rng();  // anywhere
    default:
      return kBase - 1 - rng() % 64;  // just below
  }
}

TEST(QueueRandom, HostileRingsNeverEscapeGuestRam) {
  testing::GuestRam ram(kBase, kSize);
  std::mt19937_64 rng(0xf107111a);
  const auto view = ram.view();
  const uint8_t* lo = ram.at(kBase);
  const uint8_t* hi = lo + kSize;
  uint64_t chains = 0, errors = 0;
  for (int round = 0; round < 3000; ++round) {
    const uint16_t size = static_cast<uint16_t>(1u << (rng() % 7));  // 1..64
    testing::VirtqLayout l{size, kBase + 0x1000, kBase + 0x2000, kBase + 0x3000};
    testing::VirtqDriver drv(ram, l);
    for (uint16_t i = 0; i < size; ++i) {
      const uint16_t flags = static_cast<uint16_t>(rng() % 8);
      const uint32_t len = rng() % 3 == 0 ? static_cast<uint32_t>(rng()) : rng() % 256;
      drv.set_desc(i, random_addr(rng), len, flags, static_cast<uint16_t>(rng() % (size + 2)));
    }
    // Indirect tables somewhere in RAM, filled with the same kind of garbage.
    for (uint64_t off = 0x8000; off < 0x9000; off += 16) {
      const uint64_t addr = rng() % 2 ? random_addr(rng) : kBase + 0x8000 + (rng() % 256) * 16;
      ram.put(kBase + off,
              vring_desc{addr, static_cast<uint32_t>(rng() % 512), static_cast<uint16_t>(rng() % 8),
                         static_cast<uint16_t>(rng() % 300)});
    }
    for (uint16_t i = 0; i < size; ++i) {
      ram.put<uint16_t>(l.avail + 4 + 2ULL * i, static_cast<uint16_t>(rng() % (size + 1)));
    }
    drv.set_avail_idx(static_cast<uint16_t>(rng() % 4 == 0 ? rng() : rng() % (size + 1)));

    Queue q(64);
    q.set_size(size);
    q.set_desc_table(l.desc);
    q.set_avail_ring(l.avail);
    q.set_used_ring(l.used);
    q.set_ready(true);
    q.set_features(rng() % 2, rng() % 2);
    ASSERT_TRUE(q.activate(view));
    for (int pops = 0; pops < size + 2; ++pops) {
      auto r = q.pop(view);
      if (!r) {
        ++errors;
        if (r.error().ring_broken()) break;
        ASSERT_LT(r.error().head, size);
        ASSERT_TRUE(q.add_used(r.error().head, 0));
        continue;
      }
      if (!r->has_value()) break;
      ++chains;
      const DescriptorChain& c = **r;
      ASSERT_LT(c.head, size);
      ASSERT_LE(c.descriptors.size(), size + Queue::kMaxSize);
      for (const auto& d : c.descriptors) {
        if (d.len == 0) continue;
        ASSERT_GE(d.host, lo);
        ASSERT_LE(d.host + d.len, hi);
        ASSERT_EQ(d.host, ram.at(d.addr));
      }
      ASSERT_TRUE(q.add_used(c.head, static_cast<uint32_t>(c.writable_bytes)));
    }
    (void)q.needs_notification();
    (void)q.enable_notification();
  }
  // The generator must exercise both outcomes, or this test proves nothing.
  EXPECT_GT(chains, 100u);
  EXPECT_GT(errors, 100u);
}

}  // namespace
}  // namespace flotilla::vmm::virtio
