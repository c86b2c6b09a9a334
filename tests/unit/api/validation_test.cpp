// Validation tables: every field of the create/patch/token bodies, good and bad.
#include <gtest/gtest.h>

#include "api/request_parsing.h"

namespace flotilla::api {
namespace {

struct Case {
  std::string body;
  ApiErrc code;       // expected error (ignored when ok)
  std::string field;  // expected field path
  bool ok = false;
};

Case good(std::string body) {
  return {std::move(body), ApiErrc::internal, "", true};
}
Case bad(std::string body, ApiErrc code, std::string field = {}) {
  return {std::move(body), code, std::move(field), false};
}

// Wraps fields into a create body that is otherwise valid.
std::string vm(const std::string& extra) {
  return R"({"name":"web-1","boot":{"kernel":"/k"})" + (extra.empty() ? "" : "," + extra) + "}";
}

constexpr auto V = ApiErrc::validation_failed;

std::vector<Case> create_cases() {
  return {
      good(vm("")),
      good(vm(R"("vcpus":64,"memory_mib":1048576,"restart":"on-crash")")),
      good(vm(
          R"("disks":[{"path":"/d","read_only":true}],"nics":[{"network":"default","mac":"52:54:00:AB:cd:ef"}])")),
      good(vm(R"("cpu":{"mode":"partition","dedicated_cores":2},"memory":{"mode":"reserved"})")),
      bad(R"({"boot":{"kernel":"/k"}})", V, "name"),
      bad(R"({"name":"a"})", V, "boot.kernel"),
      bad(R"({"name":"a","boot":{}})", V, "boot.kernel"),
      bad(R"({"name":"A","boot":{"kernel":"/k"}})", V, "name"),
      bad(R"({"name":"-a","boot":{"kernel":"/k"}})", V, "name"),
      bad(R"({"name":"../../etc","boot":{"kernel":"/k"}})", V, "name"),
      bad(R"({"name":"a\u0000b","boot":{"kernel":"/k"}})", V, "name"),
      bad(R"({"name":")" + std::string(64, 'a') + R"(","boot":{"kernel":"/k"}})", V, "name"),
      bad(R"({"name":7,"boot":{"kernel":"/k"}})", V, "name"),
      bad(vm(R"("vcpus":0)"), V, "vcpus"),
      bad(vm(R"("vcpus":65)"), V, "vcpus"),
      bad(vm(R"("vcpus":"2")"), V, "vcpus"),
      bad(vm(R"("vcpus":1.5)"), V, "vcpus"),
      bad(vm(R"("vcpus":-1)"), V, "vcpus"),
      bad(vm(R"("vcpus":18446744073709551615)"), V, "vcpus"),
      bad(vm(R"("vcpus":null)"), V, "vcpus"),
      bad(vm(R"("memory_mib":15)"), V, "memory_mib"),
      bad(vm(R"("memory_mib":1048577)"), V, "memory_mib"),
      bad(vm(R"("memory_mib":1e3)"), V, "memory_mib"),
      bad(vm(R"("memory_mib":123456789012345678901234567890)"), V, "memory_mib"),
      bad(R"({"name":"a","boot":{"kernel":"k"}})", V, "boot.kernel"),
      bad(R"({"name":"a","boot":{"kernel":"/a/../etc/passwd"}})", V, "boot.kernel"),
      bad(R"({"name":"a","boot":{"kernel":"/k","initrd":"rel"}})", V, "boot.initrd"),
      bad(R"({"name":"a","boot":{"kernel":"/k","cmdline":")" + std::string(2049, 'x') + R"("}})", V,
          "boot.cmdline"),
      bad(R"({"name":"a","boot":{"kernel":"/k","extra":1}})", V, "boot.extra"),
      bad(R"({"name":"a","boot":"/k"})", V, "boot"),
      bad(vm(R"("disks":{})"), V, "disks"),
      bad(vm(R"("disks":[{}])"), V, "disks[0].path"),
      bad(vm(R"("disks":[{"path":"/d","read_only":"no"}])"), V, "disks[0].read_only"),
      bad(vm(R"("disks":[{"path":"/d","size":1}])"), V, "disks[0].size"),
      bad(vm(R"("disks":[)" +
             [] {
               std::string s;
               for (int i = 0; i < 17; ++i) s += std::string(i ? "," : "") + R"({"path":"/d"})";
               return s;
             }() +
             "]"),
          V, "disks"),
      bad(vm(R"("nics":[{"network":"Bad"}])"), V, "nics[0].network"),
      bad(vm(R"("nics":[{"mac":"01:00:5e:00:00:01"}])"), V, "nics[0].mac"),
      bad(vm(R"("nics":[{"mac":"zz:00:00:00:00:00"}])"), V, "nics[0].mac"),
      bad(vm(R"("nics":[1])"), V, "nics[0]"),
      bad(vm(R"("cpu":{"mode":"turbo"})"), V, "cpu.mode"),
      bad(vm(R"("cpu":{"weight":0})"), V, "cpu.weight"),
      bad(vm(R"("cpu":{"weight":10001})"), V, "cpu.weight"),
      bad(vm(R"("cpu":{"cap_percent":6401})"), V, "cpu.cap_percent"),
      bad(vm(R"("cpu":{"weight":-1})"), V, "cpu.weight"),
      bad(vm(R"("cpu":{"cap_percent":0})"), V, "cpu.cap_percent"),
      bad(vm(R"("cpu":{"cap_percent":-5})"), V, "cpu.cap_percent"),
      bad(vm(R"("vcpus":2,"cpu":{"cap_percent":201})"), V, "cpu.cap_percent"),
      bad(vm(R"("cpu":{"dedicated_cores":1025})"), V, "cpu.dedicated_cores"),
      bad(vm(R"("cpu":{"mode":"partition"})"), V, "cpu.dedicated_cores"),
      bad(vm(R"("memory":{"mode":"huge"})"), V, "memory.mode"),
      bad(vm(R"("memory":{"size":1})"), V, "memory.size"),
      bad(vm(R"("restart":"sometimes")"), V, "restart"),
      bad(vm(R"("colour":"red")"), V, "colour"),
      bad("[]", V),
      bad("", ApiErrc::invalid_json),
      bad("{", ApiErrc::invalid_json),
      bad(R"({"name":"a",})", ApiErrc::invalid_json),
      bad("{\"name\":\"\xff\xfe\"}", ApiErrc::invalid_json),
      bad(std::string("{\"name\":\"a\0\"}", 13), ApiErrc::invalid_json),
      bad(vm(R"("vcpus":1e999)"), ApiErrc::invalid_json),
      bad(std::string(33, '[') + std::string(33, ']'), ApiErrc::bad_request),
      bad(R"({"a":)" + std::string(40, '{') + std::string(40, '}') + "}", ApiErrc::bad_request),
  };
}

TEST(Validation, CreateTable) {
  for (const auto& c : create_cases()) {
    auto r = parse_vm_create(c.body);
    const std::string what = "body: " + c.body.substr(0, 200);
    if (c.ok) {
      EXPECT_TRUE(r.ok()) << what << " → " << (r.ok() ? "" : r.error().message);
      continue;
    }
    ASSERT_FALSE(r.ok()) << what;
    EXPECT_EQ(to_string(r.error().code), to_string(c.code)) << what << " → " << r.error().message;
    EXPECT_EQ(r.error().field, c.field) << what << " → " << r.error().message;
    if (!c.field.empty()) {
      EXPECT_NE(r.error().message.find(c.field), std::string::npos);
    }
  }
}

TEST(Validation, DeepNestingInsideStringsIsNotNesting) {
  const std::string s =
      R"({"name":"a","boot":{"kernel":"/k","cmdline":")" + std::string(100, '[') + R"("}})";
  EXPECT_TRUE(parse_vm_create(s).ok());
}

TEST(Validation, CreateFillsDefaults) {
  auto r = parse_vm_create(vm(R"("nics":[{"mac":"52:54:00:AB:CD:EF"}])"));
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->vcpus, 1u);
  EXPECT_EQ(r->memory_mib, 128u);
  EXPECT_EQ(r->cpu.weight, 100u);
  EXPECT_EQ(r->nics.at(0).network, "default");
  EXPECT_EQ(r->nics.at(0).mac, "52:54:00:ab:cd:ef");
}

TEST(Validation, PatchMergesObjectsAndReplacesArrays) {
  auto base = parse_vm_create(
      vm(R"("boot":{"kernel":"/k","cmdline":"c"},"disks":[{"path":"/a"}],"cpu":{"weight":5})"));
  ASSERT_TRUE(base.ok()) << base.error().message;
  auto r = apply_vm_patch(
      *base, R"({"boot":{"initrd":"/i"},"disks":[],"cpu":{"cap_percent":50},"name":"new-name"})");
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->boot.kernel, "/k");
  EXPECT_EQ(r->boot.cmdline, "c");
  EXPECT_EQ(r->boot.initrd, "/i");
  EXPECT_TRUE(r->disks.empty());
  EXPECT_EQ(r->cpu.weight, 5u);
  EXPECT_EQ(r->cpu.cap_percent, 50u);
  EXPECT_EQ(r->name, "new-name");
  auto bad_patch = apply_vm_patch(*base, R"({"vcpus":0})");
  ASSERT_FALSE(bad_patch.ok());
  EXPECT_EQ(bad_patch.error().field, "vcpus");
  auto unknown = apply_vm_patch(*base, R"({"id":"x"})");
  ASSERT_FALSE(unknown.ok());
  EXPECT_EQ(unknown.error().field, "id");
  EXPECT_FALSE(apply_vm_patch(*base, R"({"boot":{"kernel":""}})").ok());
  auto uncapped = apply_vm_patch(*r, R"({"cpu":{"cap_percent":null}})");
  ASSERT_TRUE(uncapped.ok()) << uncapped.error().message;
  EXPECT_EQ(uncapped->cpu.cap_percent, 0u);  // null removes the cap
  EXPECT_EQ(uncapped->cpu.weight, 5u);       // the rest of cpu stays
}

TEST(Validation, TokenTable) {
  EXPECT_TRUE(parse_token_create(R"({"name":"ci","role":"operator"})").ok());
  auto t = parse_token_create(R"({"name":"ci","role":"viewer","expires_in_seconds":60})");
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(*t->expires_in_seconds, 60);
  EXPECT_EQ(t->role, storage::Role::viewer);
  const std::vector<std::pair<std::string, std::string>> bad_cases = {
      {R"({"role":"viewer"})", "name"},
      {R"({"name":"ci"})", "role"},
      {R"({"name":"ci","role":"root"})", "role"},
      {R"({"name":"ci","role":"operator_"})", "role"},
      {R"({"name":"CI","role":"viewer"})", "name"},
      {R"({"name":"ci","role":"viewer","expires_in_seconds":0})", "expires_in_seconds"},
      {R"({"name":"ci","role":"viewer","expires_in_seconds":-5})", "expires_in_seconds"},
      {R"({"name":"ci","role":"viewer","expires_in_seconds":"1h"})", "expires_in_seconds"},
      {R"({"name":"ci","role":"viewer","scope":"all"})", "scope"},
  };
  for (const auto& [body, field] : bad_cases) {
    auto r = parse_token_create(body);
    ASSERT_FALSE(r.ok()) << body;
    EXPECT_EQ(r.error().code, ApiErrc::validation_failed) << body;
    EXPECT_EQ(r.error().field, field) << body;
  }
}

TEST(Validation, Names) {
  EXPECT_TRUE(is_valid_name("a"));
  EXPECT_TRUE(is_valid_name("0-a-"));
  EXPECT_TRUE(is_valid_name(std::string(63, 'z')));
  EXPECT_FALSE(is_valid_name(""));
  EXPECT_FALSE(is_valid_name(std::string(64, 'z')));
  EXPECT_FALSE(is_valid_name("a_b"));
  EXPECT_FALSE(is_valid_name("a.b"));
  EXPECT_FALSE(is_valid_name(".."));
  EXPECT_FALSE(is_valid_name("a/b"));
}

TEST(Validation, HeadersAndContentTypes) {
  EXPECT_TRUE(is_json_content_type("application/json"));
  EXPECT_TRUE(is_json_content_type("Application/JSON; charset=UTF-8"));
  EXPECT_FALSE(is_json_content_type("application/json; charset=latin1"));
  EXPECT_FALSE(is_json_content_type("text/plain"));
  EXPECT_FALSE(is_json_content_type(""));
  EXPECT_FALSE(is_json_content_type("application/jsonx"));
  EXPECT_EQ(*parse_if_match("\"7\"").value(), 7u);
  EXPECT_EQ(*parse_if_match("7").value(), 7u);
  EXPECT_FALSE(parse_if_match("").value().has_value());
  EXPECT_FALSE(parse_if_match("\"x\"").ok());
  EXPECT_FALSE(parse_if_match("\"\"").ok());
  EXPECT_FALSE(parse_if_match("99999999999999999999999").ok());
}

TEST(Validation, ErrorBodyFollowsContract) {
  auto r = error_response(api_error(ApiErrc::validation_failed, "vcpus: bad", "vcpus"));
  EXPECT_EQ(r.status, 422);
  EXPECT_EQ(r.body,
            R"({"error":{"code":"validation_failed","field":"vcpus","message":"vcpus: bad"}})");
  auto bad_utf8 = error_response(api_error(ApiErrc::not_found, "no VM '\xff'"));
  EXPECT_EQ(bad_utf8.status, 404);
  EXPECT_FALSE(bad_utf8.body.empty());
}

}  // namespace
}  // namespace flotilla::api
