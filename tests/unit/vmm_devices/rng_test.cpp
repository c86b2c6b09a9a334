// virtio-rng end to end: a guest-like driver brings the device up through the virtio-mmio
// transport, posts request chains, notifies as KVM's ioeventfd would, and reads the answers.
#include "vmm/devices/virtio/rng/rng.h"

#include <gtest/gtest.h>
#include <linux/virtio_ids.h>

#include <chrono>
#include <thread>

#include "tests/unit/vmm_devices/mmio_driver.h"
#include "vmm/devices/virtio/rng/request.h"

namespace flotilla::vmm::virtio {
namespace {

using testing::GuestRam;
using testing::MmioDriver;
using testing::RecordingLine;
using testing::VirtqDriver;
using testing::VirtqLayout;
using testing::wait_for;

constexpr uint64_t kVersion1 = 1ULL << VIRTIO_F_VERSION_1;
constexpr uint64_t kEventIdx = 1ULL << VIRTIO_RING_F_EVENT_IDX;
constexpr uint64_t kIndirect = 1ULL << VIRTIO_RING_F_INDIRECT_DESC;
constexpr uint16_t kW = VRING_DESC_F_WRITE;
constexpr uint16_t kN = VRING_DESC_F_NEXT;

class RngTest : public ::testing::Test {
 protected:
  explicit RngTest(VirtioRngConfig config = {})
      : ram(0, 1 << 20), loop(std::move(EventLoop::create().value())) {
    rng = std::move(VirtioRng::create(config, loop.get()).value());
    transport = std::move(MmioTransport::create(rng, ram.view(), line, *loop).value());
    driver = std::make_unique<MmioDriver>(*transport);
    vq = std::make_unique<VirtqDriver>(ram, VirtqLayout{.size = 16});
    thread = std::thread([this] { loop->run(); });
  }
  ~RngTest() override {
    loop->stop();
    thread.join();
  }
  void bring_up(uint64_t features) {
    ASSERT_EQ(driver->r(VIRTIO_MMIO_DEVICE_ID), static_cast<uint32_t>(VIRTIO_ID_RNG));
    ASSERT_TRUE(driver->negotiate(features));
    ASSERT_TRUE(driver->setup_queue(0, vq->layout()));
    driver->driver_ok();
    ASSERT_TRUE(rng->activated());
  }
  // Posts one writable buffer of len bytes at gpa (filled with 0xa5 first); returns the used len.
  uint32_t request(uint64_t gpa, uint32_t len, uint16_t desc = 0) {
    std::memset(ram.at(gpa), 0xa5, len);
    vq->set_desc(desc, gpa, len, kW);
    const uint16_t want = static_cast<uint16_t>(vq->used_idx() + 1);
    vq->publish(desc);
    driver->notify_ioeventfd(0);
    EXPECT_TRUE(wait_for([&] { return vq->used_idx() == want; }));
    auto elem = vq->used_elem(static_cast<uint16_t>(want - 1));
    EXPECT_EQ(elem.id, desc);
    return elem.len;
  }
  bool changed(uint64_t gpa, uint32_t len) {
    for (uint32_t i = 0; i < len; ++i) {
      if (ram.at(gpa)[i] != 0xa5) return true;
    }
    return false;
  }

  GuestRam ram;
  RecordingLine line;
  std::unique_ptr<EventLoop> loop;
  std::shared_ptr<VirtioRng> rng;
  std::shared_ptr<MmioTransport> transport;
  std::unique_ptr<MmioDriver> driver;
  std::unique_ptr<VirtqDriver> vq;
  std::thread thread;
};

TEST_F(RngTest, FillsRequestsAndInterrupts) {
  bring_up(kVersion1);
  EXPECT_EQ(request(0x10000, 64), 64u);
  EXPECT_TRUE(changed(0x10000, 64));
  EXPECT_TRUE(wait_for([&] { return line.triggers() >= 1; }));
  EXPECT_EQ(driver->r(VIRTIO_MMIO_INTERRUPT_STATUS) & VIRTIO_MMIO_INT_VRING,
            static_cast<uint32_t>(VIRTIO_MMIO_INT_VRING));
  driver->w(VIRTIO_MMIO_INTERRUPT_ACK, VIRTIO_MMIO_INT_VRING);
  EXPECT_EQ(request(0x20000, 4096), 4096u);
  EXPECT_EQ(request(0x30000, 1), 1u);
  // Two buffers filled with different bytes.
  EXPECT_NE(std::memcmp(ram.at(0x10000), ram.at(0x20000), 64), 0);
  const auto m = rng->metrics();
  EXPECT_EQ(m.requests, 3u);
  EXPECT_EQ(m.bytes, 64u + 4096u + 1u);
  EXPECT_EQ(m.bad_requests, 0u);
}

TEST_F(RngTest, ManyRequestsWrapTheRing) {
  bring_up(kVersion1);
  for (int i = 0; i < 100; ++i) {
    ASSERT_EQ(request(0x10000 + 0x100 * (i % 16), 32, static_cast<uint16_t>(i % 16)), 32u);
  }
  EXPECT_EQ(rng->metrics().requests, 100u);
}

TEST_F(RngTest, ChainedAndIndirectBuffers) {
  bring_up(kVersion1 | kIndirect);
  vq->set_desc(0, 0x10000, 10, kW | kN, 1);
  vq->set_desc(1, 0x11000, 20, kW);
  vq->publish(0);
  driver->notify_ioeventfd(0);
  ASSERT_TRUE(wait_for([&] { return vq->used_idx() == 1; }));
  EXPECT_EQ(vq->used_elem(0).len, 30u);
  ram.put(0x40000, vring_desc{0x50000, 100, kW | kN, 1});
  ram.put(0x40010, vring_desc{0x51000, 28, kW, 0});
  vq->set_desc(2, 0x40000, 32, VRING_DESC_F_INDIRECT);
  vq->publish(2);
  driver->notify_ioeventfd(0);
  ASSERT_TRUE(wait_for([&] { return vq->used_idx() == 2; }));
  EXPECT_EQ(vq->used_elem(1).id, 2u);
  EXPECT_EQ(vq->used_elem(1).len, 128u);
}

TEST_F(RngTest, BadRequestsAreReturnedEmptyAndCounted) {
  bring_up(kVersion1);
  vq->set_desc(0, 0x10000, 16, 0);  // device-readable: not an rng request
  vq->publish(0);
  vq->set_desc(1, 0x10000, 16, kW | kN, 9);  // next inside the table but pointing at garbage
  vq->set_desc(9, 1ULL << 40, 16, kW);       // ... outside guest RAM
  vq->publish(1);
  driver->notify_ioeventfd(0);
  ASSERT_TRUE(wait_for([&] { return vq->used_idx() == 2; }));
  EXPECT_EQ(vq->used_elem(0).len, 0u);
  EXPECT_EQ(vq->used_elem(1).len, 0u);
  EXPECT_EQ(rng->metrics().bad_requests, 2u);
  EXPECT_EQ(request(0x20000, 8, 3), 8u);  // still serving
}

TEST_F(RngTest, RequestsAreCappedAt64KiB) {
  bring_up(kVersion1);
  EXPECT_EQ(request(0x10000, 200 * 1024), VirtioRng::kMaxRequestBytes);
  EXPECT_TRUE(changed(0x10000 + VirtioRng::kMaxRequestBytes - 16, 16));
  EXPECT_FALSE(changed(0x10000 + VirtioRng::kMaxRequestBytes, 64));
}

TEST_F(RngTest, BrokenRingSetsNeedsResetAndResetRecovers) {
  bring_up(kVersion1);
  vq->set_avail_idx(100);  // more than the queue size ahead
  driver->notify_ioeventfd(0);
  ASSERT_TRUE(wait_for([&] { return (transport->status() & VIRTIO_CONFIG_S_NEEDS_RESET) != 0; }));
  EXPECT_EQ(vq->used_idx(), 0);
  driver->w(VIRTIO_MMIO_STATUS, 0);
  EXPECT_FALSE(rng->activated());
  ram.put<uint16_t>(0x2002, 0);
  vq = std::make_unique<VirtqDriver>(ram, VirtqLayout{.size = 16});
  bring_up(kVersion1);
  EXPECT_EQ(request(0x10000, 16), 16u);
}

TEST_F(RngTest, EventIdxSuppressesInterruptsTheDriverDidNotAskFor) {
  bring_up(kVersion1 | kEventIdx);
  vq->set_used_event(0xffff);  // "do not interrupt me until used idx passes 0xffff"
  for (uint16_t i = 0; i < 4; ++i) {
    vq->set_desc(i, 0x10000 + 0x100ULL * i, 16, kW);
    vq->publish(i);
  }
  driver->notify_ioeventfd(0);
  ASSERT_TRUE(wait_for([&] { return vq->used_idx() == 4; }));
  EXPECT_EQ(line.triggers(), 0u);
  EXPECT_EQ(vq->avail_event(), 4);  // tells the driver to kick for the next one
  vq->set_used_event(4);            // now the driver wants the next completion
  EXPECT_EQ(request(0x20000, 16, 5), 16u);
  EXPECT_TRUE(wait_for([&] { return line.triggers() == 1; }));
}

TEST(RngRequest, ParsesOnlyWritableBuffersAndCaps) {
  DescriptorChain chain;
  chain.head = 4;
  uint8_t a[10], b[20];
  chain.descriptors = {{0x1000, 10, true, a}, {0x2000, 0, true, nullptr}, {0x3000, 20, true, b}};
  chain.writable_bytes = 30;
  auto r = parse_rng_request(chain, 25);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->head, 4);
  EXPECT_EQ(r->total, 25u);
  ASSERT_EQ(r->buffers.size(), 2u);
  EXPECT_EQ(r->buffers[1].len, 15u);
  chain.descriptors.insert(chain.descriptors.begin(), Descriptor{0x5000, 4, false, a});
  chain.readable_bytes = 4;
  EXPECT_EQ(parse_rng_request(chain, 25).error(), RngRequestError::kReadableBuffer);
  DescriptorChain empty;
  empty.descriptors = {{0x1000, 0, true, nullptr}};
  EXPECT_EQ(parse_rng_request(empty, 25).error(), RngRequestError::kNoBuffer);
}

TEST(RngBackend, GetrandomFillsLargeBuffers) {
  GetrandomBackend backend;
  std::vector<uint8_t> buf(1 << 20, 0);
  ASSERT_TRUE(backend.fill(buf).ok());
  size_t zeros = 0;
  for (uint8_t v : buf) zeros += v == 0;
  EXPECT_LT(zeros, buf.size() / 128);  // ~1/256 expected
}

class RateLimitedRngTest : public RngTest {
 protected:
  RateLimitedRngTest()
      : RngTest(VirtioRngConfig{.rate_bytes_per_sec = 20000, .burst_bytes = 2000}) {}
};

TEST_F(RateLimitedRngTest, TokenBucketThrottlesAndTheTimerResumes) {
  bring_up(kVersion1);
  const auto start = std::chrono::steady_clock::now();
  uint64_t total = 0;
  for (uint16_t i = 0; i < 6; ++i) {
    vq->set_desc(i, 0x10000 + 0x1000ULL * i, 1000, kW);
    vq->publish(i);
  }
  driver->notify_ioeventfd(0);
  ASSERT_TRUE(wait_for([&] { return vq->used_idx() == 6; }));
  for (uint16_t i = 0; i < 6; ++i) total += vq->used_elem(i).len;
  const auto elapsed = std::chrono::steady_clock::now() - start;
  EXPECT_EQ(total, 6000u);
  // 2000 bytes of burst, then 4000 bytes at 20000 B/s: at least ~200 ms.
  EXPECT_GE(elapsed, std::chrono::milliseconds(150));
  EXPECT_GT(rng->metrics().throttled, 0u);
  EXPECT_LE(rng->state().rate_tokens, 2000u);
}

TEST(RngCreate, RateLimitNeedsALoop) {
  EXPECT_FALSE(VirtioRng::create(VirtioRngConfig{.rate_bytes_per_sec = 10}).ok());
  EXPECT_TRUE(VirtioRng::create(VirtioRngConfig{}).ok());
}

}  // namespace
}  // namespace flotilla::vmm::virtio
