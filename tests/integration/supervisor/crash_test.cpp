// kill -9 of one monitor: that VM is crashed with the reason, a second guest keeps running, and
// the restart policy brings an on-crash VM back with a new monitor.
#include "tests/integration/supervisor/fleet_harness.h"

namespace flotilla::supervisor_test {
namespace {

TEST(CrashTest, KilledMonitorIsCrashedOthersRunOnCrashPolicyRestarts) {
  auto daemon = start_daemon();
  ASSERT_NE(daemon, nullptr);
  Fleet f(*daemon);
  const std::string a = f.create("victim");  // restart: never
  const std::string b = f.create("bystander");
  const std::string c = f.create("phoenix", {{"restart", "on-crash"}});
  for (const auto& id : {a, b, c}) f.act_and_wait(id, "start");
  for (const auto& id : {a, b, c}) ASSERT_TRUE(f.wait_console(id, "flotilla-probe ready"));

  const pid_t pa = static_cast<pid_t>(f.monitor_pid(a));
  ASSERT_GT(pa, 0);
  ASSERT_EQ(::kill(pa, SIGKILL), 0);
  ASSERT_TRUE(f.wait_state(a, "crashed", 5s)) << f.vm(a).dump();
  const std::string reason = f.vm(a).value("state_reason", "");
  EXPECT_NE(reason.find("killed by signal 9 (SIGKILL)"), std::string::npos) << reason;
  EXPECT_NE(reason.find("flotilla-probe ready"), std::string::npos)  // last console lines
      << reason;
  EXPECT_FALSE(std::filesystem::exists(f.control_socket(a)));
  std::this_thread::sleep_for(1500ms);  // longer than the first back-off
  EXPECT_EQ(f.state(a), "crashed");     // policy never: stays down

  EXPECT_EQ(f.state(b), "running");
  const std::string echoed = f.run_on_console(b, "echo still here");
  EXPECT_NE(echoed.find("still here"), std::string::npos) << echoed;

  const pid_t pc = static_cast<pid_t>(f.monitor_pid(c));
  ASSERT_GT(pc, 0);
  ASSERT_EQ(::kill(pc, SIGKILL), 0);
  ASSERT_TRUE(f.wait_state(c, "crashed", 5s)) << f.vm(c).dump();
  ASSERT_TRUE(f.wait_state(c, "running", 10s)) << f.vm(c).dump() << daemon->stderr_log();
  EXPECT_TRUE(f.wait_console(c, "flotilla-probe ready")) << f.console_tail(c);  // the new run
  const pid_t pc2 = static_cast<pid_t>(f.monitor_pid(c));
  EXPECT_GT(pc2, 0);
  EXPECT_NE(pc2, pc);
  bool restart_op = false;
  for (auto deadline = Clock::now() + 5s; !restart_op && Clock::now() < deadline;) {
    const json ops = daemon->client().get("/v1/operations").json();
    for (const auto& op : ops["items"]) {
      if (op.value("kind", "") == "vm.restart" && op.value("target", "") == c) {
        restart_op = op.value("state", "") == "succeeded";
      }
    }
    if (!restart_op) std::this_thread::sleep_for(10ms);
  }
  EXPECT_TRUE(restart_op) << daemon->client().get("/v1/operations").body;

  // The crashed VM starts again by hand, and the metrics name every running VM.
  f.act_and_wait(a, "start");
  // A guest just started may not have exited to its monitor yet: wait for its first exits.
  std::string metrics;
  for (auto until = Clock::now() + 5s; Clock::now() < until; std::this_thread::sleep_for(20ms)) {
    metrics = daemon->client().get("/metrics").body;
    if (metrics.find("flotilla_vm_exits_total{vm=\"victim\"") != std::string::npos) break;
  }
  for (const char* name : {"victim", "bystander", "phoenix"}) {
    EXPECT_NE(metrics.find(std::string("flotilla_vm_resident_bytes{vm=\"") + name),
              std::string::npos)
        << name << "\n"
        << metrics;
  }
  EXPECT_NE(metrics.find("flotilla_vm_exits_total{vm=\"victim\""), std::string::npos) << metrics;
  for (const auto& id : {a, b, c}) f.act_and_wait(id, "force-stop");
}

TEST(CrashTest, GuestPowerOffIsStoppedNotCrashed) {
  auto daemon = start_daemon();
  ASSERT_NE(daemon, nullptr);
  Fleet f(*daemon);
  const std::string id = f.create("quitter");
  f.act_and_wait(id, "start");
  ASSERT_TRUE(f.wait_console(id, "flotilla-probe ready"));
  auto c = ControlClient::connect(f.control_socket(id), 5s);
  ASSERT_TRUE(c);
  ASSERT_TRUE(c->request({{"cmd", "console"}, {"write", true}}, 5s));
  c->send_raw("poweroff\r");
  ASSERT_TRUE(f.wait_state(id, "stopped", 10s)) << f.vm(id).dump();
  EXPECT_EQ(f.vm(id).value("state_reason", ""), "the guest powered off");
  EXPECT_EQ(f.vm(id).value("desired_state", ""), "stopped");
}

}  // namespace
}  // namespace flotilla::supervisor_test

namespace flotilla::supervisor_test {
namespace {

TEST(CrashTest, AlwaysPolicyRestartsAGuestThatPoweredOff) {
  auto daemon = start_daemon();
  ASSERT_NE(daemon, nullptr);
  Fleet f(*daemon);
  const std::string id = f.create("evergreen", {{"restart", "always"}});
  f.act_and_wait(id, "start");
  ASSERT_TRUE(f.wait_console(id, "flotilla-probe ready"));
  const int64_t first = f.monitor_pid(id);
  auto c = ControlClient::connect(f.control_socket(id), 5s);
  ASSERT_TRUE(c);
  ASSERT_TRUE(c->request({{"cmd", "console"}, {"write", true}}, 5s));
  c->send_raw("poweroff\r");
  ASSERT_TRUE(f.wait_state(id, "stopped", 10s)) << f.vm(id).dump();
  ASSERT_TRUE(f.wait_state(id, "running", 10s)) << f.vm(id).dump() << daemon->stderr_log();
  EXPECT_EQ(f.vm(id).value("desired_state", ""), "running");
  EXPECT_NE(f.monitor_pid(id), first);
  // A user's stop is final even under "always".
  f.act_and_wait(id, "force-stop");
  std::this_thread::sleep_for(1500ms);
  EXPECT_EQ(f.state(id), "stopped");
}

}  // namespace
}  // namespace flotilla::supervisor_test
