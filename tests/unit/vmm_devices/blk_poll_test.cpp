// Polling after a completion (VirtioBlockConfig::poll_us, VirtioDevice::poll_after_ns): the
// driver's refill is picked up without a notification, the driver is told not to notify while
// the device polls, a request finishing meanwhile ends the poll, the transport's registers
// stay reachable meanwhile (its mutex is released), and a reset in the middle of a poll is safe.
// Runs in both data-path modes (vmm_blk_test and vmm_blk_sync_test).
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstring>

#include "tests/unit/vmm_devices/blk_fixture.h"

namespace flotilla::vmm::virtio {
namespace {

using testing::BlkFixtureOptions;
using testing::BlkHarness;
using testing::wait_for;
using namespace std::chrono_literals;

constexpr uint64_t kD = BlkHarness::kData;
// Long enough that the test thread, however it is scheduled, publishes inside the window.
constexpr uint32_t kLongPollUs = 300'000;

// Completes one write in slot 0 (notified), so the device then polls for the refill.
void complete_one_write(BlkHarness& h) {
  std::memset(h.ram.at(kD), 0x3c, 4096);
  ASSERT_EQ(h.request(VIRTIO_BLK_T_OUT, 0, kD, 4096).status, VIRTIO_BLK_S_OK);
}

// Publishes a read of sector 0 in slot 1 without notifying; returns the used index it makes.
uint16_t publish_read_unnotified(BlkHarness& h) {
  const auto want = static_cast<uint16_t>(h.vq->used_idx() + 1);
  h.vq->publish(h.prepare(1, VIRTIO_BLK_T_IN, 0, kD + (1 << 20), 4096, true));
  return want;
}

TEST(VirtioBlockPolling, TheRefillIsServedWithoutANotification) {
  BlkHarness h({.poll_us = kLongPollUs});
  h.bring_up();
  complete_one_write(h);
  // While the device polls, the driver is told not to notify (EVENT_IDX: avail_event behind
  // what the device has taken).
  EXPECT_TRUE(wait_for(
      [&] { return h.vq->avail_event() == static_cast<uint16_t>(h.vq->used_idx() - 1); }, 1000ms));
  const uint16_t want = publish_read_unnotified(h);
  ASSERT_TRUE(wait_for([&] { return h.vq->used_idx() == want; }, 2000ms));
  EXPECT_EQ(h.ram.get<uint8_t>(BlkHarness::kStatus + 1), VIRTIO_BLK_S_OK);
  EXPECT_EQ(std::memcmp(h.ram.at(kD), h.ram.at(kD + (1 << 20)), 4096), 0);
  EXPECT_GE(h.transport->metrics().polled_passes, 1u);
}

TEST(VirtioBlockPolling, WithoutPollingAnUnnotifiedRefillWaitsForItsNotification) {
  BlkHarness h({.poll_us = 0});
  h.bring_up();
  complete_one_write(h);
  // Notifications are on: the driver must notify for the next request.
  EXPECT_TRUE(wait_for([&] { return h.vq->avail_event() == h.vq->used_idx(); }, 1000ms));
  const uint16_t want = publish_read_unnotified(h);
  EXPECT_FALSE(wait_for([&] { return h.vq->used_idx() == want; }, 100ms));
  h.driver->notify_ioeventfd(0);
  ASSERT_TRUE(wait_for([&] { return h.vq->used_idx() == want; }, 2000ms));
  EXPECT_EQ(h.transport->metrics().polled_passes, 0u);
}

TEST(VirtioBlockPolling, NotificationsComeBackWhenThePollEndsEmpty) {
  BlkHarness h({.poll_us = 20'000});
  h.bring_up();
  complete_one_write(h);
  // After 20 ms with nothing published the device sleeps and wants a notification again.
  ASSERT_TRUE(wait_for([&] { return h.vq->avail_event() == h.vq->used_idx(); }, 2000ms));
  const uint16_t want = publish_read_unnotified(h);
  h.driver->notify_ioeventfd(0);
  ASSERT_TRUE(wait_for([&] { return h.vq->used_idx() == want; }, 2000ms));
}

TEST(VirtioBlockPolling, AFinishedRequestEndsThePollAtOnce) {
  BlkHarness h({.poll_us = kLongPollUs});
  h.bring_up();
  // A read (quick) and a flush (fdatasync on a worker: milliseconds), published together: the
  // first to finish is returned and starts a 300 ms poll; the other's completion must end
  // that poll rather than wait it out.
  complete_one_write(h);
  ASSERT_TRUE(wait_for([&] { return h.vq->avail_event() == h.vq->used_idx(); }, 2000ms));
  const auto want = static_cast<uint16_t>(h.vq->used_idx() + 2);
  h.vq->publish(h.prepare(1, VIRTIO_BLK_T_IN, 0, kD + (1 << 20), 4096, true));
  h.vq->publish(h.prepare(2, VIRTIO_BLK_T_FLUSH, 0, 0, 0, false));
  const auto t0 = std::chrono::steady_clock::now();
  h.driver->notify_ioeventfd(0);
  ASSERT_TRUE(wait_for([&] { return h.vq->used_idx() == want; }, 2000ms));
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 150ms);
  EXPECT_EQ(h.ram.get<uint8_t>(BlkHarness::kStatus + 1), VIRTIO_BLK_S_OK);
  EXPECT_EQ(h.ram.get<uint8_t>(BlkHarness::kStatus + 2), VIRTIO_BLK_S_OK);
}

// A driver that refills at once and notifies only when EVENT_IDX says the device wants it
// (virtio 1.x 2.7.10, vring_need_event): a stream of refills keeps the device polling, and
// the loop thread must still get back to its other work (every device shares it).
TEST(VirtioBlockPolling, AStreamOfRefillsLeavesTheLoopThreadToTheOtherDevices) {
  BlkHarness h({.poll_us = kLongPollUs});
  h.bring_up();
  complete_one_write(h);
  std::atomic<bool> other_work_ran{false};
  int refills_before = -1;
  for (int i = 0; i < 40; ++i) {
    const uint16_t old_idx = h.vq->avail_idx();
    const uint16_t want = publish_read_unnotified(h);
    const auto new_idx = static_cast<uint16_t>(old_idx + 1);
    const uint16_t event = h.vq->avail_event();
    if (static_cast<uint16_t>(new_idx - event - 1) < static_cast<uint16_t>(new_idx - old_idx)) {
      h.driver->notify_ioeventfd(0);
    }
    ASSERT_TRUE(wait_for([&] { return h.vq->used_idx() == want; }, 2000ms)) << "refill " << i;
    if (i == 1) h.loop->post([&] { other_work_ran = true; });
    if (i > 1 && refills_before < 0 && other_work_ran) refills_before = i;
  }
  EXPECT_TRUE(other_work_ran);
  // MmioTransport::kMaxPassesPerWakeup passes at most, then the loop's other fds.
  EXPECT_GE(refills_before, 0);
  EXPECT_LE(refills_before, 2 + static_cast<int>(MmioTransport::kMaxPassesPerWakeup));
}

TEST(VirtioBlockPolling, RegistersStayReachableAndResetIsSafeDuringAPoll) {
  BlkHarness h({.poll_us = kLongPollUs});
  h.bring_up();
  complete_one_write(h);
  // The device thread is spinning now, for up to 300 ms; a vCPU's register access and a reset
  // must not wait for it.
  const auto t0 = std::chrono::steady_clock::now();
  EXPECT_NE(h.driver->r(VIRTIO_MMIO_STATUS) & VIRTIO_CONFIG_S_DRIVER_OK, 0u);
  h.driver->w(VIRTIO_MMIO_STATUS, 0);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 100ms);
  EXPECT_FALSE(h.block->activated());
  // Up again while the old poll may still be spinning on the old ring's index.
  std::memset(h.ram.at(0x1000), 0, 0x9000);
  h.vq = std::make_unique<testing::VirtqDriver>(
      h.ram, testing::VirtqLayout{.size = 64, .desc = 0x1000, .avail = 0x6000, .used = 0x8000});
  h.bring_up();
  std::memset(h.ram.at(kD), 0x5a, 4096);
  ASSERT_EQ(h.request(VIRTIO_BLK_T_OUT, 8, kD, 4096).status, VIRTIO_BLK_S_OK);
  auto r = h.request(VIRTIO_BLK_T_IN, 8, kD + (1 << 20), 4096, 1);
  ASSERT_EQ(r.status, VIRTIO_BLK_S_OK);
  EXPECT_EQ(std::memcmp(h.ram.at(kD), h.ram.at(kD + (1 << 20)), 4096), 0);
}

}  // namespace
}  // namespace flotilla::vmm::virtio
