// kill -9 of flotillad: running guests keep running; the next flotillad re-attaches, their
// consoles answer, lifecycle works; a monitor that died while the daemon was down is crashed.
#include "tests/integration/supervisor/fleet_harness.h"

namespace flotilla::supervisor_test {
namespace {

TEST(DaemonRestartTest, GuestsSurviveAndAreReattached) {
  auto daemon = start_daemon();
  ASSERT_NE(daemon, nullptr);
  Fleet f(*daemon);
  const std::string keep = f.create("keeper");
  const std::string held = f.create("held");
  const std::string lost = f.create("lost");
  for (const auto& id : {keep, held, lost}) f.act_and_wait(id, "start");
  for (const auto& id : {keep, held, lost}) ASSERT_TRUE(f.wait_console(id, "flotilla-probe ready"));
  ASSERT_EQ(f.act(held, "pause").status, 200);
  const pid_t pk = static_cast<pid_t>(f.monitor_pid(keep));
  const pid_t ph = static_cast<pid_t>(f.monitor_pid(held));
  const pid_t pl = static_cast<pid_t>(f.monitor_pid(lost));
  ASSERT_GT(pk, 0);
  ASSERT_GT(pl, 0);

  daemon->kill_hard();
  std::this_thread::sleep_for(200ms);
  EXPECT_TRUE(process_exists(pk));
  EXPECT_TRUE(process_exists(ph));
  ASSERT_EQ(::kill(pl, SIGKILL), 0);  // dies while nobody watches
  // The guest still answers on its own control socket with no daemon at all.
  EXPECT_NE(f.run_on_console(keep, "echo nobody home").find("nobody home"), std::string::npos);

  auto again = daemon->restart();
  ASSERT_TRUE(again) << again.error().message;
  EXPECT_EQ(f.state(keep), "running");
  EXPECT_EQ(f.state(held), "paused");
  EXPECT_EQ(f.monitor_pid(keep), pk);
  ASSERT_TRUE(f.wait_state(lost, "crashed", 5s)) << f.vm(lost).dump();
  const std::string reason = f.vm(lost).value("state_reason", "");
  EXPECT_NE(reason.find("while flotillad was down"), std::string::npos) << reason;
  EXPECT_FALSE(std::filesystem::exists(f.control_socket(lost)));

  EXPECT_NE(f.console_tail(keep).find("nobody home"), std::string::npos);
  EXPECT_NE(f.run_on_console(keep, "echo after restart").find("after restart"), std::string::npos);
  ASSERT_EQ(f.act(held, "resume").status, 200);
  EXPECT_NE(f.run_on_console(held, "echo awake").find("awake"), std::string::npos);

  // Re-attached monitors are watched: a crash is noticed, a stop completes.
  ASSERT_EQ(::kill(ph, SIGKILL), 0);
  ASSERT_TRUE(f.wait_state(held, "crashed", 5s)) << f.vm(held).dump();
  f.act_and_wait(keep, "stop");
  EXPECT_EQ(f.state(keep), "stopped");
  EXPECT_FALSE(process_exists(pk));
}

}  // namespace
}  // namespace flotilla::supervisor_test

namespace flotilla::supervisor_test {
namespace {

TEST(DaemonRestartTest, ARestartOwedByThePreviousDaemonIsCarriedOut) {
  auto daemon = start_daemon();
  ASSERT_NE(daemon, nullptr);
  Fleet f(*daemon);
  const std::string id = f.create("owed", {{"restart", "on-crash"}});
  f.act_and_wait(id, "start");
  ASSERT_TRUE(f.wait_console(id, "flotilla-probe ready"));
  ASSERT_EQ(::kill(static_cast<pid_t>(f.monitor_pid(id)), SIGKILL), 0);
  ASSERT_TRUE(f.wait_state(id, "crashed", 5s));
  daemon->kill_hard();  // inside the 1 s back-off: the restart has not happened yet
  auto again = daemon->restart();
  ASSERT_TRUE(again) << again.error().message;
  ASSERT_TRUE(f.wait_state(id, "running", 10s)) << f.vm(id).dump() << daemon->stderr_log();
  EXPECT_TRUE(f.wait_console(id, "flotilla-probe ready"));
  f.act_and_wait(id, "force-stop");
}

}  // namespace
}  // namespace flotilla::supervisor_test
