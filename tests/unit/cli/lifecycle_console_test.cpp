// Lifecycle, stats and console commands: argv → Invocation → request, the progress bar, the
// detach key and the server's console messages.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "cli/app.h"
#include "cli/console.h"
#include "cli/render.h"
#include "cli/requests.h"
#include "tests/unit/cli/parse_argv.h"

namespace flotilla::cli {
namespace {

test::ParsedArgv parse(std::vector<const char*> args) {
  test::unset_cli_environment();
  return test::parse_argv(std::move(args));
}

TEST(LifecycleArgs, EveryActionPostsToItsRouteAndWaitsByDefault) {
  for (const char* action : {"start", "stop", "force-stop", "pause", "resume", "reboot"}) {
    auto p = parse({"vm", action, "web-1"});
    ASSERT_TRUE(p.result.ok()) << action << ": " << p.err;
    EXPECT_EQ(p.result->command, Command::kVmAction);
    EXPECT_EQ(p.result->action, action);
    EXPECT_EQ(p.result->request.method, "POST");
    EXPECT_EQ(p.result->request.target, std::string("/v1/vms/web-1/") + action);
    EXPECT_TRUE(p.result->request.body.empty());
    EXPECT_TRUE(p.result->wait);
    EXPECT_EQ(p.result->subject, "web-1");
  }
}

TEST(LifecycleArgs, NoWaitTimeoutsAndEncoding) {
  auto p = parse({"vm", "start", "web 1", "--no-wait", "--timeout", "5"});
  ASSERT_TRUE(p.result.ok()) << p.err;
  EXPECT_FALSE(p.result->wait);
  EXPECT_EQ(p.result->request.target, "/v1/vms/web%201/start");
  EXPECT_EQ(p.result->wait_timeout, std::chrono::milliseconds(5000));

  auto stop = parse({"vm", "stop", "web-1", "--timeout-seconds", "60"});
  ASSERT_TRUE(stop.result.ok()) << stop.err;
  EXPECT_EQ(stop.result->request.target, "/v1/vms/web-1/stop?timeout_seconds=60");
  // The wait covers the guest's grace period plus some slack, whatever --timeout says.
  EXPECT_EQ(stop.result->wait_timeout, std::chrono::seconds(60) + kStopWaitSlack);
  auto plain_stop = parse({"vm", "stop", "web-1"});
  ASSERT_TRUE(plain_stop.result.ok());
  EXPECT_EQ(plain_stop.result->request.target, "/v1/vms/web-1/stop");
  EXPECT_EQ(plain_stop.result->wait_timeout, std::chrono::seconds(30) + kStopWaitSlack);

  // --timeout-seconds belongs to stop only; a name is required.
  EXPECT_FALSE(parse({"vm", "start", "web-1", "--timeout-seconds", "5"}).result.ok());
  EXPECT_FALSE(parse({"vm", "stop", "web-1", "--timeout-seconds", "-1"}).result.ok());
  EXPECT_FALSE(parse({"vm", "reboot"}).result.ok());
}

TEST(LifecycleArgs, StatsAndConsole) {
  auto stats = parse({"vm", "stats", "web-1"});
  ASSERT_TRUE(stats.result.ok()) << stats.err;
  EXPECT_EQ(stats.result->command, Command::kVmStats);
  EXPECT_EQ(stats.result->request.method, "GET");
  EXPECT_EQ(stats.result->request.target, "/v1/vms/web-1/stats");

  auto console = parse({"console", "web-1"});
  ASSERT_TRUE(console.result.ok()) << console.err;
  EXPECT_EQ(console.result->command, Command::kConsole);
  EXPECT_EQ(console.result->request.target, "/v1/vms/web-1/console/ws");
  EXPECT_FALSE(console.result->read_only);

  auto ro = parse({"console", "web-1", "--read-only"});
  ASSERT_TRUE(ro.result.ok()) << ro.err;
  EXPECT_TRUE(ro.result->read_only);
  EXPECT_EQ(ro.result->request.target, "/v1/vms/web-1/console/ws?mode=read");

  auto tail = parse({"console", "web-1", "--tail"});
  ASSERT_TRUE(tail.result.ok()) << tail.err;
  EXPECT_EQ(tail.result->command, Command::kConsoleTail);
  EXPECT_EQ(tail.result->request.target, "/v1/vms/web-1/console?bytes=16384");
  auto tail_n = parse({"console", "--tail", "512", "web-1"});
  ASSERT_TRUE(tail_n.result.ok()) << tail_n.err;
  EXPECT_EQ(tail_n.result->request.target, "/v1/vms/web-1/console?bytes=512");
  EXPECT_FALSE(parse({"console", "web-1", "--tail", "0"}).result.ok());
  EXPECT_FALSE(parse({"console", "web-1", "--tail", "65537"}).result.ok());
  EXPECT_FALSE(parse({"console"}).result.ok());
}

TEST(LifecycleRequests, BuildersAreExact) {
  EXPECT_EQ(vm_action_request("a", "force-stop").target, "/v1/vms/a/force-stop");
  EXPECT_EQ(vm_action_request("a", "start", 5).target, "/v1/vms/a/start");  // stop only
  EXPECT_EQ(vm_action_request("a", "stop", 0).target, "/v1/vms/a/stop?timeout_seconds=0");
  EXPECT_EQ(operation_request("0f0e").target, "/v1/operations/0f0e");
  EXPECT_EQ(operation_request("0f0e").method, "GET");
  EXPECT_EQ(console_tail_request("a/b").target, "/v1/vms/a%2Fb/console");
  EXPECT_EQ(console_ws_request("a", false).target, "/v1/vms/a/console/ws");
}

TEST(ProgressBar, DrawsTheBrief) {
  EXPECT_EQ(progress_bar(60, "vm.start", 10), "[=====>    ] 60% vm.start");
  EXPECT_EQ(progress_bar(0, "vm.stop", 10), "[          ] 0% vm.stop");
  EXPECT_EQ(progress_bar(100, "vm.stop", 10), "[==========] 100% vm.stop");
  EXPECT_EQ(progress_bar(250, "x", 4), "[====] 100% x");
  EXPECT_EQ(progress_bar(-3, "x", 4), "[    ] 0% x");
  EXPECT_EQ(progress_bar(50, "vm.reboot").size(), std::string("[] 50% vm.reboot").size() + 20);
}

TEST(ConsoleKeys, CtrlRightBracketDetaches) {
  auto plain = scan_for_detach("ls\r");
  EXPECT_FALSE(plain.detach);
  EXPECT_EQ(plain.forward, "ls\r");
  // forward views the scanned chunk, so the chunk must outlive it.
  const std::string chunk =
      "ab\x1d"
      "cd";
  auto esc = scan_for_detach(chunk);
  EXPECT_TRUE(esc.detach);
  EXPECT_EQ(esc.forward, "ab");
  EXPECT_TRUE(scan_for_detach("\x1d").detach);
}

TEST(ConsoleKeys, ServerMessagesBecomeNotes) {
  EXPECT_EQ(describe_console_message(R"({"console":"read-write"})"),
            "read-write: your input goes to the guest");
  EXPECT_EQ(
      describe_console_message(R"({"console":"read-only","reason":"another writer is attached"})"),
      "read-only: your input is not sent (another writer is attached)");
  EXPECT_FALSE(describe_console_message("hello"));
  EXPECT_FALSE(describe_console_message(R"({"other":1})"));
}

TEST(RenderFlat, NestedKeysAndArrays) {
  auto j = nlohmann::json::parse(R"({"exits":{"io":3,"mmio":0},"vcpus":["running"],"e":{}})");
  const std::string out = render_flat(j);
  EXPECT_NE(out.find("exits.io"), std::string::npos) << out;
  EXPECT_NE(out.find("vcpus[0]"), std::string::npos) << out;
  EXPECT_NE(out.find("running"), std::string::npos) << out;
  EXPECT_EQ(out.find("e:"), 0u) << out;  // an empty object is a value (keys sorted)
}

}  // namespace
}  // namespace flotilla::cli
