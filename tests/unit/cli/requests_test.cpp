#include "cli/requests.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <nlohmann/json.hpp>

namespace flotilla::cli {
namespace {

using nlohmann::json;

TEST(Requests, ReadsAndDeletesTargetTheContractRoutes) {
  EXPECT_EQ(vm_list_request().method, "GET");
  EXPECT_EQ(vm_list_request().target, "/v1/vms");
  EXPECT_EQ(vm_show_request("web-1").target, "/v1/vms/web-1");
  EXPECT_EQ(vm_delete_request("web-1").method, "DELETE");
  EXPECT_EQ(vm_delete_request("web-1").target, "/v1/vms/web-1");
  EXPECT_EQ(host_request().target, "/v1/host");
  EXPECT_EQ(token_list_request().target, "/v1/tokens");
  EXPECT_EQ(token_revoke_request("abc").method, "DELETE");
  EXPECT_EQ(token_revoke_request("abc").target, "/v1/tokens/abc");
  EXPECT_TRUE(vm_list_request().body.empty());
}

TEST(Requests, NamesAreOnePercentEncodedPathSegment) {
  EXPECT_EQ(vm_show_request("../../etc").target, "/v1/vms/..%2F..%2Fetc");
  EXPECT_EQ(vm_delete_request("a b").target, "/v1/vms/a%20b");
}

TEST(Requests, VmCreateFromFlagsSendsOnlyWhatWasGiven) {
  VmCreateArgs a;
  a.name = "web-1";
  a.kernel = "/boot/vmlinux";
  auto r = vm_create_request(a);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->method, "POST");
  EXPECT_EQ(r->target, "/v1/vms");
  EXPECT_EQ(json::parse(r->body),
            json::parse(R"({"name":"web-1","boot":{"kernel":"/boot/vmlinux"}})"));
}

TEST(Requests, VmCreateMapsEveryFlag) {
  VmCreateArgs a;
  a.name = "db";
  a.kernel = "/k";
  a.initrd = "/i";
  a.cmdline = "console=ttyS0";
  a.vcpus = 4;
  a.memory_mib = 512;
  a.restart = "on-crash";
  auto r = vm_create_request(a);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(json::parse(r->body), json::parse(R"({"name":"db","vcpus":4,"memory_mib":512,
      "boot":{"kernel":"/k","initrd":"/i","cmdline":"console=ttyS0"},"restart":"on-crash"})"));
}

TEST(Requests, RelativeKernelPathsBecomeAbsolute) {
  VmCreateArgs a;
  a.name = "x";
  a.kernel = "images/vmlinux";
  auto r = vm_create_request(a);
  ASSERT_TRUE(r.ok());
  auto expected = (std::filesystem::current_path() / "images/vmlinux").string();
  EXPECT_EQ(json::parse(r->body)["boot"]["kernel"], expected);
}

TEST(Requests, VmCreateNeedsNameAndKernelWithoutJson) {
  VmCreateArgs a;
  a.kernel = "/k";
  auto r = vm_create_request(a);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("NAME"), std::string::npos);
  a = {};
  a.name = "x";
  r = vm_create_request(a);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("--kernel"), std::string::npos);
}

TEST(Requests, FromJsonIsSentAsIsAndFlagsOverrideIt) {
  VmCreateArgs a;
  a.from_json = R"({"name":"a","vcpus":2,"boot":{"kernel":"/k","cmdline":"x"},"future":1})";
  auto r = vm_create_request(a);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(json::parse(r->body), json::parse(*a.from_json));  // unknown fields: server's call
  a.name = "b";
  a.cmdline = "y";
  a.vcpus = 8;
  r = vm_create_request(a);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(json::parse(r->body), json::parse(R"({"name":"b","vcpus":8,
      "boot":{"kernel":"/k","cmdline":"y"},"future":1})"));
}

TEST(Requests, FromJsonMustBeAnObject) {
  for (const char* text : {"", "{", "[1,2]", "\"web\"", "{\"a\":1}}"}) {
    VmCreateArgs a;
    a.from_json = text;
    auto r = vm_create_request(a);
    ASSERT_FALSE(r.ok()) << text;
    EXPECT_NE(r.error().message.find("--from-json"), std::string::npos);
  }
}

TEST(Requests, InvalidUtf8InArgumentsDoesNotThrow) {
  VmCreateArgs a;
  a.name = "bad\xff";
  a.kernel = "/k";
  auto r = vm_create_request(a);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(json::parse(r->body)["name"], "bad\xEF\xBF\xBD");
}

TEST(Requests, TokenCreate) {
  TokenCreateArgs t{"ci", "viewer", std::nullopt};
  auto r = token_create_request(t);
  EXPECT_EQ(r.method, "POST");
  EXPECT_EQ(r.target, "/v1/tokens");
  EXPECT_EQ(json::parse(r.body), json::parse(R"({"name":"ci","role":"viewer"})"));
  t.expires_in_seconds = 3600;
  EXPECT_EQ(json::parse(token_create_request(t).body)["expires_in_seconds"], 3600);
}

}  // namespace
}  // namespace flotilla::cli
