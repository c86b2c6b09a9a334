#include "vmm/virtio/mmio_transport.h"

#include <gtest/gtest.h>
#include <linux/virtio_ids.h>

#include <chrono>
#include <future>
#include <random>
#include <thread>

#include "tests/unit/vmm_devices/mmio_driver.h"
#include "vmm/devices/virtio/rng/rng.h"

namespace flotilla::vmm::virtio {
namespace {

using testing::GuestRam;
using testing::MmioDriver;
using testing::RecordingLine;
using testing::VirtqDriver;
using testing::VirtqLayout;
using testing::wait_for;

constexpr uint64_t kVersion1 = 1ULL << VIRTIO_F_VERSION_1;
constexpr uint64_t kAllFeatures = ~0ULL;

// A pure-logic device for the transport's own tests: two queues, 8 bytes of config space,
// counts what the transport asks of it and returns every chain used with length 0.
class CountingDevice : public VirtioDevice {
 public:
  uint32_t device_type() const override { return 0x1234; }
  uint64_t device_features() const override { return 1ULL << 5; }
  std::vector<uint16_t> queue_max_sizes() const override { return {64, 16}; }
  void read_config(uint64_t offset, std::span<uint8_t> data) const override {
    for (size_t i = 0; i < data.size(); ++i) {
      data[i] = offset + i < config.size() ? config[offset + i] : 0;
    }
  }
  void write_config(uint64_t offset, std::span<const uint8_t> data) override {
    for (size_t i = 0; i < data.size(); ++i) {
      if (offset + i < config.size()) config[offset + i] = data[i];
    }
  }
  void set_acked_features(uint64_t f) override { acked = f; }
  Result<void, VirtioError> activate(const GuestMemoryView& m, std::span<Queue> q,
                                     VirtioInterrupt& irq) override {
    if (!q[0].active()) return fail(VirtioError{VirtioErrorCode::kQueueInvalid, "queue 0"});
    memory = m;
    queues = q;
    interrupt = &irq;
    ++activations;
    return {};
  }
  void reset() override {
    interrupt = nullptr;
    ++resets;
  }
  bool process_queue(uint16_t index) override {
    ++processed;
    for (;;) {
      auto c = queues[index].pop(memory);
      if (!c) return false;
      if (!c->has_value()) break;
      queues[index].add_used((*c)->head, 0);
    }
    if (queues[index].needs_notification()) interrupt->signal_used_queue(index);
    // A long queue pass (the transport's mutex held): until released or 10 s passed.
    const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (hold.load() && std::chrono::steady_clock::now() < until) std::this_thread::yield();
    return true;
  }
  bool activated() const override { return interrupt != nullptr; }

  std::array<uint8_t, 8> config{1, 2, 3, 4, 5, 6, 7, 8};
  uint64_t acked = 0;
  GuestMemoryView memory;
  std::span<Queue> queues;
  VirtioInterrupt* interrupt = nullptr;
  std::atomic<int> activations{0};
  std::atomic<int> resets{0};
  std::atomic<int> processed{0};
  std::atomic<bool> hold{false};
};

class TransportTest : public ::testing::Test {
 protected:
  TransportTest() : ram(0, 1 << 20), loop(std::move(EventLoop::create().value())) {
    device = std::make_shared<CountingDevice>();
    transport = std::move(MmioTransport::create(device, ram.view(), line, *loop).value());
    driver = std::make_unique<MmioDriver>(*transport);
    thread = std::thread([this] { loop->run(); });
  }
  ~TransportTest() override {
    loop->stop();
    thread.join();
  }
  void bring_up(uint64_t features = kAllFeatures) {
    ASSERT_TRUE(driver->negotiate(features));
    ASSERT_TRUE(driver->setup_queue(0, VirtqLayout{}));
    driver->driver_ok();
    ASSERT_EQ(transport->status() & VIRTIO_CONFIG_S_DRIVER_OK, VIRTIO_CONFIG_S_DRIVER_OK);
  }

  GuestRam ram;
  RecordingLine line;
  std::unique_ptr<EventLoop> loop;
  std::shared_ptr<CountingDevice> device;
  std::shared_ptr<MmioTransport> transport;
  std::unique_ptr<MmioDriver> driver;
  std::thread thread;
};

TEST_F(TransportTest, IdentityRegisters) {
  EXPECT_EQ(driver->r(VIRTIO_MMIO_MAGIC_VALUE), 0x74726976u);
  EXPECT_EQ(driver->r(VIRTIO_MMIO_VERSION), 2u);
  EXPECT_EQ(driver->r(VIRTIO_MMIO_DEVICE_ID), 0x1234u);
  EXPECT_EQ(driver->r(VIRTIO_MMIO_VENDOR_ID), MmioTransport::kVendorId);
  EXPECT_EQ(transport->queue_count(), 2u);
  EXPECT_GE(transport->notify_eventfd(0), 0);
  EXPECT_GE(transport->notify_eventfd(1), 0);
  EXPECT_EQ(transport->notify_eventfd(2), -1);
  EXPECT_EQ(driver->r(VIRTIO_MMIO_SHM_LEN_LOW), 0xffffffffu);  // no shared memory
}

TEST_F(TransportTest, LinuxStyleBringUpNegotiatesFeatures) {
  const uint64_t offered = driver->device_features();
  EXPECT_TRUE(offered & kVersion1);
  EXPECT_TRUE(offered & (1ULL << VIRTIO_RING_F_INDIRECT_DESC));
  EXPECT_TRUE(offered & (1ULL << VIRTIO_RING_F_EVENT_IDX));
  EXPECT_TRUE(offered & (1ULL << 5));  // the device's own bit
  bring_up(kVersion1 | (1ULL << 5));
  EXPECT_EQ(device->acked, kVersion1 | (1ULL << 5));
  EXPECT_EQ(device->activations.load(), 1);
  EXPECT_EQ(transport->metrics().activations, 1u);
  EXPECT_EQ(transport->metrics().bad_accesses, 0u);
  EXPECT_EQ(transport->metrics().bad_status_writes, 0u);
  // Queue 1 was not set up: fine for this device, it stays inactive.
  driver->w(VIRTIO_MMIO_QUEUE_SEL, 1);
  EXPECT_EQ(driver->r(VIRTIO_MMIO_QUEUE_NUM_MAX), 16u);
  EXPECT_EQ(driver->r(VIRTIO_MMIO_QUEUE_READY), 0u);
  driver->w(VIRTIO_MMIO_QUEUE_SEL, 7);
  EXPECT_EQ(driver->r(VIRTIO_MMIO_QUEUE_NUM_MAX), 0u);  // no such queue
}

TEST_F(TransportTest, FeaturesOkRefusedWithoutVersion1OrWithUnofferedBits) {
  EXPECT_FALSE(driver->negotiate(0));  // legacy driver: no VERSION_1
  EXPECT_FALSE(transport->status() & VIRTIO_CONFIG_S_FEATURES_OK);
  driver->w(VIRTIO_MMIO_STATUS, 0);
  driver->add_status(VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER);
  driver->write_driver_features(kVersion1 | (1ULL << 40));  // bit 40 was never offered
  driver->add_status(VIRTIO_CONFIG_S_FEATURES_OK);
  EXPECT_FALSE(transport->status() & VIRTIO_CONFIG_S_FEATURES_OK);
  EXPECT_EQ(transport->metrics().bad_status_writes, 2u);
  // A correct attempt after a reset works.
  EXPECT_TRUE(driver->negotiate(kVersion1));
}

TEST_F(TransportTest, StatusMustFollowTheProtocol) {
  driver->w(VIRTIO_MMIO_STATUS, VIRTIO_CONFIG_S_DRIVER);  // DRIVER without ACKNOWLEDGE
  EXPECT_EQ(transport->status(), 0u);
  driver->w(VIRTIO_MMIO_STATUS, VIRTIO_CONFIG_S_ACKNOWLEDGE);
  driver->w(VIRTIO_MMIO_STATUS, VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER |
                                    VIRTIO_CONFIG_S_DRIVER_OK);  // skips FEATURES_OK
  EXPECT_EQ(transport->status(), VIRTIO_CONFIG_S_ACKNOWLEDGE);
  driver->w(VIRTIO_MMIO_STATUS, VIRTIO_CONFIG_S_ACKNOWLEDGE | 0x10);  // unknown bit
  driver->add_status(VIRTIO_CONFIG_S_DRIVER);
  driver->w(VIRTIO_MMIO_STATUS, VIRTIO_CONFIG_S_DRIVER);  // clears ACKNOWLEDGE
  EXPECT_EQ(transport->status(), VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER);
  EXPECT_EQ(transport->metrics().bad_status_writes, 4u);
  EXPECT_EQ(device->activations.load(), 0);
}

TEST_F(TransportTest, QueueRegistersOnlyBetweenFeaturesOkAndDriverOk) {
  driver->w(VIRTIO_MMIO_QUEUE_NUM, 16);  // before FEATURES_OK
  EXPECT_EQ(driver->r(VIRTIO_MMIO_QUEUE_NUM), 0u);
  bring_up();
  const uint64_t bad_before = transport->metrics().bad_accesses;
  driver->w(VIRTIO_MMIO_QUEUE_SEL, 0);
  driver->w(VIRTIO_MMIO_QUEUE_DESC_LOW, 0x8000);  // after DRIVER_OK: ignored
  driver->w(VIRTIO_MMIO_QUEUE_READY, 0);
  EXPECT_EQ(driver->r(VIRTIO_MMIO_QUEUE_DESC_LOW), 0x1000u);
  EXPECT_EQ(driver->r(VIRTIO_MMIO_QUEUE_READY), 1u);
  EXPECT_EQ(transport->metrics().bad_accesses, bad_before + 2);
}

TEST_F(TransportTest, InvalidQueueAtDriverOkSetsNeedsReset) {
  ASSERT_TRUE(driver->negotiate(kAllFeatures));
  VirtqLayout bad;
  bad.used = (1 << 20) - 8;  // the used ring runs past the end of RAM
  ASSERT_TRUE(driver->setup_queue(0, bad));
  driver->driver_ok();
  EXPECT_TRUE(transport->status() & VIRTIO_CONFIG_S_NEEDS_RESET);
  EXPECT_EQ(device->activations.load(), 0);
  EXPECT_EQ(driver->r(VIRTIO_MMIO_INTERRUPT_STATUS) & VIRTIO_MMIO_INT_CONFIG,
            static_cast<uint32_t>(VIRTIO_MMIO_INT_CONFIG));
  EXPECT_EQ(line.triggers(), 1u);
  EXPECT_EQ(transport->metrics().needs_reset, 1u);
  // Notifications now are drained, never processed.
  driver->notify_ioeventfd(0);
  EXPECT_TRUE(wait_for([&] { return transport->metrics().inactive_notifications == 1; }));
  EXPECT_EQ(device->processed.load(), 0);
  // Reset recovers.
  driver->w(VIRTIO_MMIO_STATUS, 0);
  EXPECT_EQ(transport->status(), 0u);
  bring_up();
  EXPECT_EQ(device->activations.load(), 1);
}

TEST_F(TransportTest, QueueSizeChecksAtDriverOk) {
  for (uint32_t size : {0u, 3u, 128u, 0x10010u}) {
    ASSERT_TRUE(driver->negotiate(kAllFeatures));
    driver->w(VIRTIO_MMIO_QUEUE_SEL, 0);
    driver->w(VIRTIO_MMIO_QUEUE_NUM, size);  // max is 64
    driver->w(VIRTIO_MMIO_QUEUE_DESC_LOW, 0x1000);
    driver->w(VIRTIO_MMIO_QUEUE_AVAIL_LOW, 0x2000);
    driver->w(VIRTIO_MMIO_QUEUE_USED_LOW, 0x3000);
    driver->w(VIRTIO_MMIO_QUEUE_READY, 1);
    driver->driver_ok();
    EXPECT_TRUE(transport->status() & VIRTIO_CONFIG_S_NEEDS_RESET) << size;
    driver->w(VIRTIO_MMIO_STATUS, 0);
  }
  EXPECT_EQ(device->activations.load(), 0);
}

TEST_F(TransportTest, NotificationsBeforeDriverOkNeverTouchMemory) {
  ASSERT_TRUE(driver->negotiate(kAllFeatures));
  ASSERT_TRUE(driver->setup_queue(0, VirtqLayout{}));
  VirtqDriver vq(ram, VirtqLayout{});
  vq.set_desc(0, 0x10000, 16, VRING_DESC_F_WRITE);
  vq.publish(0);
  driver->notify_ioeventfd(0);
  driver->notify_mmio(0);
  EXPECT_TRUE(wait_for([&] { return transport->metrics().inactive_notifications == 2; }));
  EXPECT_EQ(vq.used_idx(), 0);
  EXPECT_EQ(device->processed.load(), 0);
  // At DRIVER_OK the transport looks at what is already there.
  driver->driver_ok();
  EXPECT_TRUE(wait_for([&] { return vq.used_idx() == 1; }));
}

TEST_F(TransportTest, NotifyByIoeventfdAndByMmioWriteAndInterruptAck) {
  bring_up();
  VirtqDriver vq(ram, VirtqLayout{});
  vq.set_desc(0, 0x10000, 16, VRING_DESC_F_WRITE);
  vq.publish(0);
  driver->notify_ioeventfd(0);
  ASSERT_TRUE(wait_for([&] { return vq.used_idx() == 1; }));
  ASSERT_TRUE(wait_for([&] { return line.triggers() == 1; }));
  vq.publish(0);
  driver->notify_mmio(0);  // no ioeventfd registered: the MMIO write path
  ASSERT_TRUE(wait_for([&] { return vq.used_idx() == 2; }));
  EXPECT_EQ(driver->r(VIRTIO_MMIO_INTERRUPT_STATUS), static_cast<uint32_t>(VIRTIO_MMIO_INT_VRING));
  driver->w(VIRTIO_MMIO_INTERRUPT_ACK, VIRTIO_MMIO_INT_VRING);
  EXPECT_EQ(driver->r(VIRTIO_MMIO_INTERRUPT_STATUS), 0u);
  driver->notify_mmio(9);  // no such queue
  EXPECT_GE(transport->metrics().bad_accesses, 1u);
}

// A guest's interrupt handler reads InterruptStatus and writes InterruptACK from a vCPU: that
// must not wait while the device thread is in the middle of a queue pass.
TEST_F(TransportTest, InterruptStatusAndAckDoNotWaitForAQueuePass) {
  bring_up();
  VirtqDriver vq(ram, VirtqLayout{});
  vq.set_desc(0, 0x10000, 16, VRING_DESC_F_WRITE);
  vq.publish(0);
  device->hold = true;
  driver->notify_ioeventfd(0);
  ASSERT_TRUE(wait_for([&] { return line.triggers() == 1; }));  // signalled, still in the pass
  auto vcpu = std::async(std::launch::async, [&] {
    const uint32_t status = driver->r(VIRTIO_MMIO_INTERRUPT_STATUS);
    driver->w(VIRTIO_MMIO_INTERRUPT_ACK, status);
    return std::make_pair(status, driver->r(VIRTIO_MMIO_INTERRUPT_STATUS));
  });
  const bool done = vcpu.wait_for(std::chrono::seconds(2)) == std::future_status::ready;
  const int passes = device->processed.load();
  device->hold = false;
  ASSERT_TRUE(done) << "the vCPU waited for the device thread's queue pass";
  EXPECT_EQ(passes, 1);
  const auto [before, after] = vcpu.get();
  EXPECT_EQ(before, static_cast<uint32_t>(VIRTIO_MMIO_INT_VRING));
  EXPECT_EQ(after, 0u);
}

TEST_F(TransportTest, ConfigSpaceAccessAndBounds) {
  uint8_t b = 0;
  transport->read(0x100 + 2, std::span<uint8_t>(&b, 1));
  EXPECT_EQ(b, 3);
  uint16_t h = 0;
  transport->read(0x100 + 4, std::span<uint8_t>(reinterpret_cast<uint8_t*>(&h), 2));
  EXPECT_EQ(h, 0x0605);
  uint64_t q = 0;
  transport->read(0x100, std::span<uint8_t>(reinterpret_cast<uint8_t*>(&q), 8));
  EXPECT_EQ(q, 0x0807060504030201ULL);
  b = 0xee;
  transport->write(0x100 + 1, std::span<const uint8_t>(&b, 1));
  EXPECT_EQ(device->config[1], 0xee);
  uint32_t w = 0xffffffff;
  transport->read(0x1fe, std::span<uint8_t>(reinterpret_cast<uint8_t*>(&w), 4));  // past 0x200
  EXPECT_EQ(w, 0u);
  transport->write(0x1fe, std::span<const uint8_t>(reinterpret_cast<uint8_t*>(&w), 4));
  EXPECT_EQ(transport->metrics().bad_accesses, 2u);
  EXPECT_EQ(driver->r(VIRTIO_MMIO_CONFIG_GENERATION), 0u);
}

TEST_F(TransportTest, ResetDeactivatesAndClearsQueues) {
  bring_up();
  driver->w(VIRTIO_MMIO_STATUS, 0);
  EXPECT_EQ(transport->status(), 0u);
  EXPECT_EQ(device->resets.load(), 1);
  EXPECT_FALSE(device->activated());
  driver->w(VIRTIO_MMIO_QUEUE_SEL, 0);
  EXPECT_EQ(driver->r(VIRTIO_MMIO_QUEUE_READY), 0u);
  EXPECT_EQ(driver->r(VIRTIO_MMIO_QUEUE_DESC_LOW), 0u);
  driver->w(VIRTIO_MMIO_QUEUE_READY, 0);  // Linux's del_vq after a reset: not an error
  EXPECT_EQ(transport->metrics().bad_accesses, 0u);
  const int processed = device->processed.load();
  driver->notify_ioeventfd(0);
  // (The kick at activation may still be pending and merge with this one.)
  EXPECT_TRUE(wait_for([&] { return transport->metrics().inactive_notifications >= 1; }));
  EXPECT_EQ(device->processed.load(), processed);
  bring_up();
  EXPECT_EQ(device->activations.load(), 2);
}

TEST_F(TransportTest, HostileRegisterAccessesNeverCrash) {
  uint8_t buf[8];
  // Wrong sizes and alignment on registers.
  for (size_t size : {1u, 2u, 8u}) {
    transport->read(VIRTIO_MMIO_STATUS, std::span<uint8_t>(buf, size));
    transport->write(VIRTIO_MMIO_STATUS, std::span<const uint8_t>(buf, size));
  }
  transport->read(VIRTIO_MMIO_STATUS + 1, std::span<uint8_t>(buf, 4));
  EXPECT_EQ(transport->metrics().bad_accesses, 7u);
  // Random garbage at every register offset, with the loop processing notifications.
  std::mt19937_64 rng(42);
  for (int round = 0; round < 20000; ++round) {
    const uint64_t off = (rng() % 0x200) & ~3ULL;
    const uint32_t v = static_cast<uint32_t>(rng());
    if (rng() % 2) {
      driver->w(off, v);
    } else {
      (void)driver->r(off);
    }
    if (round % 1000 == 0) {
      driver->negotiate(kAllFeatures);
      VirtqLayout l;
      l.desc = (rng() % (1 << 21)) & ~15ULL;  // sometimes outside RAM
      driver->setup_queue(0, l);
      driver->driver_ok();
      ram.put<uint16_t>(0x2002, static_cast<uint16_t>(rng()));  // garbage avail idx
      driver->notify_ioeventfd(0);
    }
  }
  std::atomic<bool> drained{false};
  loop->post([&] { drained = true; });
  EXPECT_TRUE(wait_for([&] { return drained.load(); }));
  // Still a working device afterwards.
  ram.put<uint16_t>(0x2002, 0);
  ram.put<uint16_t>(0x3002, 0);
  bring_up();
  VirtqDriver vq(ram, VirtqLayout{});
  vq.set_desc(0, 0x10000, 16, VRING_DESC_F_WRITE);
  vq.publish(0);
  driver->notify_ioeventfd(0);
  EXPECT_TRUE(wait_for([&] { return vq.used_idx() == 1; }));
}

TEST(TransportCreate, RefusesBadDevices) {
  GuestRam ram(0, 1 << 16);
  RecordingLine line;
  auto loop = std::move(EventLoop::create().value());
  EXPECT_FALSE(MmioTransport::create(nullptr, ram.view(), line, *loop).ok());
  auto bad = VirtioRng::create(VirtioRngConfig{.queue_size = 100});
  EXPECT_FALSE(bad.ok());
}

}  // namespace
}  // namespace flotilla::vmm::virtio
