// What a supervisor (flotillad) drives on a monitor: control-socket reboot (running and
// paused), Ctrl-Alt-Del as a graceful shutdown request, the exit record written on every way
// out, and a monitor running detached (setsid, stdin /dev/null, output to a file, parent gone).
#include <fcntl.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include <fstream>
#include <sstream>

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

TEST(VmmStats, ExitsPerVcpuAndResidentMemory) {
  TempDir dir;
  const std::string sock = dir.file("ctl.sock");
  auto c = start_vmm({"--vcpus", "2", "--control-socket", sock});
  ASSERT_TRUE(c);
  ASSERT_TRUE(wait_ready(*c)) << c->output();
  auto cpus = c->run_command("cpus", 30s);
  ASSERT_TRUE(cpus && cpus->ok()) << c->output();
  auto ctl = ControlClient::connect(sock);
  ASSERT_TRUE(ctl);
  const auto stats = [&] {
    auto r = ctl->request({{"cmd", "stats"}});
    EXPECT_TRUE(r && (*r)["ok"] == true);
    return r ? (*r)["stats"] : nlohmann::json();
  };
  const auto before = stats();
  ASSERT_TRUE(before["vcpu_exits"].is_array()) << before.dump();
  ASSERT_EQ(before["vcpu_exits"].size(), 2u) << before.dump();
  // The shell runs on vCPU 0: 1000 port writes are 1000 exits there.
  auto pio = c->run_command("pio 1000", 30s);
  ASSERT_TRUE(pio && pio->ok()) << c->output();
  const auto after = stats();
  ASSERT_EQ(after["vcpu_exits"].size(), 2u) << after.dump();
  const auto e0 = after["vcpu_exits"][0].get<uint64_t>();
  const auto e1 = after["vcpu_exits"][1].get<uint64_t>();
  EXPECT_GE(e0 - before["vcpu_exits"][0].get<uint64_t>(), 1000u) << after.dump();
  EXPECT_GE(e1, before["vcpu_exits"][1].get<uint64_t>());
  EXPECT_LE(e0 + e1, after["exits_total"].get<uint64_t>()) << after.dump();
  // Read a few microseconds apart from an idle guest: the per-vCPU counts miss no exits.
  EXPECT_LE(after["exits_total"].get<uint64_t>() - (e0 + e1), 10u) << after.dump();
  const auto resident = after["resident_bytes"].get<uint64_t>();
  EXPECT_GT(resident, 0u);
  EXPECT_LE(resident, after["memory_bytes"].get<uint64_t>());
  EXPECT_GE(after["process_rss_bytes"].get<uint64_t>(), resident) << after.dump();
  EXPECT_LT(after["process_rss_bytes"].get<uint64_t>(), 256ull << 20) << after.dump();
}

// ---- detached, the way flotillad runs monitors ----

// A monitor that is not our child: its pidfd, and SIGKILL on destruction if still running.
struct Detached {
  pid_t pid = -1;
  UniqueFd pidfd;
  bool exited(std::chrono::milliseconds within) const {
    pollfd p{pidfd.get(), POLLIN, 0};
    return ::poll(&p, 1, static_cast<int>(within.count())) == 1;
  }
  ~Detached() {
    if (pidfd && !exited(0ms)) ::syscall(SYS_pidfd_send_signal, pidfd.get(), SIGKILL, nullptr, 0);
  }
};

enum class Stdin { kDevNull, kPipeAtEof };

// Starts the monitor as flotillad does: an intermediate process forks it and exits at once (the
// monitor's parent is gone), the monitor calls setsid (no controlling terminal), stdin is
// /dev/null (or a pipe whose writer is already closed), stdout and stderr append to `log`.
std::unique_ptr<Detached> spawn_detached(const std::vector<std::string>& args,
                                         const std::string& log, Stdin in) {
  std::vector<std::string> argv = {kVmm, "--kernel", kProbe, "--memory-mib", "64"};
  argv.insert(argv.end(), args.begin(), args.end());
  std::vector<char*> cargv;
  for (auto& a : argv) cargv.push_back(a.data());
  cargv.push_back(nullptr);
  int report[2];
  if (::pipe2(report, O_CLOEXEC) != 0) return nullptr;
  const pid_t middle = ::fork();
  if (middle == 0) {
    const pid_t monitor = ::fork();
    if (monitor == 0) {
      ::setsid();
      int input[2] = {-1, -1};
      if (in == Stdin::kPipeAtEof && ::pipe(input) == 0) {
        ::close(input[1]);
        ::dup2(input[0], 0);
      } else {
        ::dup2(::open("/dev/null", O_RDONLY), 0);
      }
      const int out = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0640);
      ::dup2(out, 1);
      ::dup2(out, 2);
      ::execv(cargv[0], cargv.data());
      ::_exit(127);
    }
    (void)!::write(report[1], &monitor, sizeof(monitor));
    ::_exit(0);  // the monitor's parent dies right away
  }
  ::close(report[1]);
  pid_t pid = -1;
  const bool got = ::read(report[0], &pid, sizeof(pid)) == sizeof(pid);
  ::close(report[0]);
  int status = 0;
  ::waitpid(middle, &status, 0);
  if (!got || pid <= 0) return nullptr;
  auto d = std::make_unique<Detached>();
  d->pid = pid;
  d->pidfd.reset(static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)));
  if (!d->pidfd) return nullptr;
  return d;
}

// Fields of /proc/<pid>/stat after the command name: [0] = state, [1] = ppid, [3] = session,
// [4] = tty_nr, [11] = utime, [12] = stime.
std::vector<long long> proc_stat(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::vector<long long> out;
  const auto close = text.rfind(')');
  if (close == std::string::npos) return out;
  std::istringstream fields(text.substr(close + 2));
  std::string f;
  while (fields >> f) out.push_back(std::strtoll(f.c_str(), nullptr, 10));  // state letter: 0
  return out;
}

class VmmDetached : public testing::TestWithParam<Stdin> {};

TEST_P(VmmDetached, RunsWithoutParentTerminalOrInputAndEndsWithARecord) {
  TempDir dir;
  const std::string sock = dir.file("ctl.sock");
  const std::string console_log = dir.file("console.log");
  const std::string exit_file = dir.file("exit.json");
  const std::string log = dir.file("monitor.log");
  const int64_t t0 = unix_ms();
  auto m = spawn_detached({"--vcpus", "2", "--control-socket", sock, "--console-log", console_log,
                           "--exit-file", exit_file},
                          log, GetParam());
  ASSERT_TRUE(m) << "cannot spawn the detached monitor";
  auto ctl = ControlClient::connect(sock);
  ASSERT_TRUE(ctl) << "no control socket; monitor log:\n" << dir.file("monitor.log");
  const auto deadline = ConsoleClock::now() + 20s;
  std::string tail;
  while (tail.find("flotilla-probe ready") == std::string::npos && ConsoleClock::now() < deadline) {
    auto t = ctl->request({{"cmd", "console_tail"}, {"bytes", 4096}});
    ASSERT_TRUE(t && (*t)["ok"] == true) << "monitor stopped answering";
    tail = (*t)["data"];
  }
  ASSERT_NE(tail.find("flotilla-probe ready"), std::string::npos) << tail;

  auto st = status_of(*ctl);
  EXPECT_EQ(st["state"], "running") << st.dump();
  EXPECT_EQ(st["pid"], m->pid) << st.dump();
  EXPECT_EQ(st["console_log"], console_log) << st.dump();
  EXPECT_EQ(st["exit_file"], exit_file) << st.dump();
  ASSERT_TRUE(st["started_at_ms"].is_number_integer()) << st.dump();
  EXPECT_GE(st["started_at_ms"].get<int64_t>(), t0);
  EXPECT_LE(st["started_at_ms"].get<int64_t>(), unix_ms());

  const auto stat = proc_stat(m->pid);
  ASSERT_GE(stat.size(), 13u);
  EXPECT_NE(stat[1], ::getpid()) << "the monitor is still our child";
  EXPECT_EQ(stat[3], m->pid) << "not a session leader (setsid)";
  EXPECT_EQ(stat[4], 0) << "has a controlling terminal";

  // Idle with stdin at EOF: the device thread must not spin on it (an idle probe costs ~1 %).
  const long long cpu_before = stat[11] + stat[12];
  const auto window_end = ConsoleClock::now() + 1s;
  while (ConsoleClock::now() < window_end && !m->exited(100ms)) {
  }
  ASSERT_FALSE(m->exited(0ms)) << "monitor ended on stdin EOF";
  const auto later = proc_stat(m->pid);
  ASSERT_GE(later.size(), 13u);
  const long long ticks = later[11] + later[12] - cpu_before;
  EXPECT_LT(ticks, ::sysconf(_SC_CLK_TCK) * 3 / 10) << "monitor burnt " << ticks << " ticks in 1 s";

  // The console works through the socket only (no stdin).
  auto stream = ControlClient::connect(sock);
  ASSERT_TRUE(stream);
  auto hello = stream->request({{"cmd", "console"}, {"write", true}});
  ASSERT_TRUE(hello && (*hello)["ok"] == true);
  ASSERT_TRUE(stream->send_raw("echo detached\n"));
  EXPECT_TRUE(stream->read_until("detached\r\nOK", 10s));

  // The graceful shutdown request ends it; the pidfd tells us, the record says why.
  auto r = ctl->request({{"cmd", "ctrl_alt_del"}});
  ASSERT_TRUE(r && (*r)["ok"] == true);
  ASSERT_TRUE(m->exited(20s)) << "monitor still running after ctrl_alt_del";
  expect_record(read_exit_record(exit_file), 0, "poweroff", "port 0xf4", t0);
  EXPECT_FALSE(std::filesystem::exists(sock)) << "control socket left behind";
  std::ifstream cl(console_log);
  std::string logged((std::istreambuf_iterator<char>(cl)), std::istreambuf_iterator<char>());
  EXPECT_NE(logged.find("ctrl-alt-del: powering off"), std::string::npos) << logged;
  std::ifstream ml(log);
  std::string monitor_log((std::istreambuf_iterator<char>(ml)), std::istreambuf_iterator<char>());
  EXPECT_NE(monitor_log.find("guest ended"), std::string::npos) << monitor_log;
}

INSTANTIATE_TEST_SUITE_P(Stdin, VmmDetached, testing::Values(Stdin::kDevNull, Stdin::kPipeAtEof),
                         [](const auto& info) {
                           return info.param == Stdin::kDevNull ? "DevNull" : "PipeAtEof";
                         });

}  // namespace
}  // namespace flotilla::vmm::test
