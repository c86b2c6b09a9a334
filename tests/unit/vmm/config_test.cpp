#include "vmm/monitor/config.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "tests/unit/vmm/elf_builder.h"
#include "vmm/memory/layout.h"

namespace flotilla::vmm {
namespace {

namespace fs = std::filesystem;

class ConfigTest : public testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("vmm-config-" + std::to_string(::getpid()));
    fs::create_directories(dir_);
    kernel_ = write("pvh.elf", test::build_elf64(test::ElfSpec{}));
    test::ElfSpec nonote;
    nonote.with_note = false;
    no_note_ = write("nonote.elf", test::build_elf64(nonote));
    std::string text = "#!/bin/sh\necho not a kernel\n";
    script_ = write("script.sh", std::vector<uint8_t>(text.begin(), text.end()));
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::string write(const std::string& name, const std::vector<uint8_t>& bytes) {
    const fs::path p = dir_ / name;
    std::ofstream(p, std::ios::binary)
        .write(reinterpret_cast<const char*>(bytes.data()),
               static_cast<std::streamsize>(bytes.size()));
    return p.string();
  }

  VmConfig good() const {
    VmConfig c;
    c.kernel = kernel_;
    c.vcpus = 2;
    c.memory_mib = 64;
    return c;
  }

  std::string refusal(const VmConfig& c) const {
    auto r = validate_config(c, host_);
    if (r.ok()) return "";
    EXPECT_EQ(r.error().code, VmmErrc::kConfig);
    EXPECT_EQ(r.error().message.find('\n'), std::string::npos) << "one line";
    return r.error().message;
  }

  fs::path dir_;
  std::string kernel_, no_note_, script_;
  HostLimits host_{8 * layout::kGiB, 1024, 2};
};

TEST_F(ConfigTest, AcceptsAGoodDefinitionAndWarnsAboveRecommended) {
  auto r = validate_config(good(), host_);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_TRUE(r->empty());
  VmConfig c = good();
  c.vcpus = 4;
  r = validate_config(c, host_);
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r->size(), 1u);
  EXPECT_NE((*r)[0].find("recommended"), std::string::npos);
}

TEST_F(ConfigTest, RefusesEachBadDefinitionWithAClearMessage) {
  VmConfig c = good();
  c.kernel = (dir_ / "missing.elf").string();
  EXPECT_NE(refusal(c).find("cannot open kernel"), std::string::npos);
  c = good();
  c.kernel = script_;
  EXPECT_NE(refusal(c).find("not an ELF"), std::string::npos);
  c = good();
  c.kernel = no_note_;
  EXPECT_NE(refusal(c).find("PVH"), std::string::npos);
  c = good();
  c.kernel = "";
  EXPECT_NE(refusal(c).find("no kernel"), std::string::npos);
  c = good();
  c.memory_mib = 0;
  EXPECT_NE(refusal(c).find("memory_mib"), std::string::npos);
  c = good();
  c.memory_mib = 9 * 1024;
  EXPECT_NE(refusal(c).find("exceeds host RAM"), std::string::npos);
  c = good();
  c.memory_mib = ~uint64_t{0} / 2;
  EXPECT_NE(refusal(c).find("exceeds host RAM"), std::string::npos);
  c = good();
  c.vcpus = 0;
  EXPECT_NE(refusal(c).find("vcpus"), std::string::npos);
  c = good();
  c.vcpus = 255;
  EXPECT_NE(refusal(c).find("vcpus"), std::string::npos);
  c = good();
  c.cmdline = std::string(2049, 'a');
  EXPECT_NE(refusal(c).find("cmdline"), std::string::npos);
  c.cmdline = std::string(2048, 'a');
  EXPECT_EQ(refusal(c), "");
}

TEST_F(ConfigTest, JsonKeysAndErrors) {
  VmConfig c;
  ASSERT_TRUE(apply_config_json(R"({"kernel":"/k","vcpus":4,"memory_mib":256,"cmdline":"x",
      "control_socket":"/s","console_log":"/l","on_reset":"exit","rng":true})",
                                c)
                  .ok());
  EXPECT_EQ(c.kernel, "/k");
  EXPECT_EQ(c.vcpus, 4u);
  EXPECT_EQ(c.memory_mib, 256u);
  EXPECT_EQ(c.on_reset, OnReset::kExit);
  EXPECT_TRUE(c.rng);
  EXPECT_EQ(c.control_socket, "/s");
  auto bad = apply_config_json(R"({"kernal":"/k"})", c);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().message.find("kernal"), std::string::npos);
  bad = apply_config_json(R"({"vcpus":"two"})", c);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().message.find("vcpus"), std::string::npos);
  EXPECT_FALSE(apply_config_json("{", c).ok());
  EXPECT_FALSE(apply_config_json("[]", c).ok());
  EXPECT_FALSE(apply_config_json(R"({"on_reset":"explode"})", c).ok());
}

TEST_F(ConfigTest, FlagsOverrideTheConfigFile) {
  const std::string json = R"({"kernel":"/from-file","vcpus":2,"memory_mib":64})";
  const std::string path = write("vm.json", std::vector<uint8_t>(json.begin(), json.end()));
  const char* argv[] = {"flotilla-vmm", "--config",   path.c_str(), "--vcpus", "3",
                        "--rng",        "--on-reset", "exit"};
  auto r = parse_command_line(8, argv);
  ASSERT_TRUE(r.ok()) << r.error().message;
  ASSERT_TRUE(r->has_value());
  const VmConfig& c = **r;
  EXPECT_EQ(c.kernel, "/from-file");
  EXPECT_EQ(c.vcpus, 3u);
  EXPECT_EQ(c.memory_mib, 64u);
  EXPECT_TRUE(c.rng);
  EXPECT_EQ(c.on_reset, OnReset::kExit);
  const char* bad[] = {"flotilla-vmm", "--vcpus", "many"};
  EXPECT_FALSE(parse_command_line(3, bad).ok());
  const char* unknown[] = {"flotilla-vmm", "--frobnicate"};
  EXPECT_FALSE(parse_command_line(2, unknown).ok());
}

}  // namespace
}  // namespace flotilla::vmm
