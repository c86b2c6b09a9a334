// TLS: a handshake with a self-signed pair the test makes with the openssl CLI; SIGHUP swaps
// in a new pair for new connections; a broken pair stops the daemon at start.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <thread>

#include "tests/support/daemon_fixture.h"

namespace flotilla::test {
namespace {

// Makes <dir>/<name>.crt and <dir>/<name>.key (self-signed, CN and SAN 127.0.0.1).
void make_cert_pair(const std::string& dir, const std::string& name) {
  const std::string cmd =
      "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1 "
      "-subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 -keyout " +
      dir + "/" + name + ".key -out " + dir + "/" + name + ".crt 2>/dev/null";
  ASSERT_EQ(std::system(cmd.c_str()), 0) << "the openssl CLI is needed: " << cmd;
}

TEST(Tls, HandshakeAndReloadOnSighup) {
  TempDir certs("flotilla-tls");
  const std::string dir = certs.path();
  make_cert_pair(dir, "a");
  make_cert_pair(dir, "b");
  std::filesystem::copy_file(dir + "/a.crt", dir + "/live.crt");
  std::filesystem::copy_file(dir + "/a.key", dir + "/live.key");
  DaemonOptions o;
  o.extra_args = {"--tls-cert", dir + "/live.crt", "--tls-key", dir + "/live.key"};
  auto d = FlotilladProcess::start(o);
  ASSERT_TRUE(d.ok()) << d.error().message;
  auto& daemon = **d;
  EXPECT_EQ(daemon.url().substr(0, 8), "https://");
  const auto tls_a =
      HttpClient::tls("127.0.0.1", daemon.port(), dir + "/a.crt").with_token(daemon.admin_token());
  const auto tls_b =
      HttpClient::tls("127.0.0.1", daemon.port(), dir + "/b.crt").with_token(daemon.admin_token());
  auto r = tls_a.get("/v1/vms");
  EXPECT_EQ(r.status, 200) << r.error;
  EXPECT_EQ(tls_b.get("/healthz").status, 0);  // certificate not trusted
  EXPECT_EQ(HttpClient::tcp("127.0.0.1", daemon.port())
                .with_timeout(std::chrono::milliseconds(3000))
                .get("/healthz")
                .status,
            0);  // plain HTTP on the TLS port

  std::filesystem::copy_file(dir + "/b.crt", dir + "/live.crt",
                             std::filesystem::copy_options::overwrite_existing);
  std::filesystem::copy_file(dir + "/b.key", dir + "/live.key",
                             std::filesystem::copy_options::overwrite_existing);
  daemon.send_signal(SIGHUP);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (tls_b.get("/healthz").status != 200 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_EQ(tls_b.get("/healthz").status, 200) << daemon.stderr_log();
  EXPECT_EQ(tls_a.get("/healthz").status, 0);
  EXPECT_EQ(daemon.stop(SIGTERM), 0);
}

TEST(Tls, MismatchedKeyFailsAtStart) {
  TempDir certs("flotilla-tls");
  make_cert_pair(certs.path(), "a");
  make_cert_pair(certs.path(), "b");
  DaemonOptions o;
  o.extra_args = {"--tls-cert", certs.path() + "/a.crt", "--tls-key", certs.path() + "/b.key"};
  o.start_timeout = std::chrono::milliseconds(5000);
  auto d = FlotilladProcess::start(o);
  ASSERT_FALSE(d.ok());
  EXPECT_NE(d.error().message.find("TLS key"), std::string::npos) << d.error().message;
}

}  // namespace
}  // namespace flotilla::test
