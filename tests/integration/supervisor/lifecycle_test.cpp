// One guest through its whole life via the REST API: create, start, a console command, pause
// (the guest's counter and the monitor's exit counter stop), resume, reboot, graceful stop;
// every illegal transition is a 409 naming the state; bad definitions are 422 before anything
// starts.
#include <fstream>

#include "tests/integration/supervisor/fleet_harness.h"

namespace flotilla::supervisor_test {
namespace {

class LifecycleTest : public ::testing::Test {
 protected:
  void SetUp() override {
    daemon_ = start_daemon();
    ASSERT_NE(daemon_, nullptr);
    fleet_ = std::make_unique<Fleet>(*daemon_);
  }
  std::unique_ptr<FlotilladProcess> daemon_;
  std::unique_ptr<Fleet> fleet_;
};

TEST_F(LifecycleTest, StartConsolePauseResumeRebootStop) {
  Fleet& f = *fleet_;
  const std::string id = f.create("life");
  ASSERT_FALSE(id.empty());
  EXPECT_EQ(f.state(id), "stopped");

  f.act_and_wait(id, "start");
  EXPECT_EQ(f.state(id), "running");
  EXPECT_EQ(f.vm(id).value("desired_state", ""), "running");
  ASSERT_TRUE(f.wait_console(id, "flotilla-probe ready")) << f.console_tail(id);

  const std::string echoed = f.run_on_console(id, "echo hello from the api test");
  EXPECT_NE(echoed.find("hello from the api test"), std::string::npos) << echoed;
  EXPECT_NE(echoed.find("OK"), std::string::npos) << echoed;

  // Pause: every vCPU parks, the monitor sees no more exits and the guest's timer counter
  // (100 Hz while the guest runs) does not advance while paused.
  const std::string c1 = f.run_on_console(id, "counter");
  const auto t1 = Clock::now();
  auto paused = f.act(id, "pause");
  ASSERT_EQ(paused.status, 200) << paused.body;
  EXPECT_EQ(paused.json().value("state", ""), "paused");
  const auto before = daemon_->client().get("/v1/vms/" + id + "/stats").json()["monitor"];
  std::this_thread::sleep_for(1000ms);
  const auto after = daemon_->client().get("/v1/vms/" + id + "/stats").json()["monitor"];
  EXPECT_EQ(before.value("exits_total", -1), after.value("exits_total", -2))
      << "exits while paused: " << before.dump() << " -> " << after.dump();
  ASSERT_TRUE(after["vcpus"].is_array()) << after.dump();
  for (const auto& v : after["vcpus"]) EXPECT_EQ(v, "paused") << after.dump();

  auto resumed = f.act(id, "resume");
  ASSERT_EQ(resumed.status, 200) << resumed.body;
  EXPECT_EQ(resumed.json().value("state", ""), "running");
  const std::string c2 = f.run_on_console(id, "counter");
  const double elapsed = std::chrono::duration<double>(Clock::now() - t1).count();
  const long long v1 = probe_field(c1, "value");
  const long long v2 = probe_field(c2, "value");
  ASSERT_GE(v1, 0) << c1;
  ASSERT_GT(v2, v1) << c2;  // it runs again
  // Running the whole time would give ~100 * elapsed ticks; 1 s of it was paused.
  EXPECT_LT(v2 - v1, static_cast<long long>((elapsed - 0.8) * 100) + 20)
      << "counter " << v1 << " -> " << v2 << " over " << elapsed << " s with 1 s paused";

  // Reboot: the probe boots a second time in the same monitor.
  const int64_t pid = f.monitor_pid(id);
  f.act_and_wait(id, "reboot");
  EXPECT_EQ(f.state(id), "running");
  EXPECT_TRUE(f.wait_console(id, "flotilla-probe ready", 2)) << f.console_tail(id);
  EXPECT_EQ(f.monitor_pid(id), pid);
  auto stats = daemon_->client().get("/v1/vms/" + id + "/stats").json();
  EXPECT_EQ(stats["monitor"].value("reboots", -1), 1) << stats.dump();

  // Graceful stop: the guest is asked (Ctrl-Alt-Del) and powers itself off, or is forced after
  // the timeout.
  auto stop = f.act(id, "stop", "?timeout_seconds=10");
  ASSERT_EQ(stop.status, 202) << stop.body;
  EXPECT_EQ(f.wait_op(stop.json().value("id", ""), 30s).value("state", ""), "succeeded");
  EXPECT_EQ(f.state(id), "stopped");
  EXPECT_EQ(f.vm(id).value("desired_state", ""), "stopped");
  EXPECT_EQ(f.vm(id).value("state_reason", "?"), "");
  if (f.console_tail(id).find("ctrl-alt-del: powering off") == std::string::npos) {
    // Seen under heavy host load: the probe did not take the keyboard interrupt in time.
    RecordProperty("graceful", "forced after timeout");
  }
  EXPECT_FALSE(process_exists(static_cast<pid_t>(pid)));
  EXPECT_FALSE(std::filesystem::exists(f.control_socket(id)));
}

TEST_F(LifecycleTest, IllegalTransitionsAre409NamingTheState) {
  Fleet& f = *fleet_;
  const std::string id = f.create("rules");
  for (const char* action : {"stop", "pause", "resume", "reboot", "force-stop"}) {
    auto r = f.act(id, action);
    EXPECT_EQ(r.status, 409) << action << ": " << r.body;
    EXPECT_EQ(r.json()["error"].value("code", ""), "invalid_state") << r.body;
    EXPECT_NE(r.json()["error"].value("message", "").find("stopped"), std::string::npos) << r.body;
  }
  f.act_and_wait(id, "start");
  for (const char* action : {"start", "resume"}) {
    auto r = f.act(id, action);
    EXPECT_EQ(r.status, 409) << action << ": " << r.body;
    EXPECT_NE(r.json()["error"].value("message", "").find("running"), std::string::npos) << r.body;
  }
  auto del = daemon_->client().del("/v1/vms/" + id);
  EXPECT_EQ(del.status, 409) << del.body;
  auto patch = daemon_->client().patch("/v1/vms/" + id, R"({"vcpus":2})");
  EXPECT_EQ(patch.status, 409) << patch.body;
  ASSERT_EQ(f.act(id, "pause").status, 200);
  for (const char* action : {"start", "pause"}) {
    auto r = f.act(id, action);
    EXPECT_EQ(r.status, 409) << action << ": " << r.body;
    EXPECT_NE(r.json()["error"].value("message", "").find("paused"), std::string::npos) << r.body;
  }
  f.act_and_wait(id, "force-stop");
  EXPECT_EQ(f.state(id), "stopped");
  EXPECT_EQ(daemon_->client().del("/v1/vms/" + id).status, 204);
  EXPECT_EQ(f.act(id, "start").status, 404);
}

TEST_F(LifecycleTest, BadDefinitionsAre422BeforeAnythingStarts) {
  Fleet& f = *fleet_;
  const std::string not_elf = daemon_->work_dir() + "/not-a-kernel";
  { std::ofstream(not_elf) << "#!/bin/sh\necho hi\n"; }
  struct Case {
    const char* name;
    json extra;
    const char* field;
  };
  const Case cases[] = {
      {"missing-kernel", {{"boot", {{"kernel", "/nonexistent/vmlinux"}}}}, "boot.kernel"},
      {"not-elf", {{"boot", {{"kernel", not_elf}}}}, "boot.kernel"},
      {"too-much-memory", {{"memory_mib", 1048576}}, "memory_mib"},
      {"missing-disk", {{"disks", {{{"path", "/nonexistent/disk.img"}}}}}, "disks[0].path"},
  };
  for (const auto& c : cases) {
    const std::string id = f.create(c.name, c.extra);
    ASSERT_FALSE(id.empty()) << c.name;
    auto r = f.act(id, "start");
    EXPECT_EQ(r.status, 422) << c.name << ": " << r.body;
    EXPECT_EQ(r.json()["error"].value("field", ""), c.field) << r.body;
    EXPECT_EQ(f.state(id), "stopped") << c.name;
    EXPECT_FALSE(std::filesystem::exists(f.control_socket(id))) << c.name;
  }
  auto ops = daemon_->client().get("/v1/operations").json();
  EXPECT_TRUE(ops["items"].empty()) << ops.dump();
}

}  // namespace
}  // namespace flotilla::supervisor_test
