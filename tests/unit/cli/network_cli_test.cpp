// `network ...` and `vm nic ...`: argv → requests, and the table people read.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "cli/app.h"
#include "cli/render.h"
#include "tests/unit/cli/parse_argv.h"

namespace flotilla::cli {
namespace {

using nlohmann::json;

using test::parse_argv;

TEST(NetworkCli, NetworkCommandsMapToTheApi) {
  auto p = parse_argv({"network", "create", "lan", "--cidr", "10.0.0.1/24"}).result;
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->command, Command::kNetworkCreate);
  EXPECT_EQ(p->request.method, "POST");
  EXPECT_EQ(p->request.target, "/v1/networks");
  EXPECT_EQ(json::parse(p->request.body), (json{{"name", "lan"}, {"cidr", "10.0.0.1/24"}}));
  p = parse_argv({"network", "create", "wan", "--cidr", "10.1.0.1/24", "--uplink", "eth1",
                  "--bridge", "br0"})
          .result;
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(json::parse(p->request.body), (json{{"name", "wan"},
                                                {"cidr", "10.1.0.1/24"},
                                                {"bridge", "br0"},
                                                {"mode", "uplink"},
                                                {"uplink_interface", "eth1"}}));
  // --cidr is required
  EXPECT_EQ(parse_argv({"network", "create", "lan"}).result.error(), kExitUsage);
  p = parse_argv({"network", "list"}).result;
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->request.target, "/v1/networks");
  p = parse_argv({"network", "show", "lan"}).result;
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->request.target, "/v1/networks/lan");
  p = parse_argv({"network", "delete", "lan"}).result;
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->request.method, "DELETE");
  EXPECT_EQ(p->command, Command::kNetworkDelete);
}

TEST(NetworkCli, VmNicAttachDetachAndLimits) {
  auto p =
      parse_argv({"vm", "nic", "attach", "web", "--network", "lan", "--ip", "10.0.0.7"}).result;
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->request.method, "POST");
  EXPECT_EQ(p->request.target, "/v1/vms/web/nics");
  EXPECT_EQ(json::parse(p->request.body), (json{{"network", "lan"}, {"ip", "10.0.0.7"}}));
  p = parse_argv({"vm", "nic", "detach", "web", "1"}).result;
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->request.method, "DELETE");
  EXPECT_EQ(p->request.target, "/v1/vms/web/nics/1");
  p = parse_argv({"vm", "nic", "limits", "web", "0", "--tx-bytes", "1M", "--rx-packets", "500"})
          .result;
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->request.method, "PATCH");
  EXPECT_EQ(p->request.target, "/v1/vms/web/nics/0");
  EXPECT_EQ(json::parse(p->request.body),
            (json{{"limits",
                   {{"rx", {{"packets_per_sec", 500}}}, {"tx", {{"bytes_per_sec", 1 << 20}}}}}}));
  auto bad = parse_argv({"vm", "nic", "limits", "web", "0"});
  EXPECT_EQ(bad.result.error(), kExitUsage);
  EXPECT_NE(bad.err.find("--rx-bytes"), std::string::npos) << bad.err;
  EXPECT_EQ(parse_argv({"vm", "nic", "limits", "web", "0", "--tx-bytes", "fast"}).result.error(),
            kExitUsage);
}

TEST(NetworkCli, TableShowsRangesAndUse) {
  const json list = {{"items",
                      {{{"name", "lan"},
                        {"cidr", "10.0.0.0/24"},
                        {"host_address", "10.0.0.1"},
                        {"bridge", "flb-1234abcd"},
                        {"mode", "isolated"},
                        {"nic_count", 3},
                        {"id", "n1"}}}}};
  const std::string t = render_network_list(list);
  EXPECT_NE(t.find("10.0.0.0/24"), std::string::npos) << t;
  EXPECT_NE(t.find("flb-1234abcd"), std::string::npos) << t;
  EXPECT_NE(render_network(list["items"][0]).find("host_address"), std::string::npos);
  EXPECT_NE(render_network(json()).find("-"), std::string::npos);  // odd input: no throw
}

}  // namespace
}  // namespace flotilla::cli
