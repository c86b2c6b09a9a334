// `vm create` policy flags, `vm policy`, and the scheduler lines of `host`.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "cli/app.h"
#include "cli/render.h"
#include "tests/unit/cli/parse_argv.h"

namespace flotilla::cli {
namespace {

using nlohmann::json;
using test::parse_argv;

TEST(PolicyCli, CreateCarriesCpuAndMemoryPolicy) {
  auto p = parse_argv({"vm", "create", "web", "--kernel", "/k", "--cpu-mode", "partition",
                       "--dedicated-cores", "1", "--memory-mode", "reserved"})
               .result;
  ASSERT_TRUE(p.ok());
  const json body = json::parse(p->request.body);
  EXPECT_EQ(body["cpu"], (json{{"mode", "partition"}, {"dedicated_cores", 1}}));
  EXPECT_EQ(body["memory"], (json{{"mode", "reserved"}}));
  // Without flags the daemon's defaults apply: no cpu or memory in the body.
  p = parse_argv({"vm", "create", "web", "--kernel", "/k"}).result;
  ASSERT_TRUE(p.ok());
  EXPECT_FALSE(json::parse(p->request.body).contains("cpu"));
}

TEST(PolicyCli, PolicyPatchesTheVm) {
  auto p = parse_argv({"vm", "policy", "web", "--weight", "400", "--cap", "50"}).result;
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->command, Command::kVmPolicy);
  EXPECT_EQ(p->request.method, "PATCH");
  EXPECT_EQ(p->request.target, "/v1/vms/web");
  EXPECT_EQ(json::parse(p->request.body), (json{{"cpu", {{"weight", 400}, {"cap_percent", 50}}}}));
  p = parse_argv({"vm", "policy", "web", "--cap", "none"}).result;
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(json::parse(p->request.body), (json{{"cpu", {{"cap_percent", nullptr}}}}));
  // Usage errors: nothing to change, a cap that is not a number, an unknown mode.
  EXPECT_EQ(parse_argv({"vm", "policy", "web"}).result.error(), kExitUsage);
  EXPECT_EQ(parse_argv({"vm", "policy", "web", "--cap", "half"}).result.error(), kExitUsage);
  EXPECT_EQ(parse_argv({"vm", "policy", "web", "--cpu-mode", "turbo"}).result.error(), kExitUsage);
}

TEST(PolicyCli, HostShowsWhoHoldsWhichCore) {
  const json host = json::parse(R"({"hostname":"h","host_id":"i","cores":2,"memory_bytes":1024,
    "cgroup_version":1,"kvm":{"available":true},
    "scheduler":{"cgroup_version":"v1","cgroup_root":"flotilla","enforced":true,
      "cores":[{"core":0,"use":"shared","vm":null},{"core":1,"use":"dedicated","vm":"id-1"}],
      "shared_cores":[0],"dedicated_cores":[1],
      "memory":{"reserved_bytes":100663296,"reserved_available_bytes":1073741824,
                "shared_bytes":0,"shared_capacity_bytes":2147483648,"overcommit_ratio":1.5},
      "vms":[{"id":"id-1","name":"db"}]}})");
  const std::string text = render_host(host);
  EXPECT_NE(text.find("cgroup v1 under flotilla"), std::string::npos) << text;
  EXPECT_NE(text.find("1 → db"), std::string::npos) << text;
  EXPECT_NE(text.find("shared_cores:"), std::string::npos) << text;
  EXPECT_NE(text.find("overcommit 1.5"), std::string::npos) << text;
}

}  // namespace
}  // namespace flotilla::cli
