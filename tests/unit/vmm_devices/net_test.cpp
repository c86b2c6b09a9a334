// virtio-net against a real TAP: the test process first enters a fresh network namespace, makes
// a TAP there and watches the TAP's host side with a packet socket, so frames the device
// transmits are seen as the host sees them and frames the host sends reach the guest's rings.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <linux/if_packet.h>
#include <linux/virtio_ids.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <poll.h>
#include <sched.h>
#include <sys/socket.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <thread>
#include <vector>

#include "network/links.h"
#include "tests/support/netns.h"
#include "tests/unit/vmm_devices/fakes.h"
#include "tests/unit/vmm_devices/mmio_driver.h"
#include "tests/unit/vmm_devices/virtq_driver.h"
#include "vmm/devices/virtio/net/abi.h"
#include "vmm/devices/virtio/net/net.h"
#include "vmm/virtio/mmio_transport.h"

namespace flotilla::vmm::testing {
namespace {

// Before main, single-threaded: everything this binary makes lives and dies in its namespace.
// IPv6 is off in it, so the kernel sends no router solicitations the guest would receive.
const int kNetnsErrno = flotilla::test::enter_quiet_netns();

constexpr uint64_t kVersion1 = 1ULL << VIRTIO_F_VERSION_1;
constexpr uint64_t kMrg = 1ULL << virtio::net_abi::kFMrgRxbuf;
constexpr uint64_t kMac = 1ULL << virtio::net_abi::kFMac;
constexpr uint32_t kHdr = 12;
constexpr const char* kTap = "flt-nettest";
constexpr uint8_t kGuestMac[6] = {0x02, 0xf1, 0x0a, 0, 0, 1};

std::vector<uint8_t> frame(size_t len, uint8_t seed) {
  std::vector<uint8_t> f(std::max<size_t>(len, 14));     // runts: cut after the header is built
  std::memcpy(f.data(), "\x02\xf1\x0a\x00\x00\x01", 6);  // to the guest
  std::memcpy(f.data() + 6, "\x02\xf1\x0a\x00\x00\x02", 6);
  f[12] = 0x88;  // local experimental ethertype 0x88b5
  f[13] = 0xb5;
  for (size_t i = 14; i < len; ++i) f[i] = static_cast<uint8_t>(seed + i);
  f.resize(len);
  return f;
}

class NetHarness {
 public:
  static constexpr uint64_t kRamBytes = 16ULL << 20;
  static constexpr uint64_t kTxBuffers = 0x100000;  // 64 KiB + header per TX slot
  static constexpr uint64_t kRxBuffers = 0x800000;

  explicit NetHarness(virtio::RateLimit tx_limit = {}, uint16_t queue_size = 64)
      : ram(0, kRamBytes), loop(std::move(EventLoop::create().value())) {
    auto links = network::Links::open();
    EXPECT_TRUE(links.ok());
    links_.emplace(std::move(*links));
    (void)links_->remove(kTap);
    EXPECT_TRUE(network::create_persistent_tap(kTap).ok());
    auto tap = network::open_tap(kTap);
    EXPECT_TRUE(tap.ok()) << (tap ? "" : tap.error().message);
    EXPECT_TRUE(links_->set_up(kTap).ok());
    virtio::VirtioNetConfig config;
    std::memcpy(config.mac.data(), kGuestMac, 6);
    config.queue_size = queue_size;
    config.tx_limit = tx_limit;
    net = std::move(virtio::VirtioNet::create(config, std::move(*tap), *loop).value());
    transport = std::move(virtio::MmioTransport::create(net, ram.view(), line, *loop).value());
    driver = std::make_unique<MmioDriver>(*transport);
    rxq = std::make_unique<VirtqDriver>(
        ram, VirtqLayout{.size = queue_size, .desc = 0x1000, .avail = 0x6000, .used = 0x8000});
    txq = std::make_unique<VirtqDriver>(
        ram, VirtqLayout{.size = queue_size, .desc = 0x10000, .avail = 0x16000, .used = 0x18000});
    host = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, htons(ETH_P_ALL));
    sockaddr_ll addr{};
    addr.sll_family = AF_PACKET;
    addr.sll_protocol = htons(ETH_P_ALL);
    addr.sll_ifindex = static_cast<int>(if_nametoindex(kTap));
    EXPECT_EQ(bind(host, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    thread = std::thread([this] { loop->run(); });
  }
  ~NetHarness() {
    loop->stop();
    thread.join();
    transport.reset();
    net.reset();
    ::close(host);
    (void)links_->remove(kTap);
  }

  void bring_up(uint64_t features) {
    ASSERT_EQ(driver->r(VIRTIO_MMIO_DEVICE_ID), static_cast<uint32_t>(VIRTIO_ID_NET));
    ASSERT_TRUE(driver->negotiate(features));
    ASSERT_TRUE(driver->setup_queue(0, rxq->layout()));
    ASSERT_TRUE(driver->setup_queue(1, txq->layout()));
    driver->driver_ok();
    ASSERT_TRUE(net->activated());
  }

  // One TX chain: header + frame in one descriptor (slot i).
  void send(uint16_t slot, const std::vector<uint8_t>& f, virtio::net_abi::NetHeader header = {}) {
    const uint64_t gpa = kTxBuffers + 0x11000ULL * slot;
    ram.put(gpa, header);
    if (!f.empty()) std::memcpy(ram.at(gpa + kHdr), f.data(), f.size());
    txq->set_desc(slot, gpa, static_cast<uint32_t>(kHdr + f.size()), 0);
    txq->publish(slot);
  }
  // A TX chain for slot whose frame is the one already in slot 0's buffer (many in flight).
  void resend_slot0(uint16_t slot, uint32_t frame_len) {
    txq->set_desc(slot, kTxBuffers, kHdr + frame_len, 0);
    txq->publish(slot);
  }
  void kick_tx() { driver->notify_ioeventfd(1); }

  // Posts RX chain `slot` with one writable buffer of len bytes.
  void post_rx(uint16_t slot, uint32_t len) {
    rxq->set_desc(slot, kRxBuffers + 0x11000ULL * slot, len, VRING_DESC_F_WRITE);
    rxq->publish(slot);
    driver->notify_ioeventfd(0);
  }
  uint8_t* rx_buffer(uint16_t slot) { return ram.at(kRxBuffers + 0x11000ULL * slot); }

  // A frame from the TAP's host side, or empty after the deadline.
  std::vector<uint8_t> host_receive(int timeout_ms = 3000) {
    pollfd p{host, POLLIN, 0};
    std::vector<uint8_t> buf(70000);
    while (poll(&p, 1, timeout_ms) == 1) {
      sockaddr_ll from{};
      socklen_t fl = sizeof from;
      const ssize_t n =
          recvfrom(host, buf.data(), buf.size(), 0, reinterpret_cast<sockaddr*>(&from), &fl);
      if (n <= 0) break;
      if (from.sll_pkttype == PACKET_OUTGOING) continue;           // our own host_send
      if (n < 14 || buf[12] != 0x88 || buf[13] != 0xb5) continue;  // IPv6 chatter etc.
      buf.resize(static_cast<size_t>(n));
      return buf;
    }
    return {};
  }
  void host_send(const std::vector<uint8_t>& f) {
    ASSERT_EQ(::send(host, f.data(), f.size(), 0), static_cast<ssize_t>(f.size()));
  }

  GuestRam ram;
  RecordingLine line;
  std::unique_ptr<EventLoop> loop;
  std::optional<network::Links> links_;
  std::shared_ptr<virtio::VirtioNet> net;
  std::shared_ptr<virtio::MmioTransport> transport;
  std::unique_ptr<MmioDriver> driver;
  std::unique_ptr<VirtqDriver> rxq, txq;
  int host = -1;
  std::thread thread;
};

class NetTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(kNetnsErrno, 0) << "unshare(CLONE_NEWNET) (needs root): " << strerror(kNetnsErrno);
  }
};

TEST_F(NetTest, ConfigSpaceHasTheMacAndLinkUp) {
  NetHarness h;
  uint8_t mac[6];
  for (int i = 0; i < 6; ++i) mac[i] = static_cast<uint8_t>(h.driver->r(0x100 + i) & 0xff);
  EXPECT_EQ(std::memcmp(mac, kGuestMac, 6), 0);
  EXPECT_EQ(h.driver->r(0x106) & 0xffff, static_cast<uint32_t>(virtio::net_abi::kStatusLinkUp));
}

TEST_F(NetTest, TransmittedFramesReachTheHostUnchanged) {
  NetHarness h;
  h.bring_up(kVersion1 | kMac);
  for (uint16_t i = 0; i < 10; ++i) h.send(i, frame(60 + i * 100, static_cast<uint8_t>(i)));
  h.kick_tx();
  for (uint16_t i = 0; i < 10; ++i) {
    auto got = h.host_receive();
    EXPECT_EQ(got, frame(60 + i * 100, static_cast<uint8_t>(i))) << "frame " << i;
  }
  ASSERT_TRUE(wait_for([&] { return h.txq->used_idx() == 10; }));
  EXPECT_EQ(h.net->metrics().tx_packets, 10u);
}

TEST_F(NetTest, HostFramesLandInTheGuestsBuffersWithAHeader) {
  NetHarness h;
  h.bring_up(kVersion1 | kMac);
  h.post_rx(0, 1526);
  const auto f = frame(1000, 7);
  h.host_send(f);
  ASSERT_TRUE(wait_for([&] { return h.rxq->used_idx() == 1; }));
  EXPECT_EQ(h.rxq->used_elem(0).len, kHdr + 1000);
  EXPECT_EQ(std::memcmp(h.rx_buffer(0) + kHdr, f.data(), f.size()), 0);
  EXPECT_EQ(h.rx_buffer(0)[10], 1);  // num_buffers
}

TEST_F(NetTest, MergeableBuffersCarryALargeFrameAcrossChains) {
  NetHarness h;
  h.bring_up(kVersion1 | kMac | kMrg);
  for (uint16_t i = 0; i < 4; ++i) h.post_rx(i, 512);
  const auto f = frame(1400, 3);
  h.host_send(f);
  ASSERT_TRUE(wait_for([&] { return h.rxq->used_idx() == 3; }));
  EXPECT_EQ(h.rx_buffer(0)[10], 3);
  std::vector<uint8_t> joined;
  for (uint16_t i = 0; i < 3; ++i) {
    const auto e = h.rxq->used_elem(i);
    joined.insert(joined.end(), h.rx_buffer(static_cast<uint16_t>(e.id)),
                  h.rx_buffer(static_cast<uint16_t>(e.id)) + e.len);
  }
  ASSERT_EQ(joined.size(), kHdr + f.size());
  EXPECT_EQ(std::memcmp(joined.data() + kHdr, f.data(), f.size()), 0);
}

TEST_F(NetTest, FramesWaitForBuffersInsteadOfBeingLost) {
  NetHarness h;
  h.bring_up(kVersion1 | kMac);
  for (uint8_t i = 0; i < 5; ++i) h.host_send(frame(100, i));
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_EQ(h.rxq->used_idx(), 0);
  for (uint16_t i = 0; i < 5; ++i) h.post_rx(i, 1526);
  ASSERT_TRUE(wait_for([&] { return h.rxq->used_idx() == 5; }));
  for (uint16_t i = 0; i < 5; ++i) {
    EXPECT_EQ(h.rx_buffer(i)[kHdr + 20], static_cast<uint8_t>(i + 20)) << i;
  }
  EXPECT_EQ(h.net->metrics().rx_packets, 5u);
}

// The TAP is watched one-shot and re-armed after each drain; with coalescing on, a burst makes
// the device take the next frames after a pause instead of on each arrival. Either way no
// frame may be left waiting in the TAP once a burst is over.
class NetRxWatchTest : public NetTest, public ::testing::WithParamInterface<const char*> {};

TEST_P(NetRxWatchTest, BurstsAndLoneFramesAfterThemAllArrive) {
  ::setenv("FLOTILLA_NET_RX_COALESCE_US", GetParam(), 1);  // read by VirtioNet::create
  NetHarness h;
  ::unsetenv("FLOTILLA_NET_RX_COALESCE_US");
  h.bring_up(kVersion1 | kMac);
  for (uint16_t i = 0; i < 32; ++i) h.post_rx(i, 1526);
  uint16_t sent = 0;
  for (int round = 0; round < 4; ++round) {
    for (int i = 0; i < 6; ++i) h.host_send(frame(100, static_cast<uint8_t>(sent++)));  // burst
    ASSERT_TRUE(wait_for([&] { return h.rxq->used_idx() == sent; })) << "round " << round;
    // A pause longer than the coalescing window, then a lone frame: the TAP must be watched.
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
    h.host_send(frame(100, static_cast<uint8_t>(sent++)));
    ASSERT_TRUE(wait_for([&] { return h.rxq->used_idx() == sent; })) << "round " << round;
  }
  for (uint16_t i = 0; i < sent; ++i) {
    const auto e = h.rxq->used_elem(i);
    EXPECT_EQ(h.rx_buffer(static_cast<uint16_t>(e.id))[kHdr + 20], static_cast<uint8_t>(i + 20));
  }
  EXPECT_EQ(h.net->metrics().rx_packets, sent);
}
INSTANTIATE_TEST_SUITE_P(Coalescing, NetRxWatchTest, ::testing::Values("0", "50"));

// A driver that sleeps on a full transmit ring leaves its avail flags clear (the test driver
// does): the device must interrupt once it has sent what was there.
TEST_F(NetTest, TransmitCompletionsInterruptADriverThatAskedForIt) {
  NetHarness h;
  h.bring_up(kVersion1 | kMac);
  const uint64_t before = h.line.triggers();
  h.send(0, frame(64, 1));
  for (uint16_t i = 1; i < 8; ++i) h.resend_slot0(i, 64);
  h.kick_tx();
  ASSERT_TRUE(wait_for([&] { return h.txq->used_idx() == 8; }));
  EXPECT_TRUE(wait_for([&] { return h.line.triggers() > before; }));
  EXPECT_EQ(h.net->metrics().tx_packets, 8u);
}

TEST_F(NetTest, MalformedChainsAreCountedDroppedAndTheDeviceCarriesOn) {
  NetHarness h;
  h.bring_up(kVersion1 | kMac);
  h.send(0, {});           // header only: a zero-length frame
  h.send(1, frame(8, 0));  // shorter than an Ethernet header
  virtio::net_abi::NetHeader gso{};
  gso.gso_type = virtio::net_abi::kGsoTcpV4;  // segmentation that was not negotiated
  h.send(2, frame(200, 0), gso);
  // Oversized: header + 70000 bytes across two descriptors.
  h.txq->set_desc(3, NetHarness::kTxBuffers + 0x11000ULL * 3, 40000, VRING_DESC_F_NEXT, 4);
  h.txq->set_desc(4, NetHarness::kTxBuffers + 0x11000ULL * 5, 40000, 0);
  h.txq->publish(3);
  h.send(6, frame(64, 9));  // and a good one after them
  h.kick_tx();
  EXPECT_EQ(h.host_receive(), frame(64, 9));
  ASSERT_TRUE(wait_for([&] { return h.txq->used_idx() == 5; }));
  EXPECT_EQ(h.net->metrics().tx_malformed, 4u);
  EXPECT_EQ(h.net->metrics().tx_packets, 1u);
  EXPECT_TRUE(h.net->activated());
}

TEST_F(NetTest, TransmitRateLimitHolds) {
  // 1 MB/s with a 100 KB burst: 400 frames of 1000 bytes need at least ~0.3 s.
  NetHarness h(virtio::RateLimit{1'000'000, 0}, 512);
  h.bring_up(kVersion1 | kMac);
  const auto start = std::chrono::steady_clock::now();
  h.send(0, frame(1000, 1));
  for (uint16_t i = 1; i < 400; ++i) h.resend_slot0(i, 1000);
  h.kick_tx();
  ASSERT_TRUE(wait_for([&] { return h.txq->used_idx() == 400; }, std::chrono::seconds(10)));
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_GE(seconds, 0.27);
  EXPECT_LE(seconds, 0.8);
  EXPECT_GT(h.net->metrics().tx_throttled, 0u);
  // Lifted live: the rest goes at once.
  h.net->set_limits({}, {});
  const auto t2 = std::chrono::steady_clock::now();
  for (uint16_t i = 0; i < 100; ++i) h.resend_slot0(static_cast<uint16_t>(400 + i), 1000);
  h.kick_tx();
  ASSERT_TRUE(wait_for([&] { return h.txq->used_idx() == 500; }));
  EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - t2).count(), 0.2);
}

}  // namespace
}  // namespace flotilla::vmm::testing
