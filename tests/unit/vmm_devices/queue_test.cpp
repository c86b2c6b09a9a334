#include "vmm/virtio/queue.h"

#include <gtest/gtest.h>

#include "tests/unit/vmm_devices/virtq_driver.h"

namespace flotilla::vmm::virtio {
namespace {

using testing::GuestRam;
using testing::VirtqDriver;
using testing::VirtqLayout;

constexpr uint64_t kRamSize = 1 << 20;
constexpr uint16_t kW = VRING_DESC_F_WRITE;
constexpr uint16_t kN = VRING_DESC_F_NEXT;
constexpr uint16_t kI = VRING_DESC_F_INDIRECT;

class QueueTest : public ::testing::Test {
 protected:
  QueueTest() : ram(0, kRamSize), driver(ram, VirtqLayout{}), queue(256) { configure(queue); }
  void configure(Queue& q, uint16_t size = 16) {
    q.set_size(size);
    q.set_desc_table(driver.layout().desc);
    q.set_avail_ring(driver.layout().avail);
    q.set_used_ring(driver.layout().used);
    q.set_ready(true);
  }
  QueueError pop_error() {
    auto r = queue.pop(ram.view());
    EXPECT_FALSE(r.ok());
    return r.ok() ? QueueError{} : r.error();
  }
  DescriptorChain pop_chain() {
    auto r = queue.pop(ram.view());
    EXPECT_TRUE(r.ok()) << (r.ok() ? "" : describe(r.error().kind));
    if (!r.ok() || !r->has_value()) {
      ADD_FAILURE() << "no chain";
      return {};
    }
    return std::move(**r);
  }

  GuestRam ram;
  VirtqDriver driver;
  Queue queue;
};

TEST_F(QueueTest, ActivateChecksSizeAlignmentAndPlacement) {
  Queue q(256);
  EXPECT_FALSE(q.activate(ram.view()));  // not ready
  for (uint16_t bad : {0, 3, 100, 512}) {
    configure(q, bad);
    EXPECT_FALSE(q.activate(ram.view())) << bad;
  }
  configure(q);
  q.set_desc_table(0x1008);  // not 16-aligned
  EXPECT_FALSE(q.activate(ram.view()));
  configure(q);
  q.set_used_ring(0x3002);  // not 4-aligned
  EXPECT_FALSE(q.activate(ram.view()));
  configure(q);
  q.set_avail_ring(kRamSize - 8);  // runs off the end of RAM
  EXPECT_FALSE(q.activate(ram.view()));
  configure(q);
  q.set_used_ring(~0ULL - 3);
  EXPECT_FALSE(q.activate(ram.view()));
  configure(q);
  EXPECT_TRUE(q.activate(ram.view()));
  EXPECT_EQ(Queue(300).max_size(), 256);  // bad max sizes fall back to 256
  EXPECT_EQ(Queue(1024).max_size(), 1024);
}

TEST_F(QueueTest, PopsAChainAndReturnsItUsed) {
  ASSERT_TRUE(queue.activate(ram.view()));
  auto empty = queue.pop(ram.view());
  ASSERT_TRUE(empty.ok());
  EXPECT_FALSE(empty->has_value());
  driver.set_desc(3, 0x10000, 100, kN, 7);
  driver.set_desc(7, 0x20000, 50, kN | kW, 5);
  driver.set_desc(5, 0x30000, 20, kW);
  driver.publish(3);
  EXPECT_EQ(queue.available(), 1);
  DescriptorChain c = pop_chain();
  EXPECT_EQ(c.head, 3);
  ASSERT_EQ(c.descriptors.size(), 3u);
  EXPECT_EQ(c.readable_bytes, 100u);
  EXPECT_EQ(c.writable_bytes, 70u);
  EXPECT_FALSE(c.descriptors[0].device_writable);
  EXPECT_TRUE(c.descriptors[1].device_writable);
  EXPECT_EQ(c.descriptors[1].host, ram.at(0x20000));
  EXPECT_EQ(queue.available(), 0);
  EXPECT_TRUE(queue.add_used(3, 70));
  EXPECT_EQ(driver.used_idx(), 1);
  EXPECT_EQ(driver.used_elem(0).id, 3u);
  EXPECT_EQ(driver.used_elem(0).len, 70u);
  EXPECT_FALSE(queue.add_used(16, 0));  // head out of range: nothing written
  EXPECT_EQ(driver.used_idx(), 1);
}

TEST_F(QueueTest, AvailIndexJumpingPastTheSizeBreaksTheRing) {
  ASSERT_TRUE(queue.activate(ram.view()));
  driver.set_avail_idx(17);
  QueueError e = pop_error();
  EXPECT_EQ(e.kind, QueueErrorKind::kAvailIdxJump);
  EXPECT_TRUE(e.ring_broken());
  EXPECT_EQ(queue.next_avail(), 0);
  EXPECT_EQ(queue.available(), 0);
  driver.set_avail_idx(0xffff);  // "behind" the device is a jump too
  EXPECT_EQ(pop_error().kind, QueueErrorKind::kAvailIdxJump);
}

TEST_F(QueueTest, HeadOutOfRangeBreaksTheRing) {
  ASSERT_TRUE(queue.activate(ram.view()));
  driver.publish(16);
  QueueError e = pop_error();
  EXPECT_EQ(e.kind, QueueErrorKind::kHeadOutOfRange);
  EXPECT_TRUE(e.ring_broken());
}

TEST_F(QueueTest, BadChainsAreConsumedWithTheirHead) {
  ASSERT_TRUE(queue.activate(ram.view()));
  driver.set_desc(0, 0x10000, 8, kN, 16);  // next out of range
  driver.publish(0);
  QueueError e = pop_error();
  EXPECT_EQ(e.kind, QueueErrorKind::kNextOutOfRange);
  EXPECT_FALSE(e.ring_broken());
  EXPECT_EQ(e.head, 0);
  EXPECT_EQ(queue.next_avail(), 1);
  EXPECT_TRUE(queue.add_used(e.head, 0));
}

TEST_F(QueueTest, LoopsAreCaughtByTheChainLengthCap) {
  ASSERT_TRUE(queue.activate(ram.view()));
  driver.set_desc(0, 0x10000, 8, kN, 1);
  driver.set_desc(1, 0x10000, 8, kN, 0);
  driver.publish(0);
  EXPECT_EQ(pop_error().kind, QueueErrorKind::kChainTooLong);
  driver.set_desc(2, 0x10000, 8, kN, 2);  // self loop
  driver.publish(2);
  EXPECT_EQ(pop_error().kind, QueueErrorKind::kChainTooLong);
  // A chain of exactly size() descriptors is fine.
  for (uint16_t i = 0; i < 15; ++i) driver.set_desc(i, 0x10000, 1, kN, i + 1);
  driver.set_desc(15, 0x10000, 1, 0);
  driver.publish(0);
  EXPECT_EQ(pop_chain().descriptors.size(), 16u);
}

TEST_F(QueueTest, AddressesAndLengthsMustStayInsideRam) {
  ASSERT_TRUE(queue.activate(ram.view()));
  const std::pair<uint64_t, uint32_t> bad[] = {
      {kRamSize, 1},            // just past the end
      {kRamSize - 4, 8},        // straddles the end
      {~0ULL - 15, 32},         // wraps around 2^64
      {0x10000, 0xffffffff},    // huge length
      {0xdead00000000ULL, 16},  // nowhere
  };
  for (auto [addr, len] : bad) {
    driver.set_desc(0, addr, len, kW);
    driver.publish(0);
    QueueError e = pop_error();
    EXPECT_EQ(e.kind, QueueErrorKind::kAddressOutOfRange) << std::hex << addr;
    EXPECT_FALSE(e.ring_broken());
  }
  driver.set_desc(0, kRamSize - 8, 8, kW);  // the last 8 bytes are fine
  driver.publish(0);
  EXPECT_EQ(pop_chain().writable_bytes, 8u);
}

TEST_F(QueueTest, ReadableAfterWritableIsRefused) {
  ASSERT_TRUE(queue.activate(ram.view()));
  driver.set_desc(0, 0x10000, 8, kW | kN, 1);
  driver.set_desc(1, 0x11000, 8, 0);
  driver.publish(0);
  EXPECT_EQ(pop_error().kind, QueueErrorKind::kReadableAfterWritable);
}

TEST_F(QueueTest, IndirectTables) {
  ASSERT_TRUE(queue.activate(ram.view()));
  // The table at 0x40000: readable 16 bytes, then writable 32 bytes.
  ram.put(0x40000, vring_desc{0x50000, 16, kN, 1});
  ram.put(0x40010, vring_desc{0x51000, 32, kW, 0});
  driver.set_desc(0, 0x40000, 32, kI);
  driver.publish(0);
  EXPECT_EQ(pop_error().kind, QueueErrorKind::kIndirectNotNegotiated);

  queue.set_features(false, true);
  driver.publish(0);
  DescriptorChain c = pop_chain();
  ASSERT_EQ(c.descriptors.size(), 2u);
  EXPECT_EQ(c.readable_bytes, 16u);
  EXPECT_EQ(c.writable_bytes, 32u);
  // A direct readable descriptor may precede the indirect one.
  driver.set_desc(1, 0x60000, 4, kN, 0);
  driver.publish(1);
  EXPECT_EQ(pop_chain().descriptors.size(), 3u);
}

TEST_F(QueueTest, HostileIndirectTables) {
  queue.set_features(false, true);
  ASSERT_TRUE(queue.activate(ram.view()));
  auto expect = [&](QueueErrorKind kind) {
    driver.publish(0);
    QueueError e = pop_error();
    EXPECT_EQ(e.kind, kind) << describe(kind);
    EXPECT_FALSE(e.ring_broken());
  };
  driver.set_desc(0, 0x40000, 0, kI);
  expect(QueueErrorKind::kIndirectBadLength);
  driver.set_desc(0, 0x40000, 17, kI);
  expect(QueueErrorKind::kIndirectBadLength);
  driver.set_desc(0, 0x40000, 16 * 2048, kI);  // more than 1024 entries
  expect(QueueErrorKind::kIndirectBadLength);
  driver.set_desc(0, kRamSize - 16, 32, kI);
  expect(QueueErrorKind::kAddressOutOfRange);
  driver.set_desc(0, 0x40000, 32, kI | kN, 1);
  expect(QueueErrorKind::kIndirectWithNext);
  // Indirect inside indirect.
  ram.put(0x40000, vring_desc{0x41000, 16, kI, 0});
  driver.set_desc(0, 0x40000, 16, kI);
  expect(QueueErrorKind::kIndirectNested);
  // A loop inside the table.
  ram.put(0x40000, vring_desc{0x50000, 8, kN, 1});
  ram.put(0x40010, vring_desc{0x50000, 8, kN, 0});
  driver.set_desc(0, 0x40000, 32, kI);
  expect(QueueErrorKind::kChainTooLong);
  // next past the table's end.
  ram.put(0x40010, vring_desc{0x50000, 8, kN, 2});
  expect(QueueErrorKind::kNextOutOfRange);
  // A buffer in the table outside RAM.
  ram.put(0x40010, vring_desc{kRamSize, 8, kW, 0});
  expect(QueueErrorKind::kAddressOutOfRange);
}

TEST_F(QueueTest, NoInterruptFlagWithoutEventIdx) {
  ASSERT_TRUE(queue.activate(ram.view()));
  EXPECT_FALSE(queue.needs_notification());  // nothing used yet
  driver.set_desc(0, 0x10000, 8, kW);
  driver.publish(0);
  (void)pop_chain();
  queue.add_used(0, 8);
  EXPECT_TRUE(queue.needs_notification());
  EXPECT_FALSE(queue.needs_notification());  // already signalled
  driver.set_avail_flags(VRING_AVAIL_F_NO_INTERRUPT);
  driver.publish(0);
  (void)pop_chain();
  queue.add_used(0, 8);
  EXPECT_FALSE(queue.needs_notification());
}

TEST_F(QueueTest, EventIdxSuppressesBothWays) {
  queue.set_features(true, false);
  ASSERT_TRUE(queue.activate(ram.view()));
  driver.set_desc(0, 0x10000, 8, kW);
  // The driver wants an interrupt only once the used index passes 2 (used_event = 2).
  driver.set_used_event(2);
  for (int i = 0; i < 4; ++i) driver.publish(0);
  bool wanted[4];
  for (int i = 0; i < 4; ++i) {
    (void)pop_chain();
    queue.add_used(0, 8);
    wanted[i] = queue.needs_notification();
  }
  EXPECT_FALSE(wanted[0]);
  EXPECT_FALSE(wanted[1]);
  EXPECT_TRUE(wanted[2]);  // used idx went 2 → 3
  EXPECT_FALSE(wanted[3]);
  // avail_event tells the driver where the device is; new work after it is reported.
  EXPECT_FALSE(queue.enable_notification());
  EXPECT_EQ(driver.avail_event(), 4);
  driver.publish(0);
  EXPECT_TRUE(queue.enable_notification());
}

TEST_F(QueueTest, IndicesWrapAt65536) {
  QueueState s = queue.state();
  s.size = 16;
  s.ready = true;
  s.desc_table = 0x1000;
  s.avail_ring = 0x2000;
  s.used_ring = 0x3000;
  s.next_avail = 0xfffe;
  s.next_used = 0xfffe;
  queue.restore(s);
  ASSERT_TRUE(queue.activate(ram.view()));
  driver.set_avail_idx(0xfffe);
  ram.put<uint16_t>(0x3002, 0xfffe);
  driver.set_desc(0, 0x10000, 8, kW);
  for (int i = 0; i < 4; ++i) {
    driver.publish(0);
    DescriptorChain c = pop_chain();
    EXPECT_EQ(c.head, 0);
    EXPECT_TRUE(queue.add_used(0, 8));
  }
  EXPECT_EQ(queue.next_avail(), 2);
  EXPECT_EQ(driver.used_idx(), 2);
  EXPECT_EQ(queue.state().next_used, 2);
}

TEST_F(QueueTest, ResetForgetsEverything) {
  ASSERT_TRUE(queue.activate(ram.view()));
  queue.reset();
  EXPECT_FALSE(queue.active());
  EXPECT_FALSE(queue.ready());
  EXPECT_EQ(queue.size(), 0);
  EXPECT_EQ(queue.max_size(), 256);
  EXPECT_FALSE(queue.pop(ram.view()).ok());
  EXPECT_FALSE(queue.add_used(0, 0));
}

}  // namespace
}  // namespace flotilla::vmm::virtio
