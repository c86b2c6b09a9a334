// What a supervisor (flotillad) drives on a monitor: control-socket reboot (running and
// paused), Ctrl-Alt-Del as a graceful shutdown request, the exit record written on every way
// out, and a monitor running detached (setsid, stdin /dev/null, output to a file, parent gone).
#include <signal.h>

#include <fstream>

#include "tests/integration/vmm/vmm_harness.h"
#include "tests/unit/vmm/elf_builder.h"

namespace flotilla::vmm::test {
namespace {

long long counter(GuestConsole& c) {
  auto r = c.run_command("counter", 10s);
  if (!r || !r->ok() || r->lines.empty()) return -1;
  return field(r->lines[0], "value");
}

int64_t unix_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// The exit record at `path` (null if missing or not JSON), and checks that it is alone in its
// directory (no temporary file left behind).
nlohmann::json read_exit_record(const std::string& path) {
  std::ifstream in(path);
  if (!in) return nullptr;
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_EQ(std::count(text.begin(), text.end(), '\n'), 1) << "not one line: " << text;
  for (const auto& e :
       std::filesystem::directory_iterator(std::filesystem::path(path).parent_path())) {
    EXPECT_EQ(e.path().string().find(".tmp."), std::string::npos) << "left behind: " << e.path();
  }
  auto j = nlohmann::json::parse(text, nullptr, false);
  return j.is_discarded() ? nlohmann::json(nullptr) : j;
}

// Checks the record's fields; detail must contain `detail_part`.
void expect_record(const nlohmann::json& rec, int code, const std::string& reason,
                   const std::string& detail_part, int64_t not_before) {
  ASSERT_TRUE(rec.is_object()) << "no exit record";
  EXPECT_EQ(rec.size(), 4u) << rec.dump();
  EXPECT_EQ(rec["exit_code"], code) << rec.dump();
  EXPECT_EQ(rec["reason"], reason) << rec.dump();
  ASSERT_TRUE(rec["detail"].is_string()) << rec.dump();
  EXPECT_NE(rec["detail"].get<std::string>().find(detail_part), std::string::npos) << rec.dump();
  EXPECT_EQ(rec["detail"].get<std::string>().find('\n'), std::string::npos);
  ASSERT_TRUE(rec["at_ms"].is_number_integer()) << rec.dump();
  EXPECT_GE(rec["at_ms"].get<int64_t>(), not_before);
  EXPECT_LE(rec["at_ms"].get<int64_t>(), unix_ms());
}

std::string write_guest(const TempDir& dir, const std::string& name, std::vector<uint8_t> code) {
  ElfSpec spec;
  spec.payload = std::move(code);
  const auto bytes = build_elf64(spec);
  const std::string path = dir.file(name);
  std::ofstream(path, std::ios::binary)
      .write(reinterpret_cast<const char*>(bytes.data()),
             static_cast<std::streamsize>(bytes.size()));
  return path;
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

TEST(VmmExitRecord, GuestPowerOffControlStopAndSignal) {
  TempDir dir;
  const std::string exit_file = dir.file("exit.json");
  {
    // A stale record from an earlier run is removed at start: it must not describe this run.
    std::ofstream(exit_file) << "{\"exit_code\":1,\"reason\":\"guest_crash\"}\n";
    const int64_t t0 = unix_ms();
    auto c = start_vmm({"--exit-file", exit_file});
    ASSERT_TRUE(c);
    ASSERT_TRUE(wait_ready(*c)) << c->output();
    EXPECT_FALSE(std::filesystem::exists(exit_file)) << "stale exit record kept while running";
    c->send_line("poweroff");
    auto ex = c->wait_exit(20s);
    ASSERT_TRUE(ex && ex->exited);
    EXPECT_EQ(ex->code, 0);
    expect_record(read_exit_record(exit_file), 0, "poweroff", "port 0xf4 value 0", t0);
  }
  {
    const std::string sock = dir.file("ctl.sock");
    const int64_t t0 = unix_ms();
    auto c = start_vmm({"--exit-file", exit_file, "--control-socket", sock});
    ASSERT_TRUE(c);
    ASSERT_TRUE(wait_ready(*c)) << c->output();
    auto ctl = ControlClient::connect(sock);
    ASSERT_TRUE(ctl);
    ASSERT_TRUE(ctl->request({{"cmd", "stop"}}));
    auto ex = c->wait_exit(20s);
    ASSERT_TRUE(ex && ex->exited);
    EXPECT_EQ(ex->code, 0);
    expect_record(read_exit_record(exit_file), 0, "stop", "control socket stop", t0);
  }
  {
    const int64_t t0 = unix_ms();
    auto c = start_vmm({"--vcpus", "2", "--exit-file", exit_file});
    ASSERT_TRUE(c);
    ASSERT_TRUE(wait_ready(*c)) << c->output();
    ASSERT_EQ(::kill(c->pid(), SIGTERM), 0);
    auto ex = c->wait_exit(20s);
    ASSERT_TRUE(ex && ex->exited);
    EXPECT_EQ(ex->code, 0);
    expect_record(read_exit_record(exit_file), 0, "signal", "signal", t0);
  }
}

TEST(VmmExitRecord, ResetExitGuestCrashAndHostError) {
  TempDir dir;
  const std::string exit_file = dir.file("exit.json");
  {
    const int64_t t0 = unix_ms();
    auto c = start_vmm({"--on-reset", "exit", "--exit-file", exit_file});
    ASSERT_TRUE(c);
    ASSERT_TRUE(wait_ready(*c)) << c->output();
    c->send_line("reboot");
    auto ex = c->wait_exit(20s);
    ASSERT_TRUE(ex && ex->exited);
    EXPECT_EQ(ex->code, 0);
    expect_record(read_exit_record(exit_file), 0, "reset_exit", "i8042 reset", t0);
  }
  {
    // mov $0xd0000000, %eax; jmp *%eax: code fetched from unbacked MMIO, which KVM cannot
    // emulate (KVM_EXIT_INTERNAL_ERROR): a guest crash, exit status 1.
    const std::string kernel =
        write_guest(dir, "crash.elf", {0xb8, 0x00, 0x00, 0x00, 0xd0, 0xff, 0xe0});
    const int64_t t0 = unix_ms();
    auto c = GuestConsole::spawn({kVmm, "--kernel", kernel, "--exit-file", exit_file});
    ASSERT_TRUE(c);
    auto ex = (*c)->wait_exit(20s);
    ASSERT_TRUE(ex && ex->exited) << "the crashing guest did not end the monitor";
    EXPECT_EQ(ex->code, 1) << (*c)->stderr_output();
    expect_record(read_exit_record(exit_file), 1, "guest_crash", "KVM_EXIT", t0);
  }
  {
    // The control socket cannot be bound (no such directory): a host error, status 1.
    const int64_t t0 = unix_ms();
    auto c =
        start_vmm({"--exit-file", exit_file, "--control-socket", dir.file("no/such/ctl.sock")});
    ASSERT_TRUE(c);
    auto ex = c->wait_exit(20s);
    ASSERT_TRUE(ex && ex->exited);
    EXPECT_EQ(ex->code, 1);
    expect_record(read_exit_record(exit_file), 1, "host_error", "bind", t0);
  }
}

TEST(VmmExitRecord, InvalidDefinitionsFromFlagsAndConfigFile) {
  TempDir dir;
  const std::string exit_file = dir.file("exit.json");
  const auto refuse = [&](std::vector<std::string> argv, const std::string& detail) {
    SCOPED_TRACE(detail);
    std::filesystem::remove(exit_file);
    argv.insert(argv.begin(), kVmm);
    const int64_t t0 = unix_ms();
    auto c = GuestConsole::spawn(argv);
    ASSERT_TRUE(c);
    auto ex = (*c)->wait_exit(20s);
    ASSERT_TRUE(ex && ex->exited);
    EXPECT_EQ(ex->code, 2) << (*c)->stderr_output();
    expect_record(read_exit_record(exit_file), 2, "invalid_definition", detail, t0);
  };
  refuse({"--kernel", dir.file("missing.elf"), "--exit-file", exit_file}, "missing.elf");
  refuse({"--kernel", kProbe, "--vcpus", "0", "--exit-file=" + exit_file}, "vcpus");
  refuse({"--kernel", kProbe, "--bogus-flag", "--exit-file", exit_file}, "bogus-flag");
  const std::string config = dir.file("vm.json");
  std::ofstream(config) << nlohmann::json{
      {"kernel", kProbe},
      {"memory_mib", 0},
      {"exit_file", exit_file}}.dump();
  refuse({"--config", config}, "memory_mib");
  std::ofstream(config) << nlohmann::json{
      {"kernel", kProbe},
      {"colour", "red"},
      {"exit_file", exit_file}}.dump();
  refuse({"--config", config}, "colour");
}

}  // namespace
}  // namespace flotilla::vmm::test
