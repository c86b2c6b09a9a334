// The probe guest under flotilla-vmm: boot marker, shell, SMP, power-off and reboot.
#include <fstream>

#include "tests/integration/vmm/vmm_harness.h"
#include "tests/unit/vmm/elf_builder.h"

namespace flotilla::vmm::test {
namespace {

TEST(VmmBoot, BootsToTheMarkerAndRunsCommands) {
  auto c = start_vmm({"--vcpus", "1", "--cmdline", "probe.test=1"});
  ASSERT_TRUE(c);
  ASSERT_TRUE(wait_ready(*c)) << c->output() << c->stderr_output();
  auto echo = c->run_command("echo hello flotilla", 10s);
  ASSERT_TRUE(echo && echo->ok()) << c->output();
  ASSERT_EQ(echo->lines.size(), 1u);
  EXPECT_EQ(echo->lines[0], "hello flotilla");
  auto mem = c->run_command("mem", 10s);
  ASSERT_TRUE(mem && mem->ok() && !mem->lines.empty()) << c->output();
  // 64 MiB minus the reserved 0x9fc00-0xfffff range, in 2 RAM regions.
  EXPECT_EQ(field(mem->lines[0], "ram_bytes"), 64ll * 1024 * 1024 - (0x100000 - 0x9fc00));
  EXPECT_EQ(field(mem->lines[0], "regions"), 2);
}

class VmmCpus : public testing::TestWithParam<int> {};

TEST_P(VmmCpus, CpusReportsEveryVcpu) {
  const int n = GetParam();
  auto c = start_vmm({"--vcpus", std::to_string(n)});
  ASSERT_TRUE(c);
  ASSERT_TRUE(wait_ready(*c)) << c->output() << c->stderr_output();
  auto r = c->run_command("cpus", 30s);
  ASSERT_TRUE(r && r->ok()) << c->output();
  ASSERT_FALSE(r->lines.empty());
  EXPECT_EQ(field(r->lines[0], "online"), n) << r->lines[0];
  EXPECT_EQ(field(r->lines[0], "expected"), n) << r->lines[0];
}

INSTANTIATE_TEST_SUITE_P(Counts, VmmCpus, testing::Values(1, 2, 4));

TEST(VmmBoot, PoweroffExitsZero) {
  auto c = start_vmm({});
  ASSERT_TRUE(c);
  ASSERT_TRUE(wait_ready(*c)) << c->output();
  c->send_line("poweroff");
  auto st = c->wait_exit(20s);
  ASSERT_TRUE(st) << "monitor still running after poweroff";
  EXPECT_TRUE(st->exited);
  EXPECT_EQ(st->code, 0) << c->stderr_output();
}

TEST(VmmBoot, RebootBootsAgainInTheSameMonitor) {
  auto c = start_vmm({"--vcpus", "2"});
  ASSERT_TRUE(c);
  ASSERT_TRUE(wait_ready(*c)) << c->output();
  const pid_t pid = c->pid();
  c->send_line("reboot");
  ASSERT_TRUE(wait_ready(*c)) << "no second boot marker: " << c->output() << c->stderr_output();
  EXPECT_EQ(c->pid(), pid);
  auto r = c->run_command("cpus", 30s);  // the new boot is fully functional, APs included
  ASSERT_TRUE(r && r->ok()) << c->output();
  EXPECT_EQ(field(r->lines[0], "online"), 2);
  c->send_line("poweroff");
  auto st = c->wait_exit(20s);
  ASSERT_TRUE(st && st->exited);
  EXPECT_EQ(st->code, 0);
}

TEST(VmmBoot, ResetWithExitPolicyEndsTheMonitor) {
  auto c = start_vmm({"--on-reset", "exit"});
  ASSERT_TRUE(c);
  ASSERT_TRUE(wait_ready(*c)) << c->output();
  c->send_line("reboot");
  auto st = c->wait_exit(20s);
  ASSERT_TRUE(st) << "monitor did not exit on reset with on_reset=exit";
  EXPECT_TRUE(st->exited);
  EXPECT_EQ(st->code, 0);
  EXPECT_EQ(c->output().find("flotilla-probe ready"), c->output().rfind("flotilla-probe ready"));
}

// A hand-made PVH guest whose first instruction is ud2: with no IDT the #UD escalates to a
// triple fault (KVM_EXIT_SHUTDOWN), which is a reset.
std::string write_triple_fault_guest(const TempDir& dir) {
  ElfSpec spec;
  spec.payload = {0x0f, 0x0b};  // ud2
  const auto bytes = build_elf64(spec);
  const std::string path = dir.file("triple.elf");
  std::ofstream(path, std::ios::binary)
      .write(reinterpret_cast<const char*>(bytes.data()),
             static_cast<std::streamsize>(bytes.size()));
  return path;
}

TEST(VmmBoot, TripleFaultIsAResetPerPolicy) {
  TempDir dir;
  const std::string kernel = write_triple_fault_guest(dir);
  flotilla::test::ConsoleOptions merged;
  merged.merge_stderr = true;
  auto exits = GuestConsole::spawn({kVmm, "--kernel", kernel, "--on-reset", "exit"}, merged);
  ASSERT_TRUE(exits);
  auto st = (*exits)->wait_exit(20s);
  ASSERT_TRUE(st && st->exited) << (*exits)->output();
  EXPECT_EQ(st->code, 0);
  EXPECT_TRUE((*exits)->wait_for(std::regex("triple fault"), 5s)) << (*exits)->output();

  // With on_reset=reboot the same monitor boots the guest again and again.
  const std::string sock = dir.file("ctl.sock");
  auto reboots = GuestConsole::spawn({kVmm, "--kernel", kernel, "--control-socket", sock});
  ASSERT_TRUE(reboots);
  auto ctl = ControlClient::connect(sock);
  ASSERT_TRUE(ctl);
  const auto deadline = ConsoleClock::now() + 20s;
  uint64_t count = 0;
  while (count < 3 && ConsoleClock::now() < deadline) {
    auto status = ctl->request({{"cmd", "status"}});
    ASSERT_TRUE(status) << "monitor stopped answering";
    count = (*status)["reboots"].get<uint64_t>();
  }
  EXPECT_GE(count, 3u);
}

}  // namespace
}  // namespace flotilla::vmm::test
