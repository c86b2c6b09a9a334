// Monitor config: `nics` in vm.json and --nic flags (team/NETWORK.md), and validate_config
// opening every TAP before any VM exists. Runs in a network namespace of its own (entered before
// main), where it makes the TAPs it needs.
#include <gtest/gtest.h>
#include <sched.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "network/links.h"
#include "tests/unit/vmm/elf_builder.h"
#include "vmm/memory/layout.h"
#include "vmm/monitor/config.h"

namespace flotilla::vmm {
namespace {

namespace fs = std::filesystem;
const int kNetnsErrno = ::unshare(CLONE_NEWNET) == 0 ? 0 : errno;

class NicConfigTest : public testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(kNetnsErrno, 0) << "unshare(CLONE_NEWNET) (needs root): " << strerror(kNetnsErrno);
    dir_ = fs::temp_directory_path() / ("vmm-nic-config-" + std::to_string(::getpid()));
    fs::create_directories(dir_);
    const auto elf = test::build_elf64(test::ElfSpec{});
    kernel_ = (dir_ / "pvh.elf").string();
    std::ofstream(kernel_, std::ios::binary)
        .write(reinterpret_cast<const char*>(elf.data()), static_cast<std::streamsize>(elf.size()));
    ASSERT_TRUE(network::create_persistent_tap("flt-cfg-0").ok());
    ASSERT_TRUE(network::create_persistent_tap("flt-cfg-1").ok());
  }
  void TearDown() override {
    fs::remove_all(dir_);
    auto links = network::Links::open();
    if (links) {
      (void)links->remove("flt-cfg-0");
      (void)links->remove("flt-cfg-1");
    }
  }
  VmConfig with_nics(std::vector<NicConfig> nics) const {
    VmConfig c;
    c.kernel = kernel_;
    c.memory_mib = 64;
    c.nics = std::move(nics);
    return c;
  }
  static NicConfig nic(const std::string& tap, const std::string& mac) {
    NicConfig n;
    n.tap = tap;
    n.mac = *network::parse_unicast_mac(mac);
    return n;
  }
  std::string refusal(const VmConfig& c) const {
    auto r = validate_config(c, host_);
    return r.ok() ? "" : r.error().message;
  }

  fs::path dir_;
  std::string kernel_;
  HostLimits host_{8 * layout::kGiB, 1024, 2};
};

TEST_F(NicConfigTest, JsonNicsWithLimits) {
  VmConfig c;
  auto r = apply_config_json(R"({"nics":[
      {"tap":"flt-cfg-0","mac":"02:f1:0a:00:00:01"},
      {"tap":"flt-cfg-1","mac":"02:F1:0A:00:00:02",
       "rx":{"bytes_per_sec":1250000},"tx":{"bytes_per_sec":10,"packets_per_sec":20}}]})",
                             c);
  ASSERT_TRUE(r.ok()) << r.error().message;
  ASSERT_EQ(c.nics.size(), 2u);
  EXPECT_EQ(c.nics[1].mac.to_string(), "02:f1:0a:00:00:02");
  EXPECT_EQ(c.nics[1].rx.bytes_per_sec, 1250000u);
  EXPECT_EQ(c.nics[1].tx.packets_per_sec, 20u);
  c.kernel = kernel_;
  c.memory_mib = 64;
  EXPECT_EQ(refusal(c), "");
}

TEST_F(NicConfigTest, JsonMistakesNameTheField) {
  const std::pair<const char*, const char*> cases[] = {
      {R"({"nics":{}})", "nics must be an array"},
      {R"({"nics":[{"mac":"02:f1:0a:00:00:01"}]})", "nics[0].tap is required"},
      {R"({"nics":[{"tap":"x"}]})", "nics[0].mac is required"},
      {R"({"nics":[{"tap":"x","mac":"01:00:5e:00:00:01"}]})", "multicast"},
      {R"({"nics":[{"tap":"x","mac":"02:f1:0a:00:00:01","speed":1}]})", "nics[0].speed"},
      {R"({"nics":[{"tap":"x","mac":"02:f1:0a:00:00:01","rx":{"bytes_per_sec":-1}}]})",
       "nics[0].rx.bytes_per_sec"},
  };
  for (const auto& [json, expected] : cases) {
    VmConfig c;
    auto r = apply_config_json(json, c);
    ASSERT_FALSE(r.ok()) << json;
    EXPECT_NE(r.error().message.find(expected), std::string::npos)
        << json << " → " << r.error().message;
  }
}

TEST_F(NicConfigTest, FlagForm) {
  auto n = parse_nic_flag("flt-cfg-0,mac=02:f1:0a:00:00:07,rx_bytes=100,tx_packets=5");
  ASSERT_TRUE(n.ok()) << n.error().message;
  EXPECT_EQ(n->tap, "flt-cfg-0");
  EXPECT_EQ(n->rx.bytes_per_sec, 100u);
  EXPECT_EQ(n->tx.packets_per_sec, 5u);
  EXPECT_FALSE(parse_nic_flag("flt-cfg-0").ok());  // no MAC
  EXPECT_FALSE(parse_nic_flag("flt-cfg-0,mac=02:f1:0a:00:00:07,x=1").ok());
  EXPECT_FALSE(parse_nic_flag("flt-cfg-0,mac=02:f1:0a:00:00:07,rx_bytes=a").ok());
}

TEST_F(NicConfigTest, ValidationOpensEveryTapAndRefusesClashes) {
  EXPECT_EQ(refusal(with_nics({nic("flt-cfg-0", "02:f1:0a:00:00:01")})), "");
  const std::string missing = refusal(with_nics({nic("flt-none-0", "02:f1:0a:00:00:01")}));
  std::cerr << "missing: " << missing << "\n";
  EXPECT_NE(missing.find("nic 0 (flt-none-0)"), std::string::npos) << missing;
  EXPECT_NE(refusal(with_nics({nic("flt-cfg-0", "02:f1:0a:00:00:01"),
                               nic("flt-cfg-1", "02:f1:0a:00:00:01")}))
                .find("used twice"),
            std::string::npos);
  EXPECT_NE(refusal(with_nics({nic("flt-cfg-0", "02:f1:0a:00:00:01"),
                               nic("flt-cfg-0", "02:f1:0a:00:00:02")}))
                .find("used twice"),
            std::string::npos);
  std::vector<NicConfig> many;
  for (int i = 0; i < 9; ++i)
    many.push_back(nic("flt-cfg-0", "02:f1:0a:00:00:0" + std::to_string(i + 1)));
  EXPECT_NE(refusal(with_nics(many)).find("at most 8 NICs"), std::string::npos);
  // A TAP some other process holds open is refused too (single-queue TAPs have one reader).
  auto held = network::open_tap("flt-cfg-1");
  ASSERT_TRUE(held.ok());
  EXPECT_NE(refusal(with_nics({nic("flt-cfg-1", "02:f1:0a:00:00:03")})).find("nic 0 (flt-cfg-1)"),
            std::string::npos);
}

}  // namespace
}  // namespace flotilla::vmm
