// argv → Invocation: the command tree, global options anywhere, environment variables.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <nlohmann/json.hpp>

#include "cli/app.h"
#include "tests/unit/cli/parse_argv.h"

namespace flotilla::cli {
namespace {

using nlohmann::json;

using test::parse_argv;

class Args : public ::testing::Test {
 protected:
  void SetUp() override { test::unset_cli_environment(); }
  void TearDown() override { SetUp(); }
};

TEST_F(Args, VmListDefaultsToTheStateDirAndHumanOutput) {
  auto p = parse_argv({"vm", "list"});
  ASSERT_TRUE(p.result.ok()) << p.err;
  EXPECT_EQ(p.result->command, Command::kVmList);
  EXPECT_EQ(p.result->request.target, "/v1/vms");
  EXPECT_FALSE(p.result->json);
  EXPECT_EQ(p.result->connection.state_dir, kDefaultStateDir);
  EXPECT_EQ(p.result->connection.url, "");
}

TEST_F(Args, GlobalOptionsWorkBeforeAndAfterTheCommand) {
  auto p = parse_argv({"--state-dir", "/s", "vm", "show", "web-1", "--json", "--timeout", "2.5"});
  ASSERT_TRUE(p.result.ok()) << p.err;
  EXPECT_EQ(p.result->command, Command::kVmShow);
  EXPECT_EQ(p.result->request.target, "/v1/vms/web-1");
  EXPECT_EQ(p.result->subject, "web-1");
  EXPECT_TRUE(p.result->json);
  EXPECT_EQ(p.result->connection.state_dir, "/s");
  EXPECT_EQ(p.result->connection.timeout.count(), 2500);
}

TEST_F(Args, EnvironmentSuppliesUrlTokenAndStateDirButFlagsWin) {
  setenv("FLOTILLA_URL", "http://127.0.0.1:1", 1);
  setenv("FLOTILLA_TOKEN", "flt_env", 1);
  setenv("FLOTILLA_STATE_DIR", "/env-state", 1);
  auto p = parse_argv({"host"});
  ASSERT_TRUE(p.result.ok()) << p.err;
  EXPECT_EQ(p.result->connection.url, "http://127.0.0.1:1");
  EXPECT_EQ(p.result->connection.token, "flt_env");
  EXPECT_EQ(p.result->connection.state_dir, "/env-state");
  p = parse_argv({"--token", "flt_flag", "--url", "http://h:2", "host"});
  ASSERT_TRUE(p.result.ok()) << p.err;
  EXPECT_EQ(p.result->connection.token, "flt_flag");
  EXPECT_EQ(p.result->connection.url, "http://h:2");
}

TEST_F(Args, VmCreateFlagsBecomeTheBody) {
  auto p = parse_argv({"vm", "create", "web-1", "--kernel", "/k", "--vcpus", "2", "--memory-mib",
                       "256", "--cmdline", "console=ttyS0 quiet", "--restart", "always"});
  ASSERT_TRUE(p.result.ok()) << p.err;
  EXPECT_EQ(p.result->command, Command::kVmCreate);
  EXPECT_EQ(p.result->request.method, "POST");
  EXPECT_EQ(json::parse(p.result->request.body),
            json::parse(R"({"name":"web-1","vcpus":2,"memory_mib":256,"restart":"always",
                "boot":{"kernel":"/k","cmdline":"console=ttyS0 quiet"}})"));
}

TEST_F(Args, VmCreateFromStdin) {
  auto p =
      parse_argv({"vm", "create", "--from-json", "-"}, R"({"name":"s","boot":{"kernel":"/k"}})");
  ASSERT_TRUE(p.result.ok()) << p.err;
  EXPECT_EQ(json::parse(p.result->request.body)["name"], "s");
}

TEST_F(Args, VmCreateFromMissingFileIsAUsageError) {
  auto p = parse_argv({"vm", "create", "--from-json", "/nonexistent/spec.json"});
  ASSERT_FALSE(p.result.ok());
  EXPECT_EQ(p.result.error(), kExitUsage);
  EXPECT_NE(p.err.find("error: usage: --from-json: cannot read /nonexistent/spec.json"),
            std::string::npos)
      << p.err;
}

TEST_F(Args, TokenCommands) {
  auto p = parse_argv({"token", "create", "ci", "--role", "operator", "--expires-in", "60"});
  ASSERT_TRUE(p.result.ok()) << p.err;
  EXPECT_EQ(p.result->command, Command::kTokenCreate);
  EXPECT_EQ(json::parse(p.result->request.body),
            json::parse(R"({"name":"ci","role":"operator","expires_in_seconds":60})"));
  p = parse_argv({"token", "list"});
  ASSERT_TRUE(p.result.ok());
  EXPECT_EQ(p.result->request.target, "/v1/tokens");
  p = parse_argv({"token", "revoke", "id-1"});
  ASSERT_TRUE(p.result.ok());
  EXPECT_EQ(p.result->request.method, "DELETE");
  EXPECT_EQ(p.result->request.target, "/v1/tokens/id-1");
}

TEST_F(Args, UsageErrorsExitTwo) {
  for (auto args : std::vector<std::vector<const char*>>{
           {},
           {"vm"},
           {"vm", "frobnicate"},
           {"vm", "show"},
           {"vm", "create", "x", "--vcpus", "many", "--kernel", "/k"},
           {"vm", "create", "x"},
           {"token", "create", "ci"},
           {"--timeout", "0", "host"},
           {"--bogus", "host"},
           {"host", "extra"}}) {
    auto p = parse_argv(args);
    ASSERT_FALSE(p.result.ok()) << (args.empty() ? "" : args[0]);
    EXPECT_EQ(p.result.error(), kExitUsage);
    EXPECT_FALSE(p.err.empty());
  }
}

TEST_F(Args, VersionAndHelpExitZero) {
  auto p = parse_argv({"--version"});
  ASSERT_FALSE(p.result.ok());
  EXPECT_EQ(p.result.error(), kExitOk);
  EXPECT_EQ(p.out.rfind("flotilla ", 0), 0u) << p.out;
  p = parse_argv({"vm", "create", "--help"});
  ASSERT_FALSE(p.result.ok());
  EXPECT_EQ(p.result.error(), kExitOk);
  EXPECT_NE(p.out.find("--memory-mib"), std::string::npos);
}

}  // namespace
}  // namespace flotilla::cli
