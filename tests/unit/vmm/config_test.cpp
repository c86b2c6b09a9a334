#include "vmm/monitor/config.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "tests/unit/vmm/elf_builder.h"
#include "vmm/memory/layout.h"
#include "vmm/monitor/exit_record.h"

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

  std::string write_text(const std::string& name, const std::string& text) {
    return write(name, std::vector<uint8_t>(text.begin(), text.end()));
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

TEST_F(ConfigTest, ExitFileFromJsonAndFlagFlagWins) {
  const std::string json = write_text("vm.json", R"({"kernel":"k","exit_file":"/a/exit.json"})");
  const char* argv1[] = {"flotilla-vmm", "--config", json.c_str()};
  auto c = parse_command_line(3, argv1);
  ASSERT_TRUE(c && c->has_value());
  EXPECT_EQ((*c)->exit_file, "/a/exit.json");
  const char* argv2[] = {"flotilla-vmm", "--config", json.c_str(), "--exit-file", "/b/x.json"};
  c = parse_command_line(5, argv2);
  ASSERT_TRUE(c && c->has_value());
  EXPECT_EQ((*c)->exit_file, "/b/x.json");
  VmConfig bad;
  EXPECT_FALSE(apply_config_json(R"({"exit_file":3})", bad));
}

TEST_F(ConfigTest, FindExitFileWithoutAParsableCommandLine) {
  const char* flag[] = {"flotilla-vmm", "--nonsense", "--exit-file", "/x/e.json"};
  EXPECT_EQ(find_exit_file(4, flag), "/x/e.json");
  const char* eq[] = {"flotilla-vmm", "--exit-file=/y/e.json", "--vcpus"};
  EXPECT_EQ(find_exit_file(3, eq), "/y/e.json");
  const std::string json = write_text("bad.json", R"({"exit_file":"/z/e.json","vcpus":"two"})");
  const char* cfg[] = {"flotilla-vmm", "--config", json.c_str()};
  EXPECT_EQ(find_exit_file(3, cfg), "/z/e.json");
  const std::string broken = write_text("broken.json", "{not json");
  const char* brk[] = {"flotilla-vmm", "--config", broken.c_str()};
  EXPECT_EQ(find_exit_file(3, brk), "");
  const char* none[] = {"flotilla-vmm"};
  EXPECT_EQ(find_exit_file(1, none), "");
}

TEST(ExitRecordJson, OneLineInTheDocumentedOrder) {
  const std::string line =
      exit_record_json({3, ExitReason::kPowerOff, "two\nlines"}, 1795512388461);
  EXPECT_EQ(line,
            R"({"exit_code":3,"reason":"poweroff","detail":"two lines","at_ms":1795512388461})"
            "\n");
  EXPECT_STREQ(exit_reason_name(ExitReason::kInvalidDefinition), "invalid_definition");
  EXPECT_STREQ(exit_reason_name(ExitReason::kResetExit), "reset_exit");
}

}  // namespace
}  // namespace flotilla::vmm
