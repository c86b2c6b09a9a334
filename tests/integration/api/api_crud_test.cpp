// VM CRUD, tokens, operations, host, metrics and the Unix socket through HTTP on a real daemon.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include "tests/support/daemon_fixture.h"

namespace flotilla::test {
namespace {

const char* kVm = R"({"name":"web-1","vcpus":2,"memory_mib":256,"boot":{"kernel":"/boot/vmlinux",
  "cmdline":"console=ttyS0"},"disks":[{"path":"/var/d.img"}],
  "cpu":{"mode":"timeshare","weight":200,"cap_percent":50},"memory":{"mode":"shared"},
  "restart":"on-crash"})";

class DaemonTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto d = FlotilladProcess::start();
    ASSERT_TRUE(d.ok()) << d.error().message;
    daemon_ = std::move(d).value();
  }
  void TearDown() override {
    if (daemon_ && daemon_->running()) {
      EXPECT_EQ(daemon_->stop(SIGTERM), 0) << daemon_->stderr_log();
    }
  }
  std::unique_ptr<FlotilladProcess> daemon_;
};

TEST_F(DaemonTest, VmCrud) {
  auto api = daemon_->client();
  EXPECT_FALSE(daemon_->printed_admin_token().empty());
  EXPECT_EQ(daemon_->printed_admin_token(), daemon_->admin_token());
  auto r = api.post("/v1/vms", kVm);
  ASSERT_EQ(r.status, 201) << r.body;
  const auto vm = r.json();
  const std::string id = vm["id"];
  EXPECT_EQ(r.header("location"), "/v1/vms/" + id);
  EXPECT_EQ(r.header("etag"), "\"1\"");
  EXPECT_EQ(vm["name"], "web-1");
  EXPECT_EQ(vm["vcpus"], 2);
  EXPECT_EQ(vm["cpu"]["weight"], 200);
  EXPECT_EQ(vm["restart"], "on-crash");
  EXPECT_EQ(vm["state"], "stopped");
  EXPECT_EQ(vm["generation"], 1);

  EXPECT_EQ(api.post("/v1/vms", kVm).status, 409);
  r = api.get("/v1/vms");
  ASSERT_EQ(r.status, 200);
  ASSERT_EQ(r.json()["items"].size(), 1u);
  EXPECT_EQ(api.get("/v1/vms/web-1").json()["id"], id);
  EXPECT_EQ(api.get("/v1/vms/" + id).json()["name"], "web-1");

  r = api.patch("/v1/vms/web-1", R"({"vcpus":4,"name":"web-2"})", {{"If-Match", "\"1\""}});
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.json()["vcpus"], 4);
  EXPECT_EQ(r.json()["generation"], 2);
  EXPECT_EQ(r.json()["cpu"]["weight"], 200);  // untouched fields stay
  EXPECT_EQ(api.patch("/v1/vms/web-2", R"({"vcpus":1})", {{"If-Match", "\"1\""}}).status, 409);
  EXPECT_EQ(api.get("/v1/vms/web-1").status, 404);

  EXPECT_EQ(api.del("/v1/vms/web-2").status, 204);
  EXPECT_EQ(api.del("/v1/vms/web-2").status, 404);
  EXPECT_EQ(api.get("/v1/vms").json()["items"].size(), 0u);
}

TEST_F(DaemonTest, HostOperationsHealthMetrics) {
  auto api = daemon_->client();
  auto h = api.get("/v1/host");
  ASSERT_EQ(h.status, 200) << h.body;
  const auto host = h.json();
  EXPECT_GT(host["cores"].get<int>(), 0);
  EXPECT_GT(host["memory_bytes"].get<int64_t>(), 0);
  EXPECT_EQ(host["host_id"].get<std::string>().size(), 36u);
  EXPECT_TRUE(host["kvm"].contains("flavour"));
  EXPECT_EQ(api.get("/v1/host").json()["host_id"], host["host_id"]);  // stable

  auto ops = api.get("/v1/operations");
  ASSERT_EQ(ops.status, 200);
  EXPECT_TRUE(ops.json()["items"].is_array());
  EXPECT_EQ(api.get("/v1/operations/00000000-0000-4000-8000-000000000000").status, 404);
  EXPECT_EQ(api.get("/v1/operations/not-a-uuid").status, 404);

  auto health = HttpClient::tcp("127.0.0.1", daemon_->port()).get("/healthz");
  EXPECT_EQ(health.status, 200);
  EXPECT_EQ(health.json()["status"], "ok");
  EXPECT_EQ(health.header("x-request-id").size(), 16u);

  ASSERT_EQ(api.post("/v1/vms", kVm).status, 201);
  auto m = api.get("/metrics");
  ASSERT_EQ(m.status, 200);
  EXPECT_NE(m.header("content-type").find("text/plain"), std::string::npos);
  EXPECT_NE(m.body.find(
                "flotilla_http_requests_total{route=\"/healthz\",method=\"GET\",status=\"200\"} 1"),
            std::string::npos)
      << m.body;
  EXPECT_NE(m.body.find("flotilla_vms{state=\"stopped\"} 1"), std::string::npos) << m.body;
  EXPECT_NE(
      m.body.find("flotilla_http_request_duration_seconds_bucket{route=\"/v1/vms\",le=\"+Inf\"}"),
      std::string::npos);
  EXPECT_EQ(HttpClient::tcp("127.0.0.1", daemon_->port()).get("/metrics").status, 401);
}

TEST_F(DaemonTest, Tokens) {
  auto api = daemon_->client();
  auto r = api.post("/v1/tokens", R"({"name":"ci","role":"viewer","expires_in_seconds":3600})");
  ASSERT_EQ(r.status, 201) << r.body;
  const std::string secret = r.json()["token"];
  const std::string id = r.json()["id"];
  EXPECT_EQ(secret.size(), 47u);
  EXPECT_TRUE(r.json()["expires_at"].is_string());
  auto viewer = HttpClient::tcp("127.0.0.1", daemon_->port()).with_token(secret);
  EXPECT_EQ(viewer.get("/v1/vms").status, 200);
  EXPECT_EQ(viewer.post("/v1/vms", kVm).status, 403);
  auto list = api.get("/v1/tokens");
  ASSERT_EQ(list.status, 200);
  EXPECT_EQ(list.json()["items"].size(), 2u);
  EXPECT_EQ(list.body.find(secret), std::string::npos);  // no secrets in listings
  EXPECT_EQ(list.body.find("\"token\""), std::string::npos);
  EXPECT_EQ(api.del("/v1/tokens/" + id).status, 204);
  EXPECT_EQ(viewer.get("/v1/vms").status, 401);
  EXPECT_EQ(api.del("/v1/tokens/00000000-0000-4000-8000-000000000000").status, 404);
}

TEST_F(DaemonTest, UnixSocket) {
  struct stat st {};
  ASSERT_EQ(stat(daemon_->unix_socket_path().c_str(), &st), 0);
  EXPECT_TRUE(S_ISSOCK(st.st_mode));
  EXPECT_EQ(st.st_mode & 0777, 0660u);
  auto r = daemon_->unix_client().post("/v1/vms", kVm);
  ASSERT_EQ(r.status, 201) << r.body << r.error;
  EXPECT_EQ(daemon_->client().get("/v1/vms/web-1").status, 200);
  // Still bearer-authenticated.
  EXPECT_EQ(HttpClient::unix_socket(daemon_->unix_socket_path()).get("/v1/vms").status, 401);
  ASSERT_EQ(daemon_->stop(SIGTERM), 0);
  EXPECT_NE(stat(daemon_->unix_socket_path().c_str(), &st), 0);  // removed at exit
}

TEST_F(DaemonTest, KeepAliveServesManyRequestsOnOneConnection) {
  std::string reqs;
  for (int i = 0; i < 5; ++i) reqs += "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n";
  reqs += "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
  auto x = raw_exchange(daemon_->port(), reqs);
  size_t count = 0;
  for (size_t pos = 0; (pos = x.received.find("HTTP/1.1 200", pos)) != std::string::npos; ++pos) {
    ++count;
  }
  EXPECT_EQ(count, 6u) << x.received;
  EXPECT_TRUE(x.closed_by_server);
}

}  // namespace
}  // namespace flotilla::test
