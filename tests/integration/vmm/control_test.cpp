// The control socket: status, pause/resume (the guest's counter stops and continues), stats,
// console stream and tail, stop; SIGTERM stops cleanly.
#include <signal.h>
#include <sys/stat.h>

#include <fstream>

#include "tests/integration/vmm/vmm_harness.h"

namespace flotilla::vmm::test {
namespace {

long long counter(GuestConsole& c) {
  auto r = c.run_command("counter", 10s);
  if (!r || !r->ok() || r->lines.empty()) return -1;
  return field(r->lines[0], "value");
}

TEST(VmmControl, PauseStopsTheCounterAndResumeContinuesIt) {
  TempDir dir;
  const std::string sock = dir.file("ctl.sock");
  auto c = start_vmm({"--control-socket", sock});
  ASSERT_TRUE(c);
  ASSERT_TRUE(wait_ready(*c)) << c->output();
  auto ctl = ControlClient::connect(sock);
  ASSERT_TRUE(ctl) << "cannot connect to " << sock;
  struct stat st {};
  ASSERT_EQ(::stat(sock.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);

  auto status = ctl->request({{"cmd", "status"}});
  ASSERT_TRUE(status && (*status)["ok"] == true) << (status ? status->dump() : "no reply");
  EXPECT_EQ((*status)["state"], "running");

  const long long before = counter(*c);
  ASSERT_GE(before, 0) << c->output();
  auto paused = ctl->request({{"cmd", "pause"}});
  ASSERT_TRUE(paused && (*paused)["ok"] == true) << (paused ? paused->dump() : "no reply");
  EXPECT_EQ((*ctl->request({{"cmd", "status"}}))["state"], "paused");
  // While paused the guest neither runs its shell nor ticks: a command gets no answer...
  EXPECT_FALSE(c->run_command("counter", 1500ms));
  auto stats = ctl->request({{"cmd", "stats"}});
  ASSERT_TRUE(stats && (*stats)["ok"] == true);
  EXPECT_EQ((*stats)["stats"]["vcpus"][0], "paused");
  auto resumed = ctl->request({{"cmd", "resume"}});
  ASSERT_TRUE(resumed && (*resumed)["ok"] == true);
  // ...which it answers once resumed (the typed line waited in the UART).
  auto r = c->wait_for(std::regex("counter value=(\\d+)"), 10s);
  ASSERT_TRUE(r) << c->output();
  const long long at_resume = std::stoll(r->str(1));
  // 1.5 s paused at 100 Hz would be ~150 ticks; allow the few before/after the pause.
  EXPECT_LT(at_resume - before, 100)
      << "counter ran while paused: " << before << " -> " << at_resume;
  const auto until = ConsoleClock::now() + 10s;
  long long later = at_resume;
  while (later <= at_resume + 20 && ConsoleClock::now() < until) later = counter(*c);
  EXPECT_GT(later, at_resume + 20) << "counter did not continue after resume";
}

TEST(VmmControl, StatsConsoleTailConsoleStreamAndStop) {
  TempDir dir;
  const std::string sock = dir.file("ctl.sock");
  const std::string log = dir.file("console.log");
  auto c = start_vmm({"--control-socket", sock, "--console-log", log});
  ASSERT_TRUE(c);
  ASSERT_TRUE(wait_ready(*c)) << c->output();
  auto ctl = ControlClient::connect(sock);
  ASSERT_TRUE(ctl);
  auto stats = ctl->request({{"cmd", "stats"}});
  ASSERT_TRUE(stats && (*stats)["ok"] == true);
  const auto& s = (*stats)["stats"];
  EXPECT_GT(s["exits"]["io"].get<uint64_t>(), 0u) << s.dump();
  EXPECT_GT(s["resident_bytes"].get<uint64_t>(), 0u);
  EXPECT_LT(s["resident_bytes"].get<uint64_t>(), 64ull << 20);
  EXPECT_TRUE(s["pio"]["ranges"].is_array());

  auto tail = ctl->request({{"cmd", "console_tail"}, {"bytes", 4096}});
  ASSERT_TRUE(tail && (*tail)["ok"] == true);
  EXPECT_NE((*tail)["data"].get<std::string>().find("flotilla-probe ready"), std::string::npos);

  auto stream = ControlClient::connect(sock);
  ASSERT_TRUE(stream);
  auto hello = stream->request({{"cmd", "console"}, {"write", true}});
  ASSERT_TRUE(hello && (*hello)["ok"] == true);
  ASSERT_TRUE(stream->send_raw("echo via-socket\n"));
  EXPECT_TRUE(stream->read_until("via-socket\r\nOK", 10s));
  EXPECT_TRUE(c->wait_for(std::regex("via-socket\r\nOK"), 5s)) << c->output();

  auto bad = ctl->request({{"cmd", "frobnicate"}});
  ASSERT_TRUE(bad);
  EXPECT_EQ((*bad)["ok"], false);
  auto stop = ctl->request({{"cmd", "stop"}});
  ASSERT_TRUE(stop && (*stop)["ok"] == true);
  auto st = c->wait_exit(20s);
  ASSERT_TRUE(st && st->exited);
  EXPECT_EQ(st->code, 0);
  EXPECT_FALSE(std::filesystem::exists(sock)) << "socket left behind";
  std::ifstream in(log);
  std::string logged((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_NE(logged.find("flotilla-probe ready"), std::string::npos);
}

TEST(VmmControl, SigtermStopsCleanly) {
  auto c = start_vmm({"--vcpus", "2"});
  ASSERT_TRUE(c);
  ASSERT_TRUE(wait_ready(*c)) << c->output();
  ASSERT_EQ(::kill(c->pid(), SIGTERM), 0);
  auto st = c->wait_exit(10s);
  ASSERT_TRUE(st) << "monitor ignored SIGTERM";
  EXPECT_TRUE(st->exited);
  EXPECT_EQ(st->code, 0) << c->stderr_output();
}

}  // namespace
}  // namespace flotilla::vmm::test
