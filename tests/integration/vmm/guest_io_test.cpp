// virtio-rng through our device; a hostile guest (every port, unmapped MMIO) keeps the
// monitor alive and the unknown-access counters show it.
#include <set>

#include "tests/integration/vmm/vmm_harness.h"

namespace flotilla::vmm::test {
namespace {

TEST(VmmGuestIo, RngThroughOurVirtioRng) {
  auto c = start_vmm({"--rng"});
  ASSERT_TRUE(c);
  ASSERT_TRUE(wait_ready(*c)) << c->output();
  std::set<std::string> seen;
  for (int n : {1, 64, 4096}) {
    auto r = c->run_command("rng " + std::to_string(n), 20s);
    ASSERT_TRUE(r && r->ok()) << c->output();
    ASSERT_FALSE(r->lines.empty());
    EXPECT_EQ(field(r->lines[0], "bytes"), n);
    const auto hex = r->lines[0].substr(r->lines[0].find("hex=") + 4);
    EXPECT_EQ(hex.size(), static_cast<size_t>(2 * n));
    if (n == 4096) {
      EXPECT_GT(std::set<char>(hex.begin(), hex.end()).size(), 14u);
    }
    seen.insert(hex);
  }
  EXPECT_EQ(seen.size(), 3u);
}

TEST(VmmGuestIo, NoRngDeviceIsReported) {
  auto c = start_vmm({});
  ASSERT_TRUE(c);
  ASSERT_TRUE(wait_ready(*c)) << c->output();
  auto r = c->run_command("rng 16", 20s);
  ASSERT_TRUE(r) << c->output();
  EXPECT_EQ(r->status, "ERR no virtio-rng device");
}

uint64_t unknown(ControlClient& ctl, const char* bus) {
  auto s = ctl.request({{"cmd", "stats"}});
  if (!s || (*s)["ok"] != true) return 0;
  return (*s)["stats"]["unknown_accesses"][bus].get<uint64_t>();
}

TEST(VmmGuestIo, HostilePortsAndMmioKeepTheMonitorAlive) {
  TempDir dir;
  const std::string sock = dir.file("ctl.sock");
  auto c = start_vmm({"--control-socket", sock});
  ASSERT_TRUE(c);
  ASSERT_TRUE(wait_ready(*c)) << c->output();
  auto ctl = ControlClient::connect(sock);
  ASSERT_TRUE(ctl);
  const uint64_t pio0 = unknown(*ctl, "pio");
  const uint64_t mmio0 = unknown(*ctl, "mmio");

  auto ports = c->run_command("ports", 120s);
  ASSERT_TRUE(ports && ports->ok()) << c->output();
  const long long touched = field(ports->lines.back(), "touched");
  EXPECT_GT(touched, 60000);
  const uint64_t pio1 = unknown(*ctl, "pio");
  EXPECT_GT(pio1, pio0 + 60000) << "unknown port accesses not counted";

  auto mmio = c->run_command("mmio", 60s);
  ASSERT_TRUE(mmio && mmio->ok()) << c->output();
  EXPECT_GT(field(mmio->lines.back(), "touched"), 0);
  EXPECT_GT(unknown(*ctl, "mmio"), mmio0);

  // Still alive and serving.
  auto echo = c->run_command("echo still here", 10s);
  ASSERT_TRUE(echo && echo->ok());
  auto status = ctl->request({{"cmd", "status"}});
  ASSERT_TRUE(status);
  EXPECT_EQ((*status)["state"], "running");
}

}  // namespace
}  // namespace flotilla::vmm::test
