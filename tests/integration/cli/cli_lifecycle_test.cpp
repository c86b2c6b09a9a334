// The lifecycle through the real `flotilla` CLI against a real flotillad running a real monitor
// with the probe guest: create, start, a console command, pause, resume, reboot, stop.
#include <chrono>
#include <fstream>
#include <thread>

#include "cli_test_fixture.h"

namespace flotilla::cli::testing {
namespace {

class CliLifecycleTest : public CliTest {
 protected:
  void SetUp() override {
    test::DaemonOptions o;
    o.extra_args = {"--vmm-binary", FLOTILLA_VMM_PATH};
    start_daemon(o);
  }

  std::string state_of(const std::string& vm) {
    auto r = local({"--json", "vm", "show", vm});
    return parse_json(r).value("state", "?");
  }

  bool console_has(const std::string& vm, const std::string& needle, int times) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (std::chrono::steady_clock::now() < deadline) {
      auto tail = local({"console", vm, "--tail", "65536"});
      int n = 0;
      for (size_t at = tail.out.find(needle); at != std::string::npos;
           at = tail.out.find(needle, at + 1)) {
        ++n;
      }
      if (n >= times) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return false;
  }
};

TEST_F(CliLifecycleTest, CreateStartConsolePauseResumeRebootStop) {
  auto created = local({"vm", "create", "cli-probe", "--kernel", FLOTILLA_PROBE_PATH,
                        "--memory-mib", "64", "--vcpus", "2"});
  ASSERT_EQ(created.exit_code, 0) << describe(created);

  auto started = local({"vm", "start", "cli-probe"});
  ASSERT_EQ(started.exit_code, 0) << describe(started);
  EXPECT_EQ(state_of("cli-probe"), "running");
  ASSERT_TRUE(console_has("cli-probe", "flotilla-probe ready", 1));

  CliEnv env;
  env.stdin_text = "echo typed through the cli\r";
  auto console = local({"console", "cli-probe"}, env);
  EXPECT_EQ(console.exit_code, 0) << describe(console);
  EXPECT_TRUE(contains(console.out, "typed through the cli")) << describe(console);

  auto paused = local({"vm", "pause", "cli-probe"});
  EXPECT_EQ(paused.exit_code, 0) << describe(paused);
  EXPECT_EQ(state_of("cli-probe"), "paused");
  auto again = local({"vm", "pause", "cli-probe"});
  EXPECT_EQ(again.exit_code, 1) << describe(again);
  EXPECT_TRUE(contains(again.err, "invalid_state")) << describe(again);
  auto resumed = local({"vm", "resume", "cli-probe"});
  EXPECT_EQ(resumed.exit_code, 0) << describe(resumed);
  EXPECT_EQ(state_of("cli-probe"), "running");

  auto stats = local({"--json", "vm", "stats", "cli-probe"});
  EXPECT_EQ(stats.exit_code, 0) << describe(stats);
  EXPECT_GT(parse_json(stats)["monitor"].value("exits_total", 0), 0) << stats.out;

  auto rebooted = local({"vm", "reboot", "cli-probe"});
  EXPECT_EQ(rebooted.exit_code, 0) << describe(rebooted);
  EXPECT_TRUE(console_has("cli-probe", "flotilla-probe ready", 2));

  auto stopped = local({"vm", "stop", "cli-probe", "--timeout-seconds", "10"});
  EXPECT_EQ(stopped.exit_code, 0) << describe(stopped);
  EXPECT_EQ(state_of("cli-probe"), "stopped");

  auto no_wait = local({"vm", "start", "cli-probe", "--no-wait"});
  EXPECT_EQ(no_wait.exit_code, 0) << describe(no_wait);
  auto forced = local({"vm", "force-stop", "cli-probe"});
  EXPECT_EQ(forced.exit_code, 0) << describe(forced);
  EXPECT_EQ(state_of("cli-probe"), "stopped");
}

TEST_F(CliLifecycleTest, PoliciesFromCreateToALiveChange) {
  auto created = local({"vm", "create", "cli-web", "--kernel", FLOTILLA_PROBE_PATH, "--memory-mib",
                        "64", "--weight", "300", "--cap", "40"});
  ASSERT_EQ(created.exit_code, 0) << describe(created);
  EXPECT_TRUE(contains(created.out, "timeshare weight=300 cap=40%")) << created.out;
  ASSERT_EQ(local({"vm", "start", "cli-web"}).exit_code, 0);
  // The kernel's view: the VM's cgroup under this daemon's root.
  const std::string shares =
      "/sys/fs/cgroup/cpu/" + daemon_->cgroup_root() + "/vm-" +
      parse_json(local({"--json", "vm", "show", "cli-web"})).value("id", "") + "/cpu.shares";
  auto read = [](const std::string& path) {
    std::ifstream in(path);
    std::string v;
    in >> v;
    return v;
  };
  EXPECT_EQ(read(shares), "3072");
  auto changed = local({"vm", "policy", "cli-web", "--weight", "500", "--cap", "none"});
  ASSERT_EQ(changed.exit_code, 0) << describe(changed);
  EXPECT_TRUE(contains(changed.out, "timeshare weight=500 cap=none")) << changed.out;
  EXPECT_EQ(read(shares), "5120");
  // What cannot change while it runs, and what the host cannot give, exit 1 with the reason.
  auto memory = local({"vm", "policy", "cli-web", "--memory-mode", "reserved"});
  EXPECT_EQ(memory.exit_code, 1) << describe(memory);
  EXPECT_TRUE(contains(memory.err, "only its cpu policy")) << describe(memory);
  auto host = local({"host"});
  EXPECT_EQ(host.exit_code, 0) << describe(host);
  EXPECT_TRUE(contains(host.out, "under " + daemon_->cgroup_root())) << host.out;
  EXPECT_TRUE(contains(host.out, "vms_holding:")) << host.out;
  EXPECT_EQ(local({"vm", "force-stop", "cli-web"}).exit_code, 0);
}

}  // namespace
}  // namespace flotilla::cli::testing
