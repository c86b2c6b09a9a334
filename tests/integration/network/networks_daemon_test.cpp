// Networks through a real flotillad, inside a network and mount namespace this test process
// enters before main (the daemon and its monitors inherit them, so every bridge and TAP vanishes
// with the test and no packet leaves it). The kernel's view (/sys/class/net, `ip addr`) is the
// independent check of what the daemon says it did.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "tests/integration/api/openapi_check.h"
#include "tests/integration/supervisor/fleet_harness.h"
#include "tests/support/netns.h"

namespace flotilla::supervisor_test {
namespace {

namespace fs = std::filesystem;

const int kNamespaceErrno = flotilla::test::enter_netns_with_sysfs();

bool link_exists(const std::string& name) {
  return fs::exists("/sys/class/net/" + name);
}

// The bridge a link is enslaved to, or "".
std::string master_of(const std::string& link) {
  std::error_code ec;
  auto target = fs::read_symlink("/sys/class/net/" + link + "/master", ec);
  return ec ? "" : target.filename().string();
}

std::string shell(const std::string& command) {
  std::string out;
  FILE* p = ::popen((command + " 2>&1").c_str(), "r");
  if (p == nullptr) return out;
  char buf[512];
  while (std::fgets(buf, sizeof buf, p) != nullptr) out += buf;
  ::pclose(p);
  return out;
}

// Every link whose name starts with the VM's TAP prefix "flt-<8 hex>-".
std::vector<std::string> taps_of(const std::string& vm_id) {
  std::string hex;
  for (char c : vm_id) {
    if (hex.size() == 8) break;
    if (std::isxdigit(static_cast<unsigned char>(c))) hex.push_back(c);
  }
  std::vector<std::string> out;
  for (const auto& e : fs::directory_iterator("/sys/class/net")) {
    const std::string name = e.path().filename().string();
    if (name.rfind("flt-" + hex + "-", 0) == 0) out.push_back(name);
  }
  return out;
}

// Sends a DHCPDISCOVER for `mac` out of `ifname` (a veth on the bridge, without an address) and
// returns the address the server offers, or "" after `timeout`.
std::string dhcp_offer(const std::string& ifname, const std::string& mac,
                       std::chrono::milliseconds timeout) {
  const int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return "";
  const int on = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_BROADCAST, &on, sizeof on);
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
  ::setsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, ifname.c_str(), ifname.size());
  sockaddr_in local{};
  local.sin_family = AF_INET;
  local.sin_port = htons(68);
  std::string offered;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&local), sizeof local) == 0) {
    std::vector<uint8_t> p(240, 0);
    p[0] = 1;  // BOOTREQUEST
    p[1] = 1;  // Ethernet
    p[2] = 6;
    const uint8_t xid[4] = {0x46, 0x4c, 0x54, 0x31};
    std::memcpy(&p[4], xid, 4);
    p[10] = 0x80;  // broadcast the reply: we have no address yet
    for (int i = 0; i < 6; ++i)
      p[28 + i] = static_cast<uint8_t>(std::stoi(mac.substr(i * 3, 2), nullptr, 16));
    const uint8_t cookie[4] = {99, 130, 83, 99};
    std::memcpy(&p[236], cookie, 4);
    for (uint8_t b : {53, 1, 1, 255}) p.push_back(b);  // DHCPDISCOVER
    sockaddr_in server{};
    server.sin_family = AF_INET;
    server.sin_port = htons(67);
    server.sin_addr.s_addr = INADDR_BROADCAST;
    const auto deadline = Clock::now() + timeout;
    while (offered.empty() && Clock::now() < deadline) {
      ::sendto(fd, p.data(), p.size(), 0, reinterpret_cast<sockaddr*>(&server), sizeof server);
      pollfd pfd{fd, POLLIN, 0};
      if (::poll(&pfd, 1, 500) != 1) continue;
      uint8_t r[1500];
      const ssize_t n = ::recv(fd, r, sizeof r, 0);
      if (n < 240 || r[0] != 2 || std::memcmp(&r[4], xid, 4) != 0) continue;
      char text[INET_ADDRSTRLEN] = {};
      ::inet_ntop(AF_INET, &r[16], text, sizeof text);  // yiaddr
      offered = text;
    }
  }
  ::close(fd);
  return offered;
}

// The same from a child process in a network namespace of its own, where `peer` is moved: a
// DHCP client has no address, and in ours the kernel would give the packet the bridge's address
// as its source (and then drop the server's view of it as a martian).
std::string dhcp_offer_from_fresh_namespace(const std::string& peer, const std::string& mac,
                                            std::chrono::milliseconds timeout) {
  int ready[2];
  int go[2];
  int result[2];
  if (::pipe(ready) != 0 || ::pipe(go) != 0 || ::pipe(result) != 0) return "";
  const pid_t pid = ::fork();
  if (pid == 0) {
    char c = 0;
    const bool ok = ::unshare(CLONE_NEWNET) == 0;
    (void)!::write(ready[1], ok ? "y" : "n", 1);
    if (!ok || ::read(go[0], &c, 1) != 1) ::_exit(1);
    shell("ip link set " + peer + " up");
    const std::string ip = dhcp_offer(peer, mac, timeout);
    (void)!::write(result[1], ip.data(), ip.size());
    ::_exit(0);
  }
  ::close(ready[1]);
  ::close(result[1]);
  char c = 0;
  std::string ip;
  if (::read(ready[0], &c, 1) == 1 && c == 'y') {
    shell("ip link set " + peer + " netns " + std::to_string(pid));
    (void)!::write(go[1], "g", 1);
    char buf[64];
    for (ssize_t n; (n = ::read(result[0], buf, sizeof buf)) > 0;) ip.append(buf, n);
  }
  ::close(go[1]);
  ::waitpid(pid, nullptr, 0);
  for (int fd : {ready[0], go[0], result[0]}) ::close(fd);
  return ip;
}

bool wait_until(const std::function<bool()>& done, std::chrono::milliseconds timeout = 10s) {
  const auto deadline = Clock::now() + timeout;
  while (Clock::now() < deadline) {
    if (done()) return true;
    std::this_thread::sleep_for(20ms);
  }
  return done();
}

class NetworksTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(kNamespaceErrno, 0) << "unshare/mount: " << std::strerror(kNamespaceErrno)
                                  << " (the test needs root)";
    ASSERT_EQ(shell("ip link set lo up"), "");
    daemon_ = start_daemon();
    ASSERT_NE(daemon_, nullptr);
    fleet_ = std::make_unique<Fleet>(*daemon_);
  }
  void TearDown() override {
    if (daemon_ && daemon_->running()) {
      EXPECT_EQ(daemon_->stop(SIGTERM), 0);
    }
    // DHCP servers outlive flotillad by design (like monitors); the test's must not.
    if (daemon_) shell("pkill -f " + daemon_->state_dir() + "/network[s]/");
  }

  HttpResponse post(const std::string& path, const json& body) {
    return daemon_->client().post(path, body.dump());
  }
  static std::string code(const HttpResponse& r) {
    return r.json().contains("error") ? r.json()["error"].value("code", "") : "";
  }
  static std::string field(const HttpResponse& r) {
    return r.json().contains("error") ? r.json()["error"].value("field", "") : "";
  }

  std::unique_ptr<FlotilladProcess> daemon_;
  std::unique_ptr<Fleet> fleet_;
};

TEST_F(NetworksTest, CreateShowsTheBridgeAndDeleteRemovesIt) {
  auto r = post("/v1/networks", {{"name", "lan"}, {"cidr", "10.20.0.1/24"}});
  ASSERT_EQ(r.status, 201) << r.body;
  const json n = r.json();
  EXPECT_EQ(n.value("cidr", ""), "10.20.0.0/24");
  EXPECT_EQ(n.value("host_address", ""), "10.20.0.1");
  EXPECT_EQ(n.value("mode", ""), "isolated");
  EXPECT_FALSE(n.value("bridge_adopted", true));
  const std::string bridge = n.value("bridge", "");
  EXPECT_EQ(bridge.rfind("flb-", 0), 0u) << bridge;
  ASSERT_TRUE(link_exists(bridge));
  EXPECT_TRUE(fs::exists("/sys/class/net/" + bridge + "/bridge"));  // it is a bridge
  EXPECT_NE(shell("ip -4 -o addr show dev " + bridge).find("10.20.0.1/24"), std::string::npos);
  EXPECT_EQ(daemon_->client().get("/v1/networks/lan").json().value("id", ""), n.value("id", ""));
  EXPECT_EQ(daemon_->client().get("/v1/networks").json()["items"].size(), 1u);

  EXPECT_EQ(daemon_->client().del("/v1/networks/lan").status, 204);
  EXPECT_FALSE(link_exists(bridge));
  EXPECT_EQ(daemon_->client().get("/v1/networks/lan").status, 404);
}

TEST_F(NetworksTest, BadInputIsRefusedWithAClearErrorAndChangesNothing) {
  for (const char* cidr : {"10.20.0.1/33", "300.1.1.1/24", "10.20.0.1", "10.20.0.1/4", "x"}) {
    auto r = post("/v1/networks", {{"name", "bad"}, {"cidr", cidr}});
    EXPECT_EQ(r.status, 422) << cidr << ": " << r.body;
    EXPECT_EQ(field(r), "cidr") << r.body;
  }
  ASSERT_EQ(post("/v1/networks", {{"name", "lan"}, {"cidr", "10.20.0.1/24"}}).status, 201);
  auto overlap = post("/v1/networks", {{"name", "other"}, {"cidr", "10.20.0.129/25"}});
  EXPECT_EQ(overlap.status, 409) << overlap.body;
  EXPECT_NE(overlap.body.find("overlaps network 'lan'"), std::string::npos) << overlap.body;
  EXPECT_EQ(post("/v1/networks", {{"name", "lan"}, {"cidr", "10.21.0.1/24"}}).status, 409);
  EXPECT_EQ(
      post("/v1/networks", {{"name", "u"}, {"cidr", "10.22.0.1/24"}, {"mode", "uplink"}}).status,
      422);
  auto no_iface = post("/v1/networks", {{"name", "u"},
                                        {"cidr", "10.22.0.1/24"},
                                        {"mode", "uplink"},
                                        {"uplink_interface", "nosuch0"}});
  EXPECT_EQ(no_iface.status, 422) << no_iface.body;
  EXPECT_EQ(post("/v1/networks", {{"name", "x"}, {"cidr", "10.23.0.1/24"}, {"extra", 1}}).status,
            422);
  EXPECT_EQ(daemon_->client().get("/v1/networks").json()["items"].size(), 1u);

  // NICs: a multicast MAC, a MAC or an IP another NIC has, an IP outside the range or the
  // host's own, a network that does not exist.
  const std::string a = fleet_->create("a", {{"nics", {{{"network", "lan"}}}}});
  ASSERT_FALSE(a.empty());
  const json nic = fleet_->vm(a)["nics"][0];
  const std::string mac = nic.value("mac", "");
  EXPECT_EQ(mac.rfind("02:f1:0a:", 0), 0u) << nic.dump();
  EXPECT_EQ(nic.value("ip", ""), "10.20.0.2");
  struct Case {
    json nic;
    int status;
    std::string field;
  };
  const Case cases[] = {
      {{{"network", "lan"}, {"mac", "01:00:5e:00:00:01"}}, 422, "nics[0].mac"},
      {{{"network", "lan"}, {"mac", mac}}, 409, "nics[0].mac"},
      {{{"network", "lan"}, {"ip", "10.20.0.2"}}, 409, "nics[0].ip"},
      {{{"network", "lan"}, {"ip", "10.99.0.2"}}, 422, "nics[0].ip"},
      {{{"network", "lan"}, {"ip", "10.20.0.255"}}, 422, "nics[0].ip"},
      {{{"network", "lan"}, {"ip", "10.20.0.1"}}, 409, "nics[0].ip"},
      {{{"network", "lan"}, {"ip", "10.20.0"}}, 422, "nics[0].ip"},
      {{{"network", "nosuch"}}, 422, "nics[0].network"},
  };
  for (const Case& c : cases) {
    auto r = post("/v1/vms", {{"name", "b"}, {"boot", {{"kernel", kProbe}}}, {"nics", {c.nic}}});
    EXPECT_EQ(r.status, c.status) << c.nic.dump() << ": " << r.body;
    EXPECT_EQ(field(r), c.field) << r.body;
  }
  EXPECT_EQ(daemon_->client().get("/v1/vms/b").status, 404);  // none was created

  // The network is in use: no delete until its NICs are gone.
  auto busy = daemon_->client().del("/v1/networks/lan");
  EXPECT_EQ(busy.status, 409) << busy.body;
  EXPECT_EQ(code(busy), "invalid_state");
  ASSERT_EQ(daemon_->client().del("/v1/vms/a/nics/0").status, 200);
  EXPECT_EQ(daemon_->client().del("/v1/networks/lan").status, 204);
}

TEST_F(NetworksTest, NicsKeepTheirLeasesAndLimitsAcrossUpdates) {
  ASSERT_EQ(post("/v1/networks", {{"name", "lan"}, {"cidr", "10.20.0.0/29"}}).status, 201);
  const std::string a = fleet_->create("a");
  auto attached = post("/v1/vms/a/nics", {{"network", "lan"}, {"ip", "10.20.0.5"}});
  ASSERT_EQ(attached.status, 200) << attached.body;
  const json nic = attached.json()["nics"][0];
  EXPECT_EQ(nic.value("ip", ""), "10.20.0.5");
  // No host address on a network given as its network address: .1 is leasable.
  auto second = post("/v1/vms/a/nics", {{"network", "lan"}});
  ASSERT_EQ(second.status, 200) << second.body;
  EXPECT_EQ(second.json()["nics"][1].value("ip", ""), "10.20.0.1");

  auto limited =
      daemon_->client().patch("/v1/vms/a/nics/0", R"({"limits":{"tx":{"bytes_per_sec":1250000}}})");
  ASSERT_EQ(limited.status, 200) << limited.body;
  EXPECT_EQ(limited.json()["nics"][0]["limits"]["tx"].value("bytes_per_sec", 0), 1250000);
  // A PATCH of something else keeps every NIC's MAC, IP and limits.
  auto patched = daemon_->client().patch("/v1/vms/a", R"({"vcpus":2})");
  ASSERT_EQ(patched.status, 200) << patched.body;
  const json kept = patched.json()["nics"][0];
  EXPECT_EQ(kept.value("mac", ""), nic.value("mac", ""));
  EXPECT_EQ(kept.value("ip", ""), "10.20.0.5");
  EXPECT_EQ(kept["limits"]["tx"].value("bytes_per_sec", 0), 1250000);
  EXPECT_EQ(daemon_->client().patch("/v1/vms/a/nics/7", R"({"limits":{}})").status, 404);
  EXPECT_EQ(daemon_->client().patch("/v1/vms/a/nics/0", R"({"limits":{"tx":{"x":1}}})").status,
            422);

  // /29: .1-.6 are host addresses; .1 and .5 are taken, four are left.
  for (int i = 0; i < 4; ++i) {
    ASSERT_EQ(post("/v1/vms/a/nics", {{"network", "lan"}}).status, 200) << i;
  }
  auto full = post("/v1/vms/a/nics", {{"network", "lan"}});
  EXPECT_EQ(full.status, 409) << full.body;
  EXPECT_NE(full.body.find("no free address"), std::string::npos) << full.body;
}

TEST_F(NetworksTest, UplinkEnslavesTheInterfaceAndAnAdoptedBridgeStays) {
  ASSERT_EQ(shell("ip link add up0 type veth peer name up1"), "");
  auto up = post(
      "/v1/networks",
      {{"name", "wan"}, {"cidr", "10.30.0.1/24"}, {"mode", "uplink"}, {"uplink_interface", "up0"}});
  ASSERT_EQ(up.status, 201) << up.body;
  EXPECT_EQ(master_of("up0"), up.json().value("bridge", ""));

  ASSERT_EQ(shell("ip link add br-mine type bridge"), "");
  auto adopted =
      post("/v1/networks", {{"name", "mine"}, {"cidr", "10.31.0.1/24"}, {"bridge", "br-mine"}});
  ASSERT_EQ(adopted.status, 201) << adopted.body;
  EXPECT_TRUE(adopted.json().value("bridge_adopted", false));
  EXPECT_EQ(daemon_->client().del("/v1/networks/mine").status, 204);
  EXPECT_TRUE(link_exists("br-mine"));  // not ours to remove
  ASSERT_EQ(shell("ip link add notabridge type veth peer name notabridge1"), "");
  auto wrong =
      post("/v1/networks", {{"name", "w"}, {"cidr", "10.32.0.1/24"}, {"bridge", "notabridge"}});
  EXPECT_EQ(wrong.status, 409) << wrong.body;
  EXPECT_TRUE(link_exists("notabridge"));
}

TEST_F(NetworksTest, ResponsesMatchTheOpenApiDocument) {
  std::ifstream in(std::string(FLOTILLA_SOURCE_DIR) + "/api/openapi.json");
  const test::OpenApiChecker checker(json::parse(in, nullptr, false));
  auto api = daemon_->client();
  auto check = [&](const std::string& m, const std::string& pattern, const HttpResponse& r) {
    ASSERT_NE(r.status, 0) << r.error;
    EXPECT_EQ(checker.check(m, pattern, r), "") << r.body;
  };
  check("POST", "/v1/networks", post("/v1/networks", {{"name", "lan"}, {"cidr", "10.50.0.1/24"}}));
  check("POST", "/v1/networks", post("/v1/networks", {{"name", "lan2"}, {"cidr", "10.50.0.1/24"}}));
  check("GET", "/v1/networks", api.get("/v1/networks"));
  check("GET", "/v1/networks/{id}", api.get("/v1/networks/lan"));
  check("POST", "/v1/vms",
        post("/v1/vms",
             {{"name", "a"}, {"boot", {{"kernel", kProbe}}}, {"nics", {{{"network", "lan"}}}}}));
  check("POST", "/v1/vms/{id}/nics", post("/v1/vms/a/nics", {{"network", "lan"}}));
  check("POST", "/v1/vms/{id}/nics",
        post("/v1/vms/a/nics", {{"network", "lan"}, {"ip", "10.50.0.2"}}));
  check("PATCH", "/v1/vms/{id}/nics/{index}",
        api.patch("/v1/vms/a/nics/1", R"({"limits":{"rx":{"packets_per_sec":10}}})"));
  check("GET", "/v1/vms/{id}", api.get("/v1/vms/a"));
  check("GET", "/v1/vms", api.get("/v1/vms"));
  check("DELETE", "/v1/networks/{id}", api.del("/v1/networks/lan"));
  check("DELETE", "/v1/vms/{id}/nics/{index}", api.del("/v1/vms/a/nics/1"));
  check("DELETE", "/v1/vms/{id}/nics/{index}", api.del("/v1/vms/a/nics/0"));
  check("DELETE", "/v1/networks/{id}", api.del("/v1/networks/lan"));
}

// Linux guests ask DHCP: the network's dnsmasq offers each NIC the address leased to its MAC.
TEST_F(NetworksTest, DhcpOffersEachNicItsLeasedAddress) {
  auto n = post("/v1/networks", {{"name", "lan"}, {"cidr", "10.60.0.1/24"}});
  ASSERT_EQ(n.status, 201) << n.body;
  const std::string a =
      fleet_->create("a", {{"nics", {{{"network", "lan"}, {"ip", "10.60.0.77"}}}}});
  ASSERT_FALSE(a.empty());
  const std::string mac = fleet_->vm(a)["nics"][0].value("mac", "");
  fleet_->act_and_wait(a, "start");  // the NIC's lease is served from its start on
  ASSERT_EQ(shell("ip link add dhc0 type veth peer name dhc1"), "");
  ASSERT_EQ(shell("ip link set dhc0 master " + n.json().value("bridge", "") + " up"), "");
  EXPECT_EQ(dhcp_offer_from_fresh_namespace("dhc1", mac, 10s), "10.60.0.77")
      << shell("cat " + daemon_->state_dir() + "/networks/*/dnsmasq.log " + daemon_->state_dir() +
               "/networks/*/hosts");
  ASSERT_EQ(shell("ip link add dhc2 type veth peer name dhc3"), "");
  ASSERT_EQ(shell("ip link set dhc2 master " + n.json().value("bridge", "") + " up"), "");
  EXPECT_EQ(dhcp_offer_from_fresh_namespace("dhc3", "02:00:00:00:00:09", 2s), "");  // no lease
  fleet_->act_and_wait(a, "force-stop");
  ASSERT_EQ(daemon_->client().del("/v1/vms/a").status, 204);
  ASSERT_EQ(daemon_->client().del("/v1/networks/lan").status, 204);
  // "network[s]" so the pattern does not match the shell that runs pgrep.
  const std::string servers = "pgrep -f " + daemon_->state_dir() + "/network[s]/";
  EXPECT_TRUE(wait_until([&] { return shell(servers).empty(); }))
      << "dnsmasq still runs after its network went";
}

// Two probe guests on one network: each gets its address on the command line, reaches the
// host's bridge address and the other guest; TAPs come and go with the monitors, however they
// end, and stale ones are removed when flotillad starts.
TEST_F(NetworksTest, GuestsReachEachOtherAndTapsFollowTheirMonitors) {
  auto n = post("/v1/networks", {{"name", "lan"}, {"cidr", "10.40.0.1/24"}});
  ASSERT_EQ(n.status, 201) << n.body;
  const std::string bridge = n.json().value("bridge", "");
  const std::string a = fleet_->create("a", {{"nics", {{{"network", "lan"}}}}});
  const std::string b =
      fleet_->create("b", {{"nics", {{{"network", "lan"}, {"ip", "10.40.0.9"}}}}});
  ASSERT_FALSE(a.empty() || b.empty());
  fleet_->act_and_wait(a, "start");
  fleet_->act_and_wait(b, "start");
  ASSERT_TRUE(fleet_->wait_console(a, "flotilla-probe ready")) << fleet_->console_tail(a);
  ASSERT_TRUE(fleet_->wait_console(b, "flotilla-probe ready")) << fleet_->console_tail(b);

  ASSERT_EQ(taps_of(a).size(), 1u);
  EXPECT_EQ(master_of(taps_of(a)[0]), bridge);
  const std::string info = fleet_->run_on_console(a, "net info");
  EXPECT_NE(info.find("ip=10.40.0.2/24"), std::string::npos) << info;
  EXPECT_NE(info.find(fleet_->vm(a)["nics"][0].value("mac", "?")), std::string::npos) << info;
  const std::string to_host = fleet_->run_on_console(a, "net ping 10.40.0.1 3");
  EXPECT_GE(probe_field(to_host, "received"), 1) << to_host;
  const std::string to_b = fleet_->run_on_console(a, "net ping 10.40.0.9 3");
  EXPECT_GE(probe_field(to_b, "received"), 1) << to_b;

  // Counters in the API and /metrics; a live limit reaches the running monitor.
  auto limited = daemon_->client().patch(
      "/v1/vms/a/nics/0", R"({"limits":{"rx":{"bytes_per_sec":2500000,"packets_per_sec":900}}})");
  ASSERT_EQ(limited.status, 200) << limited.body;
  const json stats = daemon_->client().get("/v1/vms/a/stats").json();
  const json nic0 = stats["monitor"]["nics"][0];
  EXPECT_EQ(nic0["rx_limit"].value("bytes_per_sec", 0), 2500000) << stats.dump();
  EXPECT_EQ(nic0["rx_limit"].value("packets_per_sec", 0), 900);
  EXPECT_GT(nic0.value("tx_packets", 0), 0) << stats.dump();
  const std::string metrics = daemon_->client().get("/metrics").body;
  EXPECT_NE(metrics.find("flotilla_vm_nic_packets_total{vm=\"a\""), std::string::npos);
  // Running: NICs cannot be attached or detached.
  EXPECT_EQ(post("/v1/vms/a/nics", {{"network", "lan"}}).status, 409);
  EXPECT_EQ(daemon_->client().del("/v1/vms/a/nics/0").status, 409);

  // A stop removes A's TAP; SIGKILL of B's monitor removes B's.
  fleet_->act_and_wait(a, "stop");
  EXPECT_TRUE(wait_until([&] { return taps_of(a).empty(); })) << taps_of(a).size();
  const pid_t pid_b = static_cast<pid_t>(fleet_->monitor_pid(b));
  ASSERT_GT(pid_b, 0);
  ASSERT_EQ(::kill(pid_b, SIGKILL), 0);
  EXPECT_TRUE(fleet_->wait_state(b, "crashed"));
  EXPECT_TRUE(wait_until([&] { return taps_of(b).empty(); })) << taps_of(b).size();

  // flotillad down while a guest dies: the next flotillad removes the TAP it left.
  fleet_->act_and_wait(a, "start");
  ASSERT_EQ(taps_of(a).size(), 1u);
  const pid_t pid_a = static_cast<pid_t>(fleet_->monitor_pid(a));
  daemon_->kill_hard();
  ASSERT_EQ(::kill(pid_a, SIGKILL), 0);
  ASSERT_TRUE(wait_until([&] { return !process_exists(pid_a); }));
  EXPECT_EQ(taps_of(a).size(), 1u);  // nobody removed it yet
  ASSERT_TRUE(daemon_->restart()) << daemon_->stderr_log();
  EXPECT_TRUE(taps_of(a).empty());
  EXPECT_TRUE(link_exists(bridge));
}

}  // namespace
}  // namespace flotilla::supervisor_test
