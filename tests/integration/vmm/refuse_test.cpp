// Bad definitions are refused with one clear line on stderr, exit status 2, before anything
// starts (no control socket appears, no console output).
#include <fstream>

#include "tests/integration/vmm/vmm_harness.h"
#include "tests/unit/vmm/elf_builder.h"

namespace flotilla::vmm::test {
namespace {

struct Refusal {
  std::vector<std::string> args;
  std::string message;
};

class VmmRefuses : public testing::Test {
 protected:
  void expect_refused(std::vector<std::string> args, const std::string& message) {
    const std::string sock = dir_.file("ctl.sock");
    std::vector<std::string> argv = {kVmm, "--control-socket", sock};
    argv.insert(argv.end(), args.begin(), args.end());
    flotilla::test::ConsoleOptions options;
    options.merge_stderr = true;  // stdout must stay empty: the line checked is stderr's
    auto c = GuestConsole::spawn(argv, options);
    ASSERT_TRUE(c) << c.error().message;
    auto st = (*c)->wait_exit(10s);
    ASSERT_TRUE(st) << "not refused: " << testing::PrintToString(args);
    EXPECT_TRUE(st->exited);
    EXPECT_EQ(st->code, 2) << (*c)->output();
    // The reader thread may still be collecting the last bytes.
    EXPECT_TRUE((*c)->wait_for(std::regex("flotilla-vmm: [^\n]*\n"), 5s)) << (*c)->output();
    const std::string all = (*c)->output();
    EXPECT_NE(all.find(message), std::string::npos) << all;
    EXPECT_EQ(std::count(all.begin(), all.end(), '\n'), 1) << "one line and nothing else: " << all;
    EXPECT_FALSE(std::filesystem::exists(sock)) << "started something";
  }
  TempDir dir_;
};

TEST_F(VmmRefuses, MissingKernel) {
  expect_refused({"--kernel", dir_.file("nope.elf")}, "cannot open kernel");
}

TEST_F(VmmRefuses, NotAnElf) {
  const std::string path = dir_.file("script.sh");
  std::ofstream(path) << "#!/bin/sh\necho hi\n";
  expect_refused({"--kernel", path}, "not an ELF");
}

TEST_F(VmmRefuses, ElfWithoutPvhNote) {
  ElfSpec spec;
  spec.with_note = false;
  const auto bytes = build_elf64(spec);
  const std::string path = dir_.file("nonote.elf");
  std::ofstream(path, std::ios::binary)
      .write(reinterpret_cast<const char*>(bytes.data()),
             static_cast<std::streamsize>(bytes.size()));
  expect_refused({"--kernel", path}, "no PVH entry note");
  // A PIE executable (the monitor itself) is not loadable either.
  expect_refused({"--kernel", kVmm}, "not an executable");
}

TEST_F(VmmRefuses, MemoryZeroAndLargerThanTheHost) {
  expect_refused({"--kernel", kProbe, "--memory-mib", "0"}, "memory_mib");
  expect_refused({"--kernel", kProbe, "--memory-mib", "100000000"}, "exceeds host RAM");
}

TEST_F(VmmRefuses, VcpusZeroAndAboveTheLimit) {
  expect_refused({"--kernel", kProbe, "--vcpus", "0"}, "vcpus must be between 1 and");
  expect_refused({"--kernel", kProbe, "--vcpus", "5000"}, "vcpus must be between 1 and");
}

TEST_F(VmmRefuses, CommandLineTooLong) {
  expect_refused({"--kernel", kProbe, "--cmdline", std::string(2049, 'x')}, "cmdline");
}

TEST_F(VmmRefuses, BadConfigFile) {
  const std::string path = dir_.file("vm.json");
  std::ofstream(path) << R"({"kernel":")" << kProbe << R"(","vcpu":2})";
  expect_refused({"--config", path}, "unknown config key \"vcpu\"");
}

}  // namespace
}  // namespace flotilla::vmm::test
