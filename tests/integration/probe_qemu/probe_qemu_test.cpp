// Boots the probe guest (guest/probe) under qemu-system-x86_64 -M microvm and drives its shell
// over the serial console: the probe's drivers against QEMU's devices, and the shell contract
// of team/VMM.md.
#include <gtest/gtest.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <regex>
#include <string>
#include <thread>
#include <vector>

#include "common/unique_fd.h"
#include "tests/support/guest_console.h"

namespace flotilla::test {
namespace {

using namespace std::chrono_literals;

constexpr auto kBootTimeout = 20s;
constexpr auto kCommandTimeout = 10s;

// The command line documented in guest/probe/README.md.
std::vector<std::string> qemu_argv(int cpus) {
  return {"qemu-system-x86_64",
          "-M",
          "microvm,x-option-roms=off,rtc=on",
          "-enable-kvm",
          "-cpu",
          "host,-arch-capabilities",
          "-m",
          "128M",
          "-smp",
          std::to_string(cpus),
          "-nodefaults",
          "-no-user-config",
          "-nographic",
          "-serial",
          "stdio",
          "-no-reboot",
          "-kernel",
          FLOTILLA_PROBE_ELF,
          "-device",
          "isa-debug-exit,iobase=0xf4,iosize=1",
          "-global",
          "virtio-mmio.force-legacy=false",
          "-device",
          "virtio-rng-device"};
}

class ProbeQemuTest : public ::testing::Test {
 protected:
  // Starts QEMU and waits for the boot marker; fails the test with QEMU's stderr if not.
  void boot(int cpus = 1, const std::vector<std::string>& extra = {}) {
    ASSERT_EQ(access(FLOTILLA_PROBE_ELF, R_OK), 0) << "probe image missing: " << FLOTILLA_PROBE_ELF;
    ASSERT_EQ(access("/dev/kvm", R_OK | W_OK), 0) << "/dev/kvm is not usable";
    std::vector<std::string> argv = qemu_argv(cpus);
    argv.insert(argv.end(), extra.begin(), extra.end());
    auto c = GuestConsole::spawn(argv);
    ASSERT_TRUE(c) << c.error().message;
    console_ = std::move(c.value());
    ASSERT_TRUE(console_->wait_for(std::regex("flotilla-probe ready\r?\n"), kBootTimeout))
        << "no boot marker (is qemu-system-x86_64 installed?)\nstdout:\n"
        << console_->output() << "\nstderr:\n"
        << console_->stderr_output();
    ASSERT_TRUE(console_->wait_for(std::regex("probe> "), kCommandTimeout));
  }

  // Runs a command that must succeed and print exactly one line matching `re`.
  std::smatch run_ok(const std::string& cmd, const std::string& re,
                     ConsoleClock::duration timeout = kCommandTimeout) {
    auto r = console_->run_command(cmd, timeout);
    EXPECT_TRUE(r) << "no status line for '" << cmd << "'; output:\n" << console_->output();
    if (!r) return {};
    EXPECT_TRUE(r->ok()) << cmd << " -> " << r->status;
    EXPECT_EQ(r->lines.size(), 1u) << "output of '" << cmd << "':\n" << console_->output();
    if (r->lines.empty()) return {};
    last_line_ = r->lines.back();
    std::smatch m;
    EXPECT_TRUE(std::regex_match(last_line_, m, std::regex(re)))
        << "'" << last_line_ << "' does not match " << re;
    return m;
  }

  std::unique_ptr<GuestConsole> console_;
  std::string last_line_;  // run_ok's matches point into it
};

TEST_F(ProbeQemuTest, EchoAndBackspace) {
  boot();
  run_ok("echo hello   probe world", "hello   probe world");
  // "ecxo" with the x rubbed out; the line editor must hand "echo typed" to the shell.
  ASSERT_TRUE(console_->send("ecx\x7fho typed\n"));
  ASSERT_TRUE(console_->wait_for(std::regex("\r\ntyped\r\nOK\r\n"), kCommandTimeout))
      << console_->output();
  auto r = console_->run_command("nonsense", kCommandTimeout);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, "ERR unknown command nonsense");
  r = console_->run_command("help", kCommandTimeout);
  ASSERT_TRUE(r && r->ok());
  EXPECT_GE(r->lines.size(), 12u);
}

TEST_F(ProbeQemuTest, MemReportsTheMemoryMap) {
  boot();
  auto m = run_ok("mem", R"(mem ram_bytes=(\d+) regions=(\d+))");
  ASSERT_EQ(m.size(), 3u);
  uint64_t bytes = std::stoull(m.str(1));
  EXPECT_GT(bytes, 120ull << 20);
  EXPECT_LE(bytes, 128ull << 20);
  EXPECT_GE(std::stoi(m.str(2)), 1);
}

TEST_F(ProbeQemuTest, CpusStartsEverySecondaryCpu) {
  for (int n : {1, 2, 4}) {
    SCOPED_TRACE("-smp " + std::to_string(n));
    boot(n);
    auto m = run_ok("cpus", R"(cpus online=(\d+) expected=(\d+))");
    ASSERT_EQ(m.size(), 3u);
    EXPECT_EQ(std::stoi(m.str(1)), n);
    EXPECT_EQ(std::stoi(m.str(2)), n);
    // A second call reports again without starting anything.
    m = run_ok("cpus", R"(cpus online=(\d+) expected=(\d+))");
    ASSERT_EQ(m.size(), 3u);
    EXPECT_EQ(std::stoi(m.str(1)), n);
    console_.reset();
  }
}

TEST_F(ProbeQemuTest, CounterTicks) {
  boot();
  auto m = run_ok("counter", R"(counter value=(\d+))");
  ASSERT_EQ(m.size(), 2u);
  uint64_t first = std::stoull(m.str(1));
  // 100 Hz: at least 20 more ticks must show up well within the deadline.
  uint64_t now = first;
  auto deadline = ConsoleClock::now() + 10s;
  while (now < first + 20 && ConsoleClock::now() < deadline) {
    m = run_ok("counter", R"(counter value=(\d+))");
    ASSERT_EQ(m.size(), 2u);
    now = std::stoull(m.str(1));
  }
  EXPECT_GE(now, first + 20);
  // The rate is ~100 Hz: a 2 s burn (ring 3, timer interrupts keep coming) adds ~200 ticks.
  // Lenient bounds: a busy host may coalesce a few ticks.
  run_ok("burn 2", R"(burn seconds=2 iterations=\d+)");
  m = run_ok("counter", R"(counter value=(\d+))");
  ASSERT_EQ(m.size(), 2u);
  uint64_t after = std::stoull(m.str(1));
  EXPECT_GE(after - now, 150u);
  EXPECT_LE(after - now, 300u);
}

TEST_F(ProbeQemuTest, RngReadsQemusVirtioRng) {
  boot();
  auto a = run_ok("rng 32", R"(rng bytes=32 hex=([0-9a-f]{64}))");
  ASSERT_EQ(a.size(), 2u);
  std::string first = a.str(1);
  auto b = run_ok("rng 32", R"(rng bytes=32 hex=([0-9a-f]{64}))");
  ASSERT_EQ(b.size(), 2u);
  EXPECT_NE(first, b.str(1));
  EXPECT_NE(first, std::string(64, '0'));
  run_ok("rng 4096", R"(rng bytes=4096 hex=[0-9a-f]{8192})");
  auto r = console_->run_command("rng 0", kCommandTimeout);
  ASSERT_TRUE(r);
  EXPECT_FALSE(r->ok());
}

TEST_F(ProbeQemuTest, BurnUsesTheCalibratedTsc) {
  boot();
  auto start = ConsoleClock::now();
  auto m = run_ok("burn 1", R"(burn seconds=1 iterations=(\d+))");
  auto took = ConsoleClock::now() - start;
  ASSERT_EQ(m.size(), 2u);
  EXPECT_GT(std::stoull(m.str(1)), 1000000u);
  EXPECT_GE(took, 900ms);
  EXPECT_LT(took, 5s);
}

TEST_F(ProbeQemuTest, PioWritesThePort) {
  boot();
  run_ok("pio 1000", "pio writes=1000");
}

TEST_F(ProbeQemuTest, HostilePortsAndMmioLeaveTheGuestAnswering) {
  boot();
  run_ok("ports", R"(ports touched=65520)", 60s);
  run_ok("mmio", R"(mmio touched=(\d+))");
  run_ok("echo still here", "still here");
  run_ok("counter", R"(counter value=\d+)");
}

TEST_F(ProbeQemuTest, PoweroffExitsQemu) {
  boot();
  ASSERT_TRUE(console_->send_line("poweroff"));
  ASSERT_TRUE(console_->wait_for(std::regex("OK\r?\n"), kCommandTimeout));
  auto st = console_->wait_exit(10s);
  ASSERT_TRUE(st) << "QEMU still running after poweroff";
  EXPECT_TRUE(st->exited);
  EXPECT_EQ(st->code, 1) << "isa-debug-exit turns a 0 write into exit status 1";
}

TEST_F(ProbeQemuTest, RebootWithNoRebootExitsQemu) {
  boot();
  ASSERT_TRUE(console_->send_line("reboot"));
  ASSERT_TRUE(console_->wait_for(std::regex("OK\r?\n"), kCommandTimeout));
  auto st = console_->wait_exit(10s);
  ASSERT_TRUE(st) << "QEMU still running after reboot with -no-reboot";
  EXPECT_TRUE(st->exited);
  EXPECT_EQ(st->code, 0);
}

// QEMU's human monitor on a Unix socket: connect (QEMU may still be starting) and send one line.
bool qemu_monitor_command(const std::string& path, const std::string& line) {
  const auto deadline = ConsoleClock::now() + 10s;
  while (ConsoleClock::now() < deadline) {
    UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::strncpy(addr.sun_path, path.c_str(), sizeof(addr.sun_path) - 1);
    if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
      std::this_thread::sleep_for(20ms);
      continue;
    }
    const std::string l = line + "\n";
    if (::send(fd.get(), l.data(), l.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(l.size())) {
      return false;
    }
    // Keep the connection until QEMU has read the line: it answers with its next prompt.
    std::string got;
    char buf[512];
    while (got.find(line) == std::string::npos && ConsoleClock::now() < deadline) {
      pollfd p{fd.get(), POLLIN, 100};
      if (::poll(&p, 1, 100) <= 0) continue;
      const ssize_t n = ::read(fd.get(), buf, sizeof(buf));
      if (n <= 0) break;
      got.append(buf, static_cast<size_t>(n));
    }
    return true;
  }
  return false;
}

// microvm has no i8042 of its own; `-device i8042` puts QEMU's on its ISA bus (IRQ 1). QEMU's
// `sendkey ctrl-alt-delete` reaches the probe the way flotilla-vmm's ctrl_alt_del does.
TEST_F(ProbeQemuTest, CtrlAltDelFromQemusMonitorPowersOff) {
  char tmpl[] = "/tmp/probe-qemu-XXXXXX";
  ASSERT_NE(::mkdtemp(tmpl), nullptr);
  const std::string dir = tmpl;
  const std::string mon = dir + "/monitor.sock";
  boot(1, {"-device", "i8042", "-monitor", "unix:" + mon + ",server=on,wait=off"});
  run_ok("echo keyboard", "keyboard");  // the shell is idle in its input loop
  const bool sent = qemu_monitor_command(mon, "sendkey ctrl-alt-delete");
  ::unlink(mon.c_str());
  ::rmdir(dir.c_str());
  ASSERT_TRUE(sent) << "cannot reach QEMU's monitor at " << mon;
  ASSERT_TRUE(console_->wait_for(std::regex("ctrl-alt-del: powering off\r\n"), kCommandTimeout))
      << console_->output();
  auto st = console_->wait_exit(10s);
  ASSERT_TRUE(st) << "QEMU still running after ctrl-alt-del";
  EXPECT_TRUE(st->exited);
  EXPECT_EQ(st->code, 1) << "isa-debug-exit turns a 0 write into exit status 1";
}

}  // namespace
}  // namespace flotilla::test
