// Malformed and hostile requests against a real daemon: each gets the right 4xx (or, for
// slow clients, a closed connection), nothing changes in the state, and the server keeps
// serving.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <thread>

#include "common/unique_fd.h"
#include "tests/support/daemon_fixture.h"

namespace flotilla::test {
namespace {

using namespace std::string_literals;

constexpr const char* kConfig =
    R"({"http":{"read_timeout_ms":1500,"max_connections":8,"pipeline_limit":16}})";

struct Hostile {
  std::string name;
  std::string bytes;  // the raw request
  int status;         // expected status; 0: the server closes without answering
};

class HostileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    DaemonOptions o;
    o.config_json = kConfig;
    o.log_level = "warn";
    auto d = FlotilladProcess::start(o);
    ASSERT_TRUE(d.ok()) << d.error().message;
    daemon_ = std::move(d).value();
    auth_ = "Authorization: Bearer " + daemon_->admin_token() + "\r\n";
  }
  void TearDown() override {
    if (daemon_) {
      EXPECT_EQ(daemon_->stop(SIGTERM), 0) << daemon_->stderr_log();
    }
  }
  // A request with auth, Connection: close and a correct Content-Length.
  std::string req(const std::string& method, const std::string& target, const std::string& body,
                  const std::string& ctype = "application/json", const std::string& extra = "") {
    std::string r = method + " " + target + " HTTP/1.1\r\nHost: t\r\n" + auth_ +
                    "Connection: close\r\n" + extra;
    if (!ctype.empty()) r += "Content-Type: " + ctype + "\r\n";
    if (!body.empty() || method == "POST" || method == "PATCH") {
      r += "Content-Length: " + std::to_string(body.size()) + "\r\n";
    }
    return r + "\r\n" + body;
  }
  std::string vm(const std::string& fields) {
    return R"({"name":"h","boot":{"kernel":"/k"})" + (fields.empty() ? "" : "," + fields) + "}";
  }
  std::string vms_snapshot() { return daemon_->client().get("/v1/vms").json()["items"].dump(); }
  std::vector<Hostile> cases();

  std::unique_ptr<FlotilladProcess> daemon_;
  std::string auth_;
};

std::vector<Hostile> HostileTest::cases() {
  const std::string post = "POST";
  std::string many_headers;
  for (int i = 0; i < 2000; ++i) many_headers += "X-Flood-" + std::to_string(i) + ": v\r\n";
  std::string seventeen_disks;
  for (int i = 0; i < 17; ++i) seventeen_disks += std::string(i ? "," : "") + R"({"path":"/d"})";
  const std::string base = "POST /v1/vms HTTP/1.1\r\nHost: t\r\n" + auth_ +
                           "Connection: close\r\nContent-Type: application/json\r\n";
  return {
      {"broken json", req(post, "/v1/vms", "{"), 400},
      {"truncated json", req(post, "/v1/vms", R"({"name":)"), 400},
      {"trailing comma", req(post, "/v1/vms", R"({"name":"h",})"), 400},
      {"single quotes", req(post, "/v1/vms", "{'name':'h'}"), 400},
      {"empty body", req(post, "/v1/vms", ""), 400},
      {"json null", req(post, "/v1/vms", "null"), 422},
      {"json array", req(post, "/v1/vms", "[1,2]"), 422},
      {"deep arrays", req(post, "/v1/vms", std::string(5000, '[') + std::string(5000, ']')), 400},
      {"deep objects",
       req(post, "/v1/vms",
           [] {
             std::string s;
             for (int i = 0; i < 200; ++i) s += R"({"a":)";
             return s + "1" + std::string(200, '}');
           }()),
       400},
      {"number overflow", req(post, "/v1/vms", vm(R"("vcpus":1e999)")), 400},
      {"huge integer", req(post, "/v1/vms", vm(R"("memory_mib":99999999999999999999999999)")), 422},
      {"negative", req(post, "/v1/vms", vm(R"("memory_mib":-128)")), 422},
      {"raw NUL in body", req(post, "/v1/vms", "{\"name\":\"a\0b\"}"s), 400},
      {"escaped NUL in name", req(post, "/v1/vms", R"({"name":"a\u0000","boot":{"kernel":"/k"}})"),
       422},
      {"escaped NUL in path", req(post, "/v1/vms", R"({"name":"a","boot":{"kernel":"/k\u0000x"}})"),
       422},
      {"invalid utf-8",
       req(post, "/v1/vms", "{\"name\":\"\xc3\x28\",\"boot\":{\"kernel\":\"/k\"}}"), 400},
      {"overlong utf-8", req(post, "/v1/vms", "{\"name\":\"\xc0\xaf\"}"), 400},
      {"lone surrogate", req(post, "/v1/vms", R"({"name":"\ud800"})"), 400},
      {"text/plain", req(post, "/v1/vms", vm(""), "text/plain"), 415},
      {"no content type", req(post, "/v1/vms", vm(""), ""), 415},
      {"xml", req(post, "/v1/vms", "<vm/>", "application/xml"), 415},
      {"form", req(post, "/v1/vms", "name=h", "application/x-www-form-urlencoded"), 415},
      {"json latin1", req(post, "/v1/vms", vm(""), "application/json; charset=latin1"), 415},
      {"oversized body", req(post, "/v1/vms", std::string(1024 * 1024 + 1, ' ')), 413},
      {"absurd content-length", base + "Content-Length: 1000000000000000\r\n\r\n{}", 413},
      {"content-length overflow", base + "Content-Length: 99999999999999999999999\r\n\r\n", 400},
      {"negative content-length", base + "Content-Length: -1\r\n\r\n", 400},
      {"conflicting content-lengths", base + "Content-Length: 2\r\nContent-Length: 3\r\n\r\n{}",
       400},
      {"bad chunk", base + "Transfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n", 400},
      {"chunked over limit",
       base + "Transfer-Encoding: chunked\r\n\r\n200000\r\n" + std::string(0x200000, ' ') +
           "\r\n0\r\n\r\n",
       413},
      {"traversal name", req(post, "/v1/vms", R"({"name":"../../etc","boot":{"kernel":"/k"}})"),
       422},
      {"traversal kernel",
       req(post, "/v1/vms", R"({"name":"t","boot":{"kernel":"/boot/../etc/shadow"}})"), 422},
      {"traversal disk", req(post, "/v1/vms", vm(R"("disks":[{"path":"../../etc/passwd"}])")), 422},
      {"traversal url", req("GET", "/v1/vms/../../etc/passwd", "", ""), 404},
      {"encoded traversal url", req("GET", "/v1/vms/%2e%2e%2f%2e%2e%2fetc%2fpasswd", "", ""), 404},
      {"traversal delete", req("DELETE", "/v1/vms/..%2F..%2Fetc", "", ""), 404},
      {"unknown field", req(post, "/v1/vms", vm(R"("root":true)")), 422},
      {"wrong type", req(post, "/v1/vms", R"({"name":123,"boot":{"kernel":"/k"}})"), 422},
      {"vcpus out of range", req(post, "/v1/vms", vm(R"("vcpus":65)")), 422},
      {"17 disks", req(post, "/v1/vms", vm(R"("disks":[)" + seventeen_disks + "]")), 422},
      {"missing kernel", req(post, "/v1/vms", R"({"name":"k"})"), 422},
      {"header flood", "GET /v1/vms HTTP/1.1\r\nHost: t\r\n" + auth_ + many_headers + "\r\n", 400},
      {"huge header",
       "GET /v1/vms HTTP/1.1\r\nHost: t\r\nX-Big: " + std::string(20000, 'a') + "\r\n\r\n", 400},
      {"huge target", "GET /v1/vms/" + std::string(20000, 'a') + " HTTP/1.1\r\nHost: t\r\n\r\n",
       400},
      {"bad method token", "G@T /v1/vms HTTP/1.1\r\nHost: t\r\n\r\n", 400},
      {"bad version", "GET /v1/vms HTTP/x.y\r\nHost: t\r\n\r\n", 400},
      {"tls hello on plain port", "\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03\r\n\r\n"s, 400},
      {"NUL in target", "GET /v1/vms/a\0b HTTP/1.1\r\nHost: t\r\n\r\n"s, 400},
      {"control char in header",
       "GET /v1/vms HTTP/1.1\r\nHost: t\r\nX-A: a\x01"
       "b\r\n\r\n",
       400},
      {"PUT collection", req("PUT", "/v1/vms", vm("")), 405},
      {"DELETE collection", req("DELETE", "/v1/vms", "", ""), 405},
      {"POST item", req(post, "/v1/vms/x", vm("")), 405},
      {"unknown route", req("GET", "/v1/secrets", "", ""), 404},
      {"no token",
       "POST /v1/vms HTTP/1.1\r\nHost: t\r\nConnection: close\r\nContent-Type: "
       "application/json\r\nContent-Length: 2\r\n\r\n{}",
       401},
      {"bad token",
       "GET /v1/vms HTTP/1.1\r\nHost: t\r\nConnection: close\r\nAuthorization: Bearer "
       "flt_x\r\n\r\n",
       401},
      {"bad If-Match",
       req("PATCH", "/v1/vms/nope", "{}", "application/json", "If-Match: \"abc\"\r\n"), 400},
      {"slowloris headers", "GET /healthz HTTP/1.1\r\nHost: t\r\n", 0},
      {"slow body", base + "Content-Length: 100\r\n\r\n{\"name\":", 0},
  };
}

TEST_F(HostileTest, EachGetsTheRight4xxAndNothingChanges) {
  ASSERT_EQ(daemon_->client().post("/v1/vms", R"({"name":"keep","boot":{"kernel":"/k"}})").status,
            201);
  const std::string before = vms_snapshot();
  const auto all = cases();
  ASSERT_GE(all.size(), 40u);
  for (const auto& c : all) {
    const auto x = raw_exchange(daemon_->port(), c.bytes, std::chrono::milliseconds(6000));
    const int got = raw_status(x.received);
    EXPECT_EQ(got, c.status) << c.name << ": " << x.received.substr(0, 300);
    if (c.status == 0) {
      EXPECT_TRUE(x.closed_by_server) << c.name << ": not closed by the read deadline";
      EXPECT_LT(x.elapsed.count(), 5000) << c.name;
    }
    if (got >= 400) {
      EXPECT_NE(x.received.find("X-Request-Id: "), std::string::npos) << c.name;
      EXPECT_NE(x.received.find("\"error\":{\"code\":"), std::string::npos) << c.name;
    }
    EXPECT_EQ(daemon_->client().get("/healthz").status, 200) << "after " << c.name;
  }
  EXPECT_EQ(vms_snapshot(), before);
}

TEST_F(HostileTest, PipeliningLimit) {
  std::string many;
  for (int i = 0; i < 40; ++i) many += "GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n";
  const auto x = raw_exchange(daemon_->port(), many);
  size_t ok = 0;
  for (size_t p = 0; (p = x.received.find("HTTP/1.1 200", p)) != std::string::npos; ++p) ++ok;
  EXPECT_LT(ok, 40u);
  EXPECT_GE(ok, 16u);
  EXPECT_NE(x.received.find("HTTP/1.1 429"), std::string::npos);
  EXPECT_EQ(daemon_->client().get("/healthz").status, 200);
}

TEST_F(HostileTest, ConnectionCap) {
  std::vector<UniqueFd> idle;
  for (int i = 0; i < 8; ++i) {
    UniqueFd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(daemon_->port());
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ASSERT_EQ(::connect(fd.get(), reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
    idle.push_back(std::move(fd));
  }
  const auto x = raw_exchange(daemon_->port(), "GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n");
  EXPECT_EQ(raw_status(x.received), 503) << x.received;
  idle.clear();
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  int status = 0;
  while ((status = daemon_->client().get("/healthz").status) != 200 &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_EQ(status, 200);
}

}  // namespace
}  // namespace flotilla::test
