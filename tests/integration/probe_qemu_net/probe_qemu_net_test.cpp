// The probe guest's virtio-net driver and minimal stack (guest/probe/virtio/virtio_net.c,
// net/stack.c, the `net` command of team/NETWORK.md) against QEMU microvm's virtio-net-device:
// an implementation our driver shares no code with. Each guest's NIC is a TAP in a bridge that
// has a host address; the host pings guests over a raw ICMP socket, sends and receives the test
// frames with a packet socket on the bridge (checked with tests/support/net_frames.h), and two
// guests ping each other and move numbered frames.
//
// Everything lives in a network namespace the process enters before main, so no packet leaves
// it and the bridge and TAPs vanish with the process. QEMU, a child, inherits the namespace.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <netinet/ip.h>
#include <netinet/ip_icmp.h>
#include <poll.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <fstream>
#include <iostream>
#include <map>
#include <optional>
#include <regex>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "common/unique_fd.h"
#include "network/addresses.h"
#include "network/links.h"
#include "tests/support/guest_console.h"
#include "tests/support/net_frames.h"
#include "tests/support/netns.h"

namespace flotilla::test {
namespace {

using namespace std::chrono_literals;

// Before main, single-threaded: a fresh network namespace for everything this binary makes.
// IPv6 is off in it, so the kernel sends no router solicitations or DAD probes to the guests.
const int kNetnsErrno = flotilla::test::enter_quiet_netns();

constexpr auto kBootTimeout = 20s;
constexpr auto kCommandTimeout = 30s;
constexpr const char* kBridge = "fltpbr0";
constexpr const char* kHostCidr = "10.77.0.1/24";
constexpr const char* kHostIp = "10.77.0.1";

const char kInfoRe[] =
    R"(net dev=(\d+) mac=([0-9a-f:]{17}) ip=(\S+) link=(up|down) features=0x([0-9a-f]+))";
const char kRecvRe[] =
    R"(net recv received=(\d+) lost=(\d+) bad=(\d+) out_of_order=(\d+) ms=(\d+) frames_per_s=(\d+) mbit_per_s=(\d+)\.(\d))";
const char kSendRe[] =
    R"(net send count=(\d+) size=(\d+) ms=(\d+) frames_per_s=(\d+) mbit_per_s=(\d+)\.(\d))";
const char kBenchRe[] =
    R"(net bench size=(\d+) frames=(\d+) ms=(\d+) frames_per_s=(\d+) mbit_per_s=(\d+)\.(\d))";
const char kPingRe[] =
    R"(net ping ip=(\S+) sent=(\d+) received=(\d+) rtt_min_us=(\d+) rtt_avg_us=(\d+) rtt_max_us=(\d+))";

std::string mac_string(const Mac& m) {
  char buf[18];
  std::snprintf(buf, sizeof buf, "%02x:%02x:%02x:%02x:%02x:%02x", m[0], m[1], m[2], m[3], m[4],
                m[5]);
  return buf;
}

Mac nic_mac(unsigned guest, unsigned nic) {
  return {0x02, 0xf1, 0x0a, 0x00, 0x77, static_cast<uint8_t>(0x10 + 2 * guest + nic)};
}
std::string nic_ip(unsigned guest, unsigned nic) {
  return "10.77.0." + std::to_string(10 + 2 * guest + nic);
}

std::vector<std::string> qemu_argv() {
  return {"qemu-system-x86_64",
          "-M",
          "microvm,x-option-roms=off,rtc=on",
          "-enable-kvm",
          "-cpu",
          "host,-arch-capabilities",
          "-m",
          "128M",
          "-smp",
          "1",
          "-nodefaults",
          "-no-user-config",
          "-nographic",
          "-serial",
          "stdio",
          "-no-reboot",
          "-kernel",
          FLOTILLA_PROBE_ELF,
          "-device",
          "isa-debug-exit,iobase=0xf4,iosize=1",
          "-global",
          "virtio-mmio.force-legacy=false"};
}

// One probe guest under QEMU and its console.
struct Guest {
  std::unique_ptr<GuestConsole> console;
  Mac mac{};
  std::string ip;

  CommandOutput run(const std::string& cmd) {
    auto r = console->run_command(cmd, kCommandTimeout);
    EXPECT_TRUE(r) << "no status line for '" << cmd << "'; output:\n" << console->output();
    return r ? *r : CommandOutput{{}, "(timeout)"};
  }

  // A command that must succeed with exactly one line matching `re`; returns the groups.
  std::vector<std::string> run_ok(const std::string& cmd, const std::string& re) {
    CommandOutput r = run(cmd);
    EXPECT_TRUE(r.ok()) << cmd << " -> " << r.status << "\n" << console->output();
    EXPECT_EQ(r.lines.size(), 1u) << "output of '" << cmd << "':\n" << console->output();
    if (r.lines.size() != 1) return {};
    std::smatch m;
    if (!std::regex_match(r.lines[0], m, std::regex(re))) {
      ADD_FAILURE() << "'" << r.lines[0] << "' does not match " << re;
      return {};
    }
    return std::vector<std::string>(m.begin(), m.end());
  }

  // Starts a command and returns once the guest has echoed it (it is then running).
  void start(const std::string& cmd) {
    ASSERT_TRUE(console->send_line(cmd));
    std::string echo = std::regex_replace(cmd, std::regex(R"([.^$|()\[\]{}*+?\\])"), R"(\$&)");
    ASSERT_TRUE(console->wait_for(std::regex(echo + "\r?\n"), kCommandTimeout))
        << "no echo of '" << cmd << "':\n"
        << console->output();
  }

  // Waits for a started command's result line (matching `re`) and status line.
  std::pair<std::vector<std::string>, std::string> finish(const std::string& re) {
    auto m = console->wait_for(std::regex("(" + re + ")\r?\n"), kCommandTimeout);
    EXPECT_TRUE(m) << "no line matching " << re << ":\n" << console->output();
    auto st = console->wait_for(std::regex("(OK|ERR[^\r\n]*)\r?\n"), kCommandTimeout);
    EXPECT_TRUE(st) << "no status line:\n" << console->output();
    if (!m || !st) return {{}, "(timeout)"};
    std::vector<std::string> groups(m->groups.begin() + 1, m->groups.end());
    return {groups, st->str(1)};
  }
};

UniqueFd packet_socket(int ifindex) {
  UniqueFd fd(::socket(AF_PACKET, SOCK_RAW, htons(kTestFrameType)));
  if (!fd) return fd;
  int big = 32 << 20;
  ::setsockopt(fd.get(), SOL_SOCKET, SO_RCVBUFFORCE, &big, sizeof big);
  ::setsockopt(fd.get(), SOL_SOCKET, SO_SNDBUFFORCE, &big, sizeof big);
  sockaddr_ll sll{};
  sll.sll_family = AF_PACKET;
  sll.sll_protocol = htons(kTestFrameType);
  sll.sll_ifindex = ifindex;
  if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&sll), sizeof sll) != 0) return UniqueFd();
  return fd;
}

uint16_t inet_checksum(const uint8_t* p, size_t len) {
  uint32_t sum = 0;
  for (size_t i = 0; i + 1 < len; i += 2) sum += static_cast<uint32_t>(p[i] << 8 | p[i + 1]);
  if (len & 1) sum += static_cast<uint32_t>(p[len - 1]) << 8;
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return static_cast<uint16_t>(~sum);
}

// Pings `ip` from the host with `count` ICMP echo requests over a raw socket (1 s timeout
// each); returns how many replies came back with the right id, sequence and payload.
int host_ping(const std::string& ip, int count, std::string* error) {
  UniqueFd fd(::socket(AF_INET, SOCK_RAW, IPPROTO_ICMP));
  if (!fd) {
    *error = std::string("raw ICMP socket: ") + std::strerror(errno);
    return 0;
  }
  sockaddr_in to{};
  to.sin_family = AF_INET;
  ::inet_pton(AF_INET, ip.c_str(), &to.sin_addr);
  const uint16_t id = static_cast<uint16_t>(::getpid());
  int replies = 0;
  for (int seq = 0; seq < count; ++seq) {
    uint8_t req[8 + 48];
    req[0] = ICMP_ECHO;
    req[1] = 0;
    req[2] = req[3] = 0;
    req[4] = static_cast<uint8_t>(id >> 8);
    req[5] = static_cast<uint8_t>(id);
    req[6] = static_cast<uint8_t>(seq >> 8);
    req[7] = static_cast<uint8_t>(seq);
    for (size_t i = 8; i < sizeof req; ++i) req[i] = static_cast<uint8_t>(i * 7 + seq);
    const uint16_t c = inet_checksum(req, sizeof req);
    req[2] = static_cast<uint8_t>(c >> 8);
    req[3] = static_cast<uint8_t>(c);
    if (::sendto(fd.get(), req, sizeof req, 0, reinterpret_cast<sockaddr*>(&to), sizeof to) < 0) {
      *error = std::string("sendto: ") + std::strerror(errno);
      continue;
    }
    const auto deadline = ConsoleClock::now() + 1s;
    bool replied = false;
    for (;;) {
      auto left =
          std::chrono::duration_cast<std::chrono::milliseconds>(deadline - ConsoleClock::now());
      if (left.count() <= 0) break;
      pollfd p{fd.get(), POLLIN, 0};
      if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) break;
      uint8_t buf[2048];
      ssize_t n = ::recv(fd.get(), buf, sizeof buf, 0);
      if (n < 20) continue;
      const size_t ihl = (buf[0] & 15u) * 4;
      if (static_cast<size_t>(n) < ihl + sizeof req) continue;
      const uint8_t* r = buf + ihl;
      if (r[0] != ICMP_ECHOREPLY || (r[4] << 8 | r[5]) != id || (r[6] << 8 | r[7]) != seq) continue;
      if (inet_checksum(r, static_cast<size_t>(n) - ihl) != 0) continue;
      if (std::memcmp(r + 8, req + 8, sizeof req - 8) != 0) continue;
      ++replies;
      replied = true;
      break;
    }
    if (!replied) *error += "no reply to echo request " + std::to_string(seq) + "; ";
  }
  return replies;
}

int set_txqueuelen(const std::string& link, int len) {
  UniqueFd fd(::socket(AF_INET, SOCK_DGRAM, 0));
  ifreq ifr{};
  std::strncpy(ifr.ifr_name, link.c_str(), IFNAMSIZ - 1);
  ifr.ifr_qlen = len;
  return ::ioctl(fd.get(), SIOCSIFTXQLEN, &ifr);
}

class ProbeQemuNetTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(kNetnsErrno, 0) << "entering a fresh network namespace failed (needs root): "
                              << std::strerror(kNetnsErrno);
    ASSERT_EQ(access(FLOTILLA_PROBE_ELF, R_OK), 0) << "probe image missing: " << FLOTILLA_PROBE_ELF;
    ASSERT_EQ(access("/dev/kvm", R_OK | W_OK), 0) << "/dev/kvm is not usable";
    auto links = network::Links::open();
    ASSERT_TRUE(links.ok()) << links.error().message;
    links_.emplace(std::move(*links));
    auto cidr = network::parse_cidr(kHostCidr);
    ASSERT_TRUE(cidr.ok()) << cidr.error().message;
    auto bridge = links_->ensure_bridge(kBridge, *cidr);
    ASSERT_TRUE(bridge.ok()) << bridge.error().message;
    bridge_index_ = bridge->index;
    guests_.reserve(4);  // boot() hands out references into it
  }

  void TearDown() override {
    guests_.clear();  // kills the QEMUs
    for (const auto& tap : taps_) (void)links_->remove(tap);
  }

  // A TAP in the bridge, and a QEMU probe guest on it with `ip=` on its command line.
  // Guest i with `nics` NICs (each a TAP in the bridge). QEMU microvm fills the virtio-mmio
  // slots from the top, so the LAST -device is the probe's NIC 0: NICs are added in reverse.
  // NIC k of guest i has MAC nic_mac(i, k) and address nic_ip(i, k) (`ip=`, `ip1=`).
  Guest& boot(unsigned i, unsigned nics = 1) {
    Guest g;
    g.mac = nic_mac(i, 0);
    g.ip = nic_ip(i, 0);
    std::vector<std::string> argv = qemu_argv();
    std::string cmdline = "console=ttyS0";
    for (unsigned k = nics; k-- > 0;) {
      const std::string tap = "fltpq" + std::to_string(i) + "n" + std::to_string(k);
      const std::string id = "n" + std::to_string(k);
      (void)links_->remove(tap);
      auto made = network::create_persistent_tap(tap);
      EXPECT_TRUE(made.ok()) << made.error().message;
      taps_.push_back(tap);
      auto enslaved = links_->enslave(tap, kBridge);
      EXPECT_TRUE(enslaved.ok()) << enslaved.error().message;
      // QEMU has no flow control back into a bridge: a burst meets the TAP's queue (500 frames
      // by default) while the receiving guest's vCPU may be descheduled on a busy host. A deep
      // queue keeps the tests about the driver, not about host scheduling.
      EXPECT_EQ(set_txqueuelen(tap, 20000), 0) << std::strerror(errno);
      auto up = links_->set_up(tap);
      EXPECT_TRUE(up.ok()) << up.error().message;
      argv.insert(
          argv.end(),
          {"-netdev", "tap,id=" + id + ",ifname=" + tap + ",script=no,downscript=no,vhost=off",
           "-device", "virtio-net-device,netdev=" + id + ",mac=" + mac_string(nic_mac(i, k))});
      cmdline += (k == 0 ? " ip=" : " ip" + std::to_string(k) + "=") + nic_ip(i, k) + "/24";
    }
    if (nics) argv.insert(argv.end(), {"-append", cmdline});
    auto c = GuestConsole::spawn(argv);
    EXPECT_TRUE(c) << c.error().message;
    if (c) {
      g.console = std::move(c.value());
      EXPECT_TRUE(g.console->wait_for(std::regex("flotilla-probe ready\r?\n"), kBootTimeout))
          << "no boot marker (is qemu-system-x86_64 installed?)\nstdout:\n"
          << g.console->output() << "\nstderr:\n"
          << g.console->stderr_output();
      EXPECT_TRUE(g.console->wait_for(std::regex("probe> "), kCommandTimeout));
    }
    guests_.push_back(std::move(g));
    return guests_.back();
  }

  Mac bridge_mac() {
    UniqueFd fd(::socket(AF_INET, SOCK_DGRAM, 0));
    ifreq ifr{};
    std::strncpy(ifr.ifr_name, kBridge, IFNAMSIZ - 1);
    Mac m{};
    EXPECT_EQ(::ioctl(fd.get(), SIOCGIFHWADDR, &ifr), 0) << std::strerror(errno);
    std::memcpy(m.data(), ifr.ifr_hwaddr.sa_data, 6);
    return m;
  }

  std::optional<network::Links> links_;
  std::vector<std::string> taps_;
  std::vector<Guest> guests_;
  int bridge_index_ = 0;
};

TEST_F(ProbeQemuNetTest, InfoShowsMacAddressLinkAndNoOffloads) {
  Guest& g = boot(0);
  auto m = g.run_ok("net info", kInfoRe);
  ASSERT_EQ(m.size(), 6u);
  EXPECT_EQ(m[1], "0");
  EXPECT_EQ(m[2], mac_string(g.mac));
  EXPECT_EQ(m[3], g.ip + "/24");
  EXPECT_EQ(m[4], "up");
  const uint64_t features = std::stoull(m[5], nullptr, 16);
  EXPECT_TRUE(features & (1ull << 32)) << "VIRTIO_F_VERSION_1";
  EXPECT_TRUE(features & (1ull << 5)) << "VIRTIO_NET_F_MAC";
  EXPECT_TRUE(features & (1ull << 15)) << "VIRTIO_NET_F_MRG_RXBUF";
  EXPECT_TRUE(features & (1ull << 16)) << "VIRTIO_NET_F_STATUS";
  // No offloads: CSUM, GUEST_CSUM, GUEST_TSO4/6, GUEST_UFO, HOST_TSO4/6, HOST_UFO.
  for (unsigned bit : {0u, 1u, 7u, 8u, 10u, 11u, 12u, 14u})
    EXPECT_FALSE(features & (1ull << bit)) << "offload feature bit " << bit << " negotiated";
  g.run_ok("net use 0", "net dev=0");
  EXPECT_EQ(g.run("net use 1").status, "ERR no such net device");
  EXPECT_EQ(g.run("net send zz 1 60").status, "ERR net bad MAC (aa:bb:cc:dd:ee:ff)");
  EXPECT_EQ(g.run("net send 02:00:00:00:00:01 1 59").status, "ERR net SIZE must be 60..1514");
}

TEST_F(ProbeQemuNetTest, TwoNicsAreNumberedBySlotAndGetIpAndIp1) {
  Guest& g = boot(0, 2);
  CommandOutput r = g.run("net info");
  EXPECT_TRUE(r.ok()) << r.status;
  ASSERT_EQ(r.lines.size(), 2u) << g.console->output();
  for (unsigned k = 0; k < 2; ++k) {
    std::smatch m;
    ASSERT_TRUE(std::regex_match(r.lines[k], m, std::regex(kInfoRe))) << r.lines[k];
    EXPECT_EQ(m.str(1), std::to_string(k));
    EXPECT_EQ(m.str(2), mac_string(nic_mac(0, k)));
    EXPECT_EQ(m.str(3), nic_ip(0, k) + "/24");
  }
  // Each NIC answers for its own address, the selected one pings from its own.
  std::string error;
  EXPECT_EQ(host_ping(nic_ip(0, 0), 2, &error), 2) << error;
  EXPECT_EQ(host_ping(nic_ip(0, 1), 2, &error), 2) << error;
  g.run_ok("net use 1", "net dev=1");
  auto m = g.run_ok(std::string("net ping ") + kHostIp + " 2", kPingRe);
  ASSERT_EQ(m.size(), 7u);
  EXPECT_EQ(m[3], "2");
  EXPECT_EQ(g.run("net use 2").status, "ERR no such net device");
}

TEST_F(ProbeQemuNetTest, NoNicIsAnError) {
  Guest& g = boot(0, /*nics=*/0);
  EXPECT_EQ(g.run("net info").status, "ERR no virtio-net device");
  EXPECT_EQ(g.run("net ping 10.77.0.1 1").status, "ERR no virtio-net device");
}

TEST_F(ProbeQemuNetTest, HostPingsTheIdleGuest) {
  Guest& g = boot(0);
  g.run_ok("net info", kInfoRe);  // the NIC is up (the probe brings it up right after boot)
  std::string error;
  const int replies = host_ping(g.ip, 3, &error);
  EXPECT_EQ(replies, 3) << error << "\n" << g.console->output();
  // The guest is still responsive at its prompt after answering.
  g.run_ok("echo still-here", "still-here");
}

TEST_F(ProbeQemuNetTest, GuestPingsTheBridgeAddress) {
  Guest& g = boot(0);
  auto m = g.run_ok(std::string("net ping ") + kHostIp + " 3", kPingRe);
  ASSERT_EQ(m.size(), 7u);
  EXPECT_EQ(m[1], kHostIp);
  EXPECT_EQ(m[2], "3");
  EXPECT_EQ(m[3], "3");
  EXPECT_LE(std::stoull(m[4]), std::stoull(m[5]));
  EXPECT_LE(std::stoull(m[5]), std::stoull(m[6]));
  EXPECT_LT(std::stoull(m[6]), 1000000u);
  // An address nobody has: no ARP reply, an error naming it.
  EXPECT_EQ(g.run("net ping 10.77.0.99 1").status, "ERR net ping no ARP reply from 10.77.0.99");
}

TEST_F(ProbeQemuNetTest, HostFramesReachTheGuestWithoutLoss) {
  Guest& g = boot(0);
  UniqueFd sock = packet_socket(bridge_index_);
  ASSERT_TRUE(sock) << "packet socket on " << kBridge << ": " << std::strerror(errno);
  const Mac src = bridge_mac();
  constexpr uint32_t kCount = 3000;
  g.start("net recv " + std::to_string(kCount) + " 20");
  // Sizes cycle through 60..1514; paced in bursts of 32 so the TAP's queue never overflows
  // (QEMU has no flow control back to a bridge).
  for (uint32_t seq = 0; seq < kCount; ++seq) {
    const size_t size = 60 + (seq * 97) % (kTestFrameMax - 60 + 1);
    auto f = build_test_frame(g.mac, src, seq, kCount, size);
    ASSERT_EQ(::send(sock.get(), f.data(), f.size(), 0), static_cast<ssize_t>(f.size()))
        << std::strerror(errno);
    if (seq % 32 == 31) std::this_thread::sleep_for(1ms);
  }
  auto [m, status] = g.finish(kRecvRe);
  EXPECT_EQ(status, "OK");
  ASSERT_EQ(m.size(), 9u);
  EXPECT_EQ(m[1], std::to_string(kCount)) << "received";
  EXPECT_EQ(m[2], "0") << "lost";
  EXPECT_EQ(m[3], "0") << "bad";
  EXPECT_EQ(m[4], "0") << "out_of_order";

  // A corrupted frame (checksum broken) and a frame with a wrong magic are counted as bad.
  g.start("net recv 3 5");
  auto good0 = build_test_frame(g.mac, src, 0, 3, 200);
  auto bad_sum = build_test_frame(g.mac, src, 1, 3, 200);
  bad_sum[100] ^= 0x55;
  auto bad_magic = build_test_frame(g.mac, src, 1, 3, 200);
  bad_magic[14] ^= 1;
  auto good1 = build_test_frame(g.mac, src, 1, 3, 200);
  auto good2 = build_test_frame(g.mac, src, 2, 3, 1514);
  for (auto* f : {&good0, &bad_sum, &bad_magic, &good1, &good2})
    ASSERT_EQ(::send(sock.get(), f->data(), f->size(), 0), static_cast<ssize_t>(f->size()));
  auto [m2, status2] = g.finish(kRecvRe);
  EXPECT_EQ(status2, "ERR net recv incomplete");
  ASSERT_EQ(m2.size(), 9u);
  EXPECT_EQ(m2[1], "3");
  EXPECT_EQ(m2[2], "0");
  EXPECT_EQ(m2[3], "2");
  EXPECT_EQ(m2[4], "0");

  // Nothing arrives: the wait ends at its deadline with everything lost.
  g.start("net recv 5 1");
  auto [m3, status3] = g.finish(kRecvRe);
  EXPECT_EQ(status3, "ERR net recv incomplete");
  ASSERT_EQ(m3.size(), 9u);
  EXPECT_EQ(m3[1], "0");
  EXPECT_EQ(m3[2], "5");
}

// Collects valid test frames arriving on a packet socket until `want` came or the deadline.
struct Collected {
  std::map<uint32_t, unsigned> seqs;  // seq -> times seen
  uint64_t valid = 0, invalid = 0;
  std::vector<Mac> sources;
  std::vector<size_t> sizes;
};

Collected collect(int fd, uint64_t want, ConsoleClock::time_point deadline,
                  const std::atomic<bool>* stop = nullptr) {
  Collected c;
  std::vector<uint8_t> buf(4096);
  while (c.valid < want && ConsoleClock::now() < deadline && !(stop && *stop)) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 50) <= 0) continue;
    ssize_t n = ::recv(fd, buf.data(), buf.size(), MSG_DONTWAIT);
    if (n <= 0) continue;
    auto info = verify_test_frame(std::span<const uint8_t>(buf.data(), static_cast<size_t>(n)));
    if (!info) {
      ++c.invalid;
      continue;
    }
    ++c.valid;
    ++c.seqs[info->seq];
    if (c.sources.empty() || c.sources.back() != info->src) c.sources.push_back(info->src);
    if (c.sizes.empty() || c.sizes.back() != info->size) c.sizes.push_back(info->size);
  }
  return c;
}

TEST_F(ProbeQemuNetTest, GuestFramesReachTheHostVerified) {
  Guest& g = boot(0);
  UniqueFd sock = packet_socket(bridge_index_);
  ASSERT_TRUE(sock) << "packet socket on " << kBridge << ": " << std::strerror(errno);
  const std::string dst = mac_string(bridge_mac());  // delivered locally to the bridge
  for (uint32_t size : {60u, 777u, 1514u}) {
    constexpr uint64_t kCount = 1000;
    Collected c;
    std::thread reader([&] { c = collect(sock.get(), kCount, ConsoleClock::now() + 20s); });
    auto m = g.run_ok("net send " + dst + " " + std::to_string(kCount) + " " + std::to_string(size),
                      kSendRe);
    reader.join();
    ASSERT_EQ(m.size(), 7u);
    EXPECT_EQ(m[1], std::to_string(kCount));
    EXPECT_EQ(m[2], std::to_string(size));
    EXPECT_GT(std::stoull(m[4]), 0u) << "frames_per_s";
    EXPECT_EQ(c.valid, kCount) << "size " << size << ": invalid frames " << c.invalid;
    EXPECT_EQ(c.invalid, 0u);
    EXPECT_EQ(c.seqs.size(), kCount) << "distinct sequence numbers";
    if (!c.seqs.empty()) {
      EXPECT_EQ(c.seqs.begin()->first, 0u);
      EXPECT_EQ(c.seqs.rbegin()->first, kCount - 1);
    }
    ASSERT_EQ(c.sources.size(), 1u);
    EXPECT_EQ(c.sources[0], g.mac);
    ASSERT_EQ(c.sizes.size(), 1u);
    EXPECT_EQ(c.sizes[0], size);
  }

  // bench: frames flow for a second; whatever arrives is valid.
  std::atomic<bool> stop{false};
  Collected c;
  std::thread reader(
      [&] { c = collect(sock.get(), UINT64_MAX, ConsoleClock::now() + 20s, &stop); });
  auto m = g.run_ok("net bench " + dst + " 1 1514", kBenchRe);
  stop = true;
  reader.join();
  ASSERT_EQ(m.size(), 7u);
  EXPECT_EQ(m[1], "1514");
  EXPECT_GT(std::stoull(m[2]), 100u) << "frames";
  EXPECT_GE(std::stoull(m[3]), 1000u) << "ms";
  EXPECT_GT(c.valid, 100u);
  EXPECT_EQ(c.invalid, 0u);
  std::cout << "[ figures  ] QEMU virtio-net guest -> host bench: " << m[0] << "\n";
}

TEST_F(ProbeQemuNetTest, TwoGuestsPingEachOtherAndMoveNumberedFrames) {
  Guest* ga = &boot(0);
  Guest* gb = &boot(1);
  auto pa = ga->run_ok("net ping " + gb->ip + " 3", kPingRe);
  ASSERT_EQ(pa.size(), 7u);
  EXPECT_EQ(pa[3], "3");
  auto pb = gb->run_ok("net ping " + ga->ip + " 3", kPingRe);
  ASSERT_EQ(pb.size(), 7u);
  EXPECT_EQ(pb[3], "3");
  std::cout << "[ figures  ] QEMU guest -> idle guest: " << pa[0] << " / " << pb[0] << "\n";

  // A → B, then B → A: numbered frames, none lost, none damaged, in order.
  for (auto [from, to] : {std::pair{ga, gb}, std::pair{gb, ga}}) {
    constexpr uint32_t kCount = 1000;
    to->start("net recv " + std::to_string(kCount) + " 20");
    auto s = from->run_ok(
        "net send " + mac_string(to->mac) + " " + std::to_string(kCount) + " 1514", kSendRe);
    ASSERT_EQ(s.size(), 7u);
    auto [m, status] = to->finish(kRecvRe);
    EXPECT_EQ(status, "OK") << to->console->output();
    ASSERT_EQ(m.size(), 9u);
    EXPECT_EQ(m[1], std::to_string(kCount));
    EXPECT_EQ(m[2], "0");
    EXPECT_EQ(m[3], "0");
    EXPECT_EQ(m[4], "0");
    std::cout << "[ figures  ] QEMU guest -> guest: " << s[0] << " / " << m[0] << "\n";
  }
}

}  // namespace
}  // namespace flotilla::test
