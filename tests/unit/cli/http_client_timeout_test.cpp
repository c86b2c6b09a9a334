// HttpClient deadlines against a peer that accepts the connection but never answers (a
// listening socket nobody accept()s: the kernel completes the handshake from the backlog).
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <chrono>
#include <string>

#include "cli/http_client.h"
#include "common/unique_fd.h"

namespace flotilla::cli {
namespace {

using Clock = std::chrono::steady_clock;

UniqueFd silent_tcp_listener(std::uint16_t& port) {
  UniqueFd fd(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  EXPECT_EQ(bind(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  EXPECT_EQ(listen(fd.get(), 8), 0);
  socklen_t len = sizeof addr;
  EXPECT_EQ(getsockname(fd.get(), reinterpret_cast<sockaddr*>(&addr), &len), 0);
  port = ntohs(addr.sin_port);
  return fd;
}

Result<HttpResponse, HttpError> send_with_deadline(const std::string& url,
                                                   std::chrono::milliseconds timeout) {
  ClientOptions options;
  options.endpoint = *parse_url(url);
  options.timeout = timeout;
  auto client = HttpClient::create(options);
  EXPECT_TRUE(client.ok());
  return client->send({"GET", "/v1/vms", "", {}});
}

TEST(HttpClientDeadline, SilentTcpPeerTimesOut) {
  std::uint16_t port = 0;
  UniqueFd listener = silent_tcp_listener(port);
  auto start = Clock::now();
  auto r = send_with_deadline("http://127.0.0.1:" + std::to_string(port),
                              std::chrono::milliseconds(300));
  auto elapsed = Clock::now() - start;
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, HttpErrorCode::kTimeout) << r.error().message;
  EXPECT_GE(elapsed, std::chrono::milliseconds(250));
  EXPECT_LT(elapsed, std::chrono::seconds(5));
}

TEST(HttpClientDeadline, SilentUnixPeerTimesOut) {
  char dir[] = "/tmp/flotilla-cli-unix-XXXXXX";
  ASSERT_NE(mkdtemp(dir), nullptr);
  std::string path = std::string(dir) + "/s.sock";
  UniqueFd fd(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  path.copy(addr.sun_path, sizeof addr.sun_path - 1);
  ASSERT_EQ(bind(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  ASSERT_EQ(listen(fd.get(), 8), 0);
  auto r = send_with_deadline("unix:" + path, std::chrono::milliseconds(300));
  unlink(path.c_str());
  rmdir(dir);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, HttpErrorCode::kTimeout) << r.error().message;
}

TEST(HttpClientDeadline, ClosedPortIsAConnectError) {
  std::uint16_t port = 0;
  { UniqueFd gone = silent_tcp_listener(port); }  // bound, then closed: nothing listens
  auto r = send_with_deadline("http://127.0.0.1:" + std::to_string(port),
                              std::chrono::milliseconds(2000));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, HttpErrorCode::kConnect) << r.error().message;
}

}  // namespace
}  // namespace flotilla::cli
