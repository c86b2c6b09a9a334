// The socket-free request path against a real state store: routing (404/405/415), the role
// matrix (each role × each route class), and 401 for missing/unknown/expired/revoked tokens.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "api/api.h"
#include "storage/state_store.h"

namespace flotilla::api {
namespace {

using storage::Role;

class ApiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/flotilla-api-unit-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    auto store = storage::StateStore::open({dir_ + "/db", 5000, "host-1"});
    ASSERT_TRUE(store.ok()) << store.error().message;
    store_ = std::move(store).value();
    api_ = Api::create({store_.get(), [] { return HostInfo{"h", "id", 2, 1 << 30, 2, {}, nullptr}; },
                        [this] { return now_ms_; }});
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::string token(Role role, int64_t expires_at = 0, const std::string& name = "") {
    const std::string secret = generate_token();
    auto rec = store_->create_token(name.empty() ? "t" + std::to_string(n_++) : name, role,
                                    token_sha256_hex(secret), expires_at);
    EXPECT_TRUE(rec.ok());
    last_id_ = rec.ok() ? rec->id : "";
    return "Bearer " + secret;
  }
  ApiResponse call(std::string_view method, std::string_view target, std::string_view auth,
                   std::string_view body = {}, std::string_view ct = "application/json") {
    return handle_for_test(*api_, method, target, body, ct, auth);
  }
  static std::string code(const ApiResponse& r) {
    auto j = nlohmann::json::parse(r.text(), nullptr, false);
    return j.is_object() && j.contains("error") ? j["error"]["code"].get<std::string>() : "";
  }

  std::string dir_;
  std::unique_ptr<storage::StateStore> store_;
  std::unique_ptr<Api> api_;
  int64_t now_ms_ = 1'700'000'000'000;
  int n_ = 0;
  std::string last_id_;
};

TEST_F(ApiTest, TokensLookRight) {
  const std::string t = generate_token();
  EXPECT_EQ(t.size(), 47u);
  EXPECT_EQ(t.substr(0, 4), "flt_");
  EXPECT_NE(t, generate_token());
  EXPECT_EQ(token_sha256_hex("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST_F(ApiTest, RoleMatrix) {
  struct Probe {
    RouteClass cls;
    std::string method, target, body;
  };
  const std::vector<Probe> probes = {
      {RouteClass::read, "GET", "/v1/vms", ""},
      {RouteClass::read, "GET", "/v1/host", ""},
      {RouteClass::read, "GET", "/v1/operations", ""},
      {RouteClass::read, "GET", "/metrics", ""},
      {RouteClass::manage, "POST", "/v1/vms", R"({"name":"x","boot":{"kernel":"/k"}})"},
      {RouteClass::manage, "DELETE", "/v1/vms/nope", ""},
      {RouteClass::admin, "GET", "/v1/tokens", ""},
      {RouteClass::admin, "POST", "/v1/tokens", R"({"name":"n","role":"viewer"})"},
  };
  for (Role role : {Role::viewer, Role::helpdesk, Role::operator_, Role::admin}) {
    const std::string auth = token(role);
    for (const auto& p : probes) {
      const auto r = call(p.method, p.target, auth, p.body);
      const bool allowed = role_allows(role, p.cls);
      const std::string what =
          std::string(storage::to_string(role)) + " " + p.method + " " + p.target;
      if (allowed) {
        EXPECT_NE(r.status, 403) << what << " " << r.text();
        EXPECT_NE(r.status, 401) << what << " " << r.text();
      } else {
        EXPECT_EQ(r.status, 403) << what << " " << r.text();
        EXPECT_EQ(code(r), "forbidden") << what;
      }
    }
  }
  EXPECT_TRUE(role_allows(Role::helpdesk, RouteClass::console));
  EXPECT_FALSE(role_allows(Role::viewer, RouteClass::console));
}

TEST_F(ApiTest, Unauthorized) {
  EXPECT_EQ(call("GET", "/v1/vms", "").status, 401);
  EXPECT_EQ(call("GET", "/v1/vms", "Basic abc").status, 401);
  EXPECT_EQ(call("GET", "/v1/vms", "Bearer flt_short").status, 401);
  EXPECT_EQ(call("GET", "/v1/vms", "Bearer " + generate_token()).status, 401);
  const std::string expiring = token(Role::admin, now_ms_ + 1000);
  EXPECT_EQ(call("GET", "/v1/vms", expiring).status, 200);
  now_ms_ += 1000;
  auto expired = call("GET", "/v1/vms", expiring);
  EXPECT_EQ(expired.status, 401);
  EXPECT_NE(expired.text().find("expired"), std::string::npos);
  const std::string revoked = token(Role::admin);
  ASSERT_TRUE(store_->revoke_token(last_id_).ok());
  auto r = call("GET", "/v1/vms", revoked);
  EXPECT_EQ(r.status, 401);
  EXPECT_NE(r.text().find("revoked"), std::string::npos);
  EXPECT_EQ(call("GET", "/healthz", "").status, 200);
  EXPECT_EQ(call("GET", "/v1/openapi.json", "").status, 200);
}

TEST_F(ApiTest, RoutingErrors) {
  const std::string admin = token(Role::admin);
  auto r = call("GET", "/v1/nothing", admin);
  EXPECT_EQ(r.status, 404);
  EXPECT_EQ(code(r), "not_found");
  EXPECT_EQ(call("GET", "/v1/vms/../../etc/passwd", admin).status, 404);
  EXPECT_EQ(call("GET", "/v1/vms/", admin).status, 404);
  EXPECT_EQ(call("GET", "/v1/vms/..", admin).status, 404);
  r = call("PUT", "/v1/vms", admin, "{}");
  EXPECT_EQ(r.status, 405);
  bool has_allow = false;
  for (auto& [k, v] : r.headers) has_allow |= (k == "Allow" && v == "GET, POST");
  EXPECT_TRUE(has_allow);
  r = call("POST", "/v1/vms", admin, R"({"name":"a","boot":{"kernel":"/k"}})", "text/plain");
  EXPECT_EQ(r.status, 415);
  r = call("POST", "/v1/vms", admin, R"({"name":"a","boot":{"kernel":"/k"}})", "");
  EXPECT_EQ(r.status, 415);
  EXPECT_EQ(call("GET", "relative", admin).status, 400);
  EXPECT_FALSE(r.request_id.empty());
}

TEST_F(ApiTest, VmLifecycleAndConflicts) {
  const std::string admin = token(Role::admin);
  auto r = call("POST", "/v1/vms", admin, R"({"name":"a","boot":{"kernel":"/k"}})");
  ASSERT_EQ(r.status, 201) << r.text();
  const auto vm = nlohmann::json::parse(r.text());
  const std::string id = vm["id"];
  EXPECT_EQ(call("POST", "/v1/vms", admin, R"({"name":"a","boot":{"kernel":"/k"}})").status, 409);
  EXPECT_EQ(call("GET", "/v1/vms/a", admin).status, 200);
  EXPECT_EQ(call("GET", "/v1/vms/" + id, admin).status, 200);
  EXPECT_EQ(call("GET", "/v1/vms/" + id + "?x=1", admin).status, 200);
  ApiRequest patch{
      "PATCH",
      "/v1/vms/a",
      {{"content-type", "application/json"}, {"authorization", admin}, {"if-match", "\"9\""}},
      R"({"vcpus":2})",
      Transport::in_process};
  EXPECT_EQ(api_->handle(patch).status, 409);
  patch.headers[2].second = "\"1\"";
  r = api_->handle(patch);
  ASSERT_EQ(r.status, 200) << r.text();
  EXPECT_EQ(nlohmann::json::parse(r.text())["generation"], 2);
  // The list (served from the per-VM JSON cache) follows every change.
  auto listed = nlohmann::json::parse(call("GET", "/v1/vms", admin).text());
  EXPECT_EQ(listed["items"][0]["vcpus"], 2);
  EXPECT_EQ(listed["items"][0], nlohmann::json::parse(call("GET", "/v1/vms/a", admin).text()));
  ASSERT_TRUE(store_->set_vm_state(id, storage::VmState::starting).ok());
  listed = nlohmann::json::parse(call("GET", "/v1/vms", admin).text());
  EXPECT_EQ(listed["items"][0]["state"], "starting");
  EXPECT_EQ(call("DELETE", "/v1/vms/a", admin).status, 409);
  EXPECT_EQ(code(call("PATCH", "/v1/vms/a", admin, R"({"vcpus":3})")), "invalid_state");
  ASSERT_TRUE(store_->set_vm_state(id, storage::VmState::crashed).ok());
  EXPECT_EQ(call("DELETE", "/v1/vms/a", admin).status, 204);
  EXPECT_EQ(call("GET", "/v1/vms/a", admin).status, 404);
  auto audit = store_->list_audit(0, 100);
  ASSERT_TRUE(audit.ok());
  ASSERT_GE(audit->size(), 5u);
  EXPECT_EQ(audit->front().action, "vm.create");
  EXPECT_EQ(audit->front().result, "ok");
  EXPECT_FALSE(audit->front().request_id.empty());
}

}  // namespace
}  // namespace flotilla::api
