// Auth over HTTP: each role against each route class, expired and revoked tokens.
#include <gtest/gtest.h>

#include <thread>

#include "tests/support/daemon_fixture.h"

namespace flotilla::test {
namespace {

struct Probe {
  std::string route_class;  // the least role that may call it ("open" for none)
  std::string method, target, body;
};

int rank(const std::string& role) {
  if (role == "open") return -1;
  if (role == "viewer") return 0;
  if (role == "helpdesk") return 1;
  if (role == "operator") return 2;
  return 3;
}

TEST(Auth, EachRoleAgainstEachRouteClass) {
  auto d = FlotilladProcess::start();
  ASSERT_TRUE(d.ok()) << d.error().message;
  auto admin = (*d)->client();
  const std::vector<Probe> probes = {
      {"open", "GET", "/healthz", ""},
      {"open", "GET", "/v1/openapi.json", ""},
      {"viewer", "GET", "/metrics", ""},
      {"viewer", "GET", "/v1/host", ""},
      {"viewer", "GET", "/v1/vms", ""},
      {"viewer", "GET", "/v1/vms/nope", ""},
      {"viewer", "GET", "/v1/operations", ""},
      {"operator", "POST", "/v1/vms", R"({"name":"x","boot":{"kernel":"/k"}})"},
      {"operator", "PATCH", "/v1/vms/nope", R"({"vcpus":2})"},
      {"operator", "DELETE", "/v1/vms/nope", ""},
      {"admin", "GET", "/v1/tokens", ""},
      {"admin", "POST", "/v1/tokens", R"({"name":"zz","role":"viewer"})"},
      {"admin", "DELETE", "/v1/tokens/nope", ""},
  };
  for (const std::string role : {"viewer", "helpdesk", "operator", "admin"}) {
    auto t = admin.post("/v1/tokens", R"({"name":"t-)" + role + R"(","role":")" + role + "\"}");
    ASSERT_EQ(t.status, 201) << t.body;
    auto c = HttpClient::tcp("127.0.0.1", (*d)->port()).with_token(t.json()["token"]);
    for (const auto& p : probes) {
      const std::vector<std::pair<std::string, std::string>> h = {
          {"Content-Type", "application/json"}};
      const auto r = c.request(p.method, p.target, p.body, p.body.empty() ? decltype(h){} : h);
      const std::string what = role + " " + p.method + " " + p.target + " → " + r.body;
      if (rank(role) >= rank(p.route_class)) {
        EXPECT_NE(r.status, 401) << what;
        EXPECT_NE(r.status, 403) << what;
        EXPECT_LT(r.status, 500) << what;
      } else {
        EXPECT_EQ(r.status, 403) << what;
        EXPECT_EQ(r.json()["error"]["code"], "forbidden") << what;
      }
    }
    // Clean up what an allowed create made, so the next role sees the same state.
    (void)admin.del("/v1/vms/x");
  }
  // Without any token: open routes work, the rest are 401.
  auto anon = HttpClient::tcp("127.0.0.1", (*d)->port());
  for (const auto& p : probes) {
    const auto r = anon.request(p.method, p.target, p.body, {{"Content-Type", "application/json"}});
    if (p.route_class == "open") {
      EXPECT_EQ(r.status, 200) << p.target;
    } else {
      EXPECT_EQ(r.status, 401) << p.method << " " << p.target;
      EXPECT_EQ(r.header("www-authenticate"), "Bearer");
    }
  }
  EXPECT_EQ((*d)->stop(SIGTERM), 0);
}

TEST(Auth, ExpiredAndRevokedTokens) {
  auto d = FlotilladProcess::start();
  ASSERT_TRUE(d.ok()) << d.error().message;
  auto admin = (*d)->client();
  auto t = admin.post("/v1/tokens", R"({"name":"short","role":"admin","expires_in_seconds":1})");
  ASSERT_EQ(t.status, 201) << t.body;
  auto c = HttpClient::tcp("127.0.0.1", (*d)->port()).with_token(t.json()["token"]);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  HttpResponse r;
  while ((r = c.get("/v1/vms")).status == 200 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_EQ(r.status, 401);
  EXPECT_NE(r.body.find("expired"), std::string::npos) << r.body;

  auto t2 = admin.post("/v1/tokens", R"({"name":"gone","role":"operator"})");
  ASSERT_EQ(t2.status, 201);
  auto c2 = HttpClient::tcp("127.0.0.1", (*d)->port()).with_token(t2.json()["token"]);
  EXPECT_EQ(c2.get("/v1/vms").status, 200);
  EXPECT_EQ(admin.del("/v1/tokens/" + t2.json()["id"].get<std::string>()).status, 204);
  r = c2.get("/v1/vms");
  EXPECT_EQ(r.status, 401);
  EXPECT_NE(r.body.find("revoked"), std::string::npos) << r.body;
  // A token one character off is unknown.
  std::string wrong = (*d)->admin_token();
  wrong.back() = wrong.back() == 'A' ? 'B' : 'A';
  EXPECT_EQ(HttpClient::tcp("127.0.0.1", (*d)->port()).with_token(wrong).get("/v1/vms").status,
            401);
  EXPECT_EQ((*d)->stop(SIGTERM), 0);
}

}  // namespace
}  // namespace flotilla::test
