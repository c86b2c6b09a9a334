// What a supervisor (flotillad) drives on a monitor: control-socket reboot (running and
// paused), Ctrl-Alt-Del as a graceful shutdown request, the exit record written on every way
// out, and a monitor running detached (setsid, stdin /dev/null, output to a file, parent gone).
#include <signal.h>

#include <fstream>

#include "tests/integration/vmm/vmm_harness.h"

namespace flotilla::vmm::test {
namespace {

long long counter(GuestConsole& c) {
  auto r = c.run_command("counter", 10s);
  if (!r || !r->ok() || r->lines.empty()) return -1;
  return field(r->lines[0], "value");
}

nlohmann::json status_of(ControlClient& ctl) {
  auto s = ctl.request({{"cmd", "status"}});
  return s ? *s : nlohmann::json{{"ok", false}, {"error", "no reply"}};
}

TEST(VmmLifecycle, ControlRebootRestartsTheGuestRunningOrPaused) {
  TempDir dir;
  const std::string sock = dir.file("ctl.sock");
  auto c = start_vmm({"--vcpus", "2", "--control-socket", sock});
  ASSERT_TRUE(c);
  ASSERT_TRUE(wait_ready(*c)) << c->output() << c->stderr_output();
  auto ctl = ControlClient::connect(sock);
  ASSERT_TRUE(ctl);
  const pid_t pid = c->pid();
  EXPECT_EQ(status_of(*ctl)["reboots"], 0);

  // Running: the guest boots again in the same process.
  auto r = ctl->request({{"cmd", "reboot"}});
  ASSERT_TRUE(r) << "no reply to reboot";
  EXPECT_EQ(*r, (nlohmann::json{{"ok", true}}));
  ASSERT_TRUE(wait_ready(*c)) << "no second boot marker: " << c->output() << c->stderr_output();
  EXPECT_EQ(c->pid(), pid);
  auto st = status_of(*ctl);
  EXPECT_EQ(st["reboots"], 1) << st.dump();
  EXPECT_EQ(st["state"], "running") << st.dump();
  EXPECT_GE(counter(*c), 0) << c->output();

  // Paused: the reboot comes back running (the counter ticks again).
  auto paused = ctl->request({{"cmd", "pause"}});
  ASSERT_TRUE(paused && (*paused)["ok"] == true) << (paused ? paused->dump() : "no reply");
  EXPECT_EQ(status_of(*ctl)["state"], "paused");
  r = ctl->request({{"cmd", "reboot"}});
  ASSERT_TRUE(r && (*r)["ok"] == true) << (r ? r->dump() : "no reply");
  ASSERT_TRUE(wait_ready(*c)) << "no boot marker after a paused reboot: " << c->output();
  st = status_of(*ctl);
  EXPECT_EQ(st["reboots"], 2) << st.dump();
  EXPECT_EQ(st["state"], "running") << st.dump();
  const long long first = counter(*c);
  ASSERT_GE(first, 0) << c->output();
  const auto until = ConsoleClock::now() + 10s;
  long long later = first;
  while (later <= first + 10 && ConsoleClock::now() < until) later = counter(*c);
  EXPECT_GT(later, first + 10) << "the rebooted guest's timer does not tick";

  // The new boot is complete: the APs start again.
  auto cpus = c->run_command("cpus", 30s);
  ASSERT_TRUE(cpus && cpus->ok() && !cpus->lines.empty()) << c->output();
  EXPECT_EQ(field(cpus->lines[0], "online"), 2);
  c->send_line("poweroff");
  auto ex = c->wait_exit(20s);
  ASSERT_TRUE(ex && ex->exited);
  EXPECT_EQ(ex->code, 0);
}

TEST(VmmLifecycle, ControlRebootRebootsEvenWithTheExitResetPolicy) {
  TempDir dir;
  const std::string sock = dir.file("ctl.sock");
  auto c = start_vmm({"--on-reset", "exit", "--control-socket", sock});
  ASSERT_TRUE(c);
  ASSERT_TRUE(wait_ready(*c)) << c->output();
  auto ctl = ControlClient::connect(sock);
  ASSERT_TRUE(ctl);
  auto r = ctl->request({{"cmd", "reboot"}});
  ASSERT_TRUE(r && (*r)["ok"] == true);
  ASSERT_TRUE(wait_ready(*c)) << "control reboot ended the monitor: " << c->stderr_output();
  EXPECT_EQ(status_of(*ctl)["reboots"], 1);
  // A guest-initiated reset still follows the policy.
  c->send_line("reboot");
  auto ex = c->wait_exit(20s);
  ASSERT_TRUE(ex && ex->exited) << "guest reset with on_reset=exit did not end the monitor";
  EXPECT_EQ(ex->code, 0);
}

TEST(VmmLifecycle, CtrlAltDelMakesTheProbePowerOff) {
  TempDir dir;
  const std::string sock = dir.file("ctl.sock");
  auto c = start_vmm({"--vcpus", "2", "--control-socket", sock});
  ASSERT_TRUE(c);
  ASSERT_TRUE(wait_ready(*c)) << c->output();
  ASSERT_TRUE(c->run_command("echo idle", 10s)) << c->output();  // the shell waits for input
  auto ctl = ControlClient::connect(sock);
  ASSERT_TRUE(ctl);
  auto r = ctl->request({{"cmd", "ctrl_alt_del"}});
  ASSERT_TRUE(r) << "no reply to ctrl_alt_del";
  EXPECT_EQ(*r, (nlohmann::json{{"ok", true}}));
  EXPECT_TRUE(c->wait_for(std::regex("ctrl-alt-del: powering off\r\n"), 10s)) << c->output();
  auto ex = c->wait_exit(20s);
  ASSERT_TRUE(ex) << "monitor still running after ctrl-alt-del";
  EXPECT_TRUE(ex->exited);
  EXPECT_EQ(ex->code, 0) << c->stderr_output();
}

TEST(VmmLifecycle, CtrlAltDelQueueIsBoundedAndWaitsForAPausedGuest) {
  TempDir dir;
  const std::string sock = dir.file("ctl.sock");
  auto c = start_vmm({"--control-socket", sock});
  ASSERT_TRUE(c);
  ASSERT_TRUE(wait_ready(*c)) << c->output();
  ASSERT_TRUE(c->run_command("echo idle", 10s)) << c->output();
  auto ctl = ControlClient::connect(sock);
  ASSERT_TRUE(ctl);
  auto paused = ctl->request({{"cmd", "pause"}});
  ASSERT_TRUE(paused && (*paused)["ok"] == true);
  // 16 bytes of buffer hold two 6-byte sequences; the third is refused, nothing blocks.
  for (int i = 0; i < 2; ++i) {
    auto r = ctl->request({{"cmd", "ctrl_alt_del"}});
    ASSERT_TRUE(r && (*r)["ok"] == true) << i << ": " << (r ? r->dump() : "no reply");
  }
  auto full = ctl->request({{"cmd", "ctrl_alt_del"}});
  ASSERT_TRUE(full);
  EXPECT_EQ((*full)["ok"], false) << full->dump();
  EXPECT_NE((*full)["error"].get<std::string>().find("full"), std::string::npos);
  EXPECT_FALSE(c->wait_for(std::regex("ctrl-alt-del"), 500ms)) << "a paused guest acted";
  auto resumed = ctl->request({{"cmd", "resume"}});
  ASSERT_TRUE(resumed && (*resumed)["ok"] == true);
  EXPECT_TRUE(c->wait_for(std::regex("ctrl-alt-del: powering off\r\n"), 10s)) << c->output();
  auto ex = c->wait_exit(20s);
  ASSERT_TRUE(ex && ex->exited);
  EXPECT_EQ(ex->code, 0);
}

}  // namespace
}  // namespace flotilla::vmm::test
