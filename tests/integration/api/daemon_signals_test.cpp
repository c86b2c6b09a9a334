// Signals and systemd: SIGTERM drains an in-flight request then exits 0, SIGINT exits 0,
// SIGHUP reloads the config file, sd_notify READY/STOPPING/WATCHDOG and journald prefixes.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <fstream>
#include <thread>

#include "common/unique_fd.h"
#include "tests/support/daemon_fixture.h"

namespace flotilla::test {
namespace {

using Clock = std::chrono::steady_clock;

UniqueFd connect_tcp(uint16_t port) {
  UniqueFd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) return UniqueFd();
  return fd;
}

void send_all(int fd, const std::string& s) {
  ASSERT_EQ(::send(fd, s.data(), s.size(), MSG_NOSIGNAL), static_cast<ssize_t>(s.size()));
}

std::string read_until_close(int fd, std::chrono::milliseconds timeout) {
  std::string out;
  const auto deadline = Clock::now() + timeout;
  char buf[4096];
  while (Clock::now() < deadline) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 100) <= 0) continue;
    const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  return out;
}

template <class Pred>
bool eventually(Pred pred, std::chrono::milliseconds timeout = std::chrono::milliseconds(10000)) {
  const auto deadline = Clock::now() + timeout;
  while (Clock::now() < deadline) {
    if (pred()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return pred();
}

TEST(Signals, SigtermLetsTheInFlightRequestFinishThenExitsZero) {
  auto d = FlotilladProcess::start();
  ASSERT_TRUE(d.ok()) << d.error().message;
  auto& daemon = **d;
  const std::string body = R"({"name":"slow","boot":{"kernel":"/k"}})";
  UniqueFd slow = connect_tcp(daemon.port());
  ASSERT_TRUE(slow.valid());
  send_all(slow.get(), "POST /v1/vms HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer " +
                           daemon.admin_token() + "\r\nContent-Type: application/json\r\n" +
                           "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" +
                           body.substr(0, 10));
  UniqueFd idle = connect_tcp(daemon.port());  // a keep-alive connection with nothing in flight
  ASSERT_TRUE(idle.valid());
  // No observable event says the daemon has read the partial request: give it a moment.
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  daemon.send_signal(SIGTERM);
  // It stops accepting...
  EXPECT_TRUE(eventually([&] { return !connect_tcp(daemon.port()).valid(); }));
  // ...closes the idle connection...
  EXPECT_EQ(read_until_close(idle.get(), std::chrono::milliseconds(5000)), "");
  // ...and still answers the request in flight.
  send_all(slow.get(), body.substr(10));
  const std::string resp = read_until_close(slow.get(), std::chrono::milliseconds(10000));
  EXPECT_EQ(raw_status(resp), 201) << resp;
  EXPECT_NE(resp.find("Connection: close"), std::string::npos) << resp;
  EXPECT_EQ(daemon.wait_exit(std::chrono::milliseconds(15000)), 0) << daemon.stderr_log();
  ASSERT_TRUE(daemon.restart().ok());
  EXPECT_EQ(daemon.client().get("/v1/vms/slow").status, 200);
  EXPECT_EQ(daemon.stop(SIGINT), 0);
}

TEST(Signals, SighupChangesTheLogLevelFromTheFile) {
  DaemonOptions o;
  o.config_json = R"({"log_level":"warn"})";
  o.log_level = "";  // no --log-level flag: the file decides
  auto d = FlotilladProcess::start(o);
  ASSERT_TRUE(d.ok()) << d.error().message;
  auto& daemon = **d;
  EXPECT_EQ(daemon.client().get("/healthz").status, 200);
  EXPECT_EQ(daemon.stderr_log().find("access"), std::string::npos) << daemon.stderr_log();
  std::ofstream(daemon.work_dir() + "/config.json") << R"({"log_level":"info"})";
  daemon.send_signal(SIGHUP);
  EXPECT_TRUE(eventually([&] {
    return daemon.stderr_log().find("config reloaded (log level info)") != std::string::npos;
  })) << daemon.stderr_log();
  EXPECT_EQ(daemon.client().get("/healthz").status, 200);
  EXPECT_TRUE(eventually([&] { return daemon.stderr_log().find("access") != std::string::npos; }));
  // A broken file is refused; the daemon keeps its config and keeps serving.
  std::ofstream(daemon.work_dir() + "/config.json") << "{broken";
  daemon.send_signal(SIGHUP);
  EXPECT_TRUE(eventually([&] {
    return daemon.stderr_log().find("config not reloaded") != std::string::npos;
  })) << daemon.stderr_log();
  EXPECT_EQ(daemon.client().get("/healthz").status, 200);
  EXPECT_EQ(daemon.stop(SIGTERM), 0);
}

TEST(Systemd, NotifiesReadyWatchdogStoppingAndLogsWithPriorities) {
  TempDir dir("flotilla-notify");
  const std::string path = dir.path() + "/notify.sock";
  UniqueFd sock(::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  std::snprintf(a.sun_path, sizeof a.sun_path, "%s", path.c_str());
  ASSERT_EQ(::bind(sock.get(), reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  DaemonOptions o;
  o.env = {{"NOTIFY_SOCKET", path}, {"WATCHDOG_USEC", "200000"}};
  auto d = FlotilladProcess::start(o);
  ASSERT_TRUE(d.ok()) << d.error().message;
  std::string got;
  auto receive = [&](const std::string& want) {
    return eventually([&] {
      char buf[512];
      ssize_t n;
      while ((n = ::recv(sock.get(), buf, sizeof buf, MSG_DONTWAIT)) > 0) {
        got.append(buf, static_cast<size_t>(n)).push_back('\n');
      }
      return got.find(want) != std::string::npos;
    });
  };
  EXPECT_TRUE(receive("READY=1")) << got;
  EXPECT_TRUE(receive("WATCHDOG=1")) << got;
  (*d)->send_signal(SIGTERM);
  EXPECT_TRUE(receive("STOPPING=1")) << got;
  EXPECT_EQ((*d)->wait_exit(std::chrono::milliseconds(15000)), 0);
  EXPECT_NE((*d)->stderr_log().find("<6>"), std::string::npos) << (*d)->stderr_log();
}

}  // namespace
}  // namespace flotilla::test
