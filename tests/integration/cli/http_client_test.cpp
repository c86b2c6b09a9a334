// cli/http_client.h against a real flotillad: keep-alive reuse, the stale-connection retry,
// error classification.
#include "cli/http_client.h"

#include <gtest/gtest.h>
#include <signal.h>

#include <nlohmann/json.hpp>

#include "tests/support/daemon_fixture.h"

namespace flotilla::cli {
namespace {

class HttpClientTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto d = test::FlotilladProcess::start();
    ASSERT_TRUE(d.ok()) << d.error().message;
    daemon_ = std::move(*d);
  }

  HttpClient client(const std::string& url) {
    ClientOptions options;
    auto endpoint = parse_url(url);
    EXPECT_TRUE(endpoint.ok()) << url;
    options.endpoint = *endpoint;
    options.bearer_token = daemon_->admin_token();
    options.timeout = std::chrono::milliseconds(5000);
    auto c = HttpClient::create(options);
    EXPECT_TRUE(c.ok());
    return std::move(*c);
  }

  std::unique_ptr<test::FlotilladProcess> daemon_;
};

TEST_F(HttpClientTest, ManyRequestsOnOneClientOverTcpAndUnix) {
  for (const std::string& url : {daemon_->url(), "unix:" + daemon_->unix_socket_path()}) {
    HttpClient c = client(url);
    for (int i = 0; i < 20; ++i) {
      auto r = c.send({"GET", "/v1/vms", "", {}});
      ASSERT_TRUE(r.ok()) << url << ": " << r.error().message;
      EXPECT_EQ(r->status, 200) << r->body;
      EXPECT_FALSE(r->header("x-request-id").empty());
    }
    auto created = c.send({"POST", "/v1/vms", R"({"name":"c","boot":{"kernel":"/k"}})", {}});
    ASSERT_TRUE(created.ok()) << created.error().message;
    EXPECT_EQ(created->status, 201) << created->body;
    EXPECT_EQ(created->header("Location").rfind("/v1/vms/", 0), 0u);
    auto id = nlohmann::json::parse(created->body)["id"].get<std::string>();
    auto deleted = c.send({"DELETE", "/v1/vms/" + id, "", {}});
    ASSERT_TRUE(deleted.ok());
    EXPECT_EQ(deleted->status, 204);
  }
}

TEST_F(HttpClientTest, IdempotentRequestsRetryOnceWhenTheKeptConnectionDied) {
  // The Unix socket path survives a restart; the kept-alive connection does not.
  HttpClient c = client("unix:" + daemon_->unix_socket_path());
  ASSERT_EQ(c.send({"GET", "/healthz", "", {}})->status, 200);
  ASSERT_EQ(daemon_->stop(SIGTERM), 0);
  ASSERT_TRUE(daemon_->restart().ok());
  auto again = c.send({"GET", "/v1/vms", "", {}});
  ASSERT_TRUE(again.ok()) << again.error().message;
  EXPECT_EQ(again->status, 200);

  // A POST is not replayed: the caller hears about the dead connection.
  ASSERT_EQ(daemon_->stop(SIGTERM), 0);
  ASSERT_TRUE(daemon_->restart().ok());
  auto post = c.send({"POST", "/v1/vms", R"({"name":"once","boot":{"kernel":"/k"}})", {}});
  ASSERT_FALSE(post.ok());
  EXPECT_EQ(post.error().code, HttpErrorCode::kIo) << post.error().message;
  auto list = c.send({"GET", "/v1/vms", "", {}});  // and the next request reconnects
  ASSERT_TRUE(list.ok()) << list.error().message;
  EXPECT_EQ(nlohmann::json::parse(list->body)["items"].size(), 0u);
}

TEST_F(HttpClientTest, ErrorsAreClassified) {
  auto bad = parse_url("tcp://x");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().code, HttpErrorCode::kInvalidUrl);
  HttpClient missing = client("unix:" + daemon_->work_dir() + "/no.sock");
  auto r = missing.send({"GET", "/healthz", "", {}});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, HttpErrorCode::kConnect);
  ClientOptions tls;
  tls.endpoint = *parse_url(daemon_->url());
  tls.endpoint.transport = Transport::kTls;  // TLS to a plain listener
  tls.timeout = std::chrono::milliseconds(3000);
  auto c = HttpClient::create(tls);
  ASSERT_TRUE(c.ok());
  auto handshake = c->send({"GET", "/healthz", "", {}});
  ASSERT_FALSE(handshake.ok());
  EXPECT_TRUE(handshake.error().code == HttpErrorCode::kTls ||
              handshake.error().code == HttpErrorCode::kTimeout)
      << handshake.error().message;
  tls.tls.ca_file = "/nonexistent/ca.pem";
  auto no_ca = HttpClient::create(tls);
  ASSERT_FALSE(no_ca.ok());
  EXPECT_EQ(no_ca.error().code, HttpErrorCode::kTlsSetup);
}

}  // namespace
}  // namespace flotilla::cli
