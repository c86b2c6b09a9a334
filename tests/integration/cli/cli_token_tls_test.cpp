// flotilla token commands and TLS against a real flotillad.
#include <cstdlib>

#include "cli_test_fixture.h"

namespace flotilla::cli::testing {
namespace {

TEST_F(CliTest, TokenCreateListRevoke) {
  auto created = local({"token", "create", "ci", "--role", "viewer", "--json"});
  ASSERT_EQ(created.exit_code, 0) << describe(created);
  auto token = parse_json(created);
  std::string secret = token["token"], id = token["id"];
  EXPECT_EQ(secret.rfind("flt_", 0), 0u);
  EXPECT_EQ(token["role"], "viewer");

  auto human = local({"token", "create", "deploy", "--role", "operator", "--expires-in", "3600"});
  ASSERT_EQ(human.exit_code, 0) << describe(human);
  EXPECT_TRUE(contains(human.out, "token:       flt_")) << human.out;
  EXPECT_TRUE(contains(human.err, "not shown again")) << human.err;

  auto list = local({"token", "list"});
  ASSERT_EQ(list.exit_code, 0) << describe(list);
  EXPECT_EQ(list.out.rfind("ID", 0), 0u) << list.out;
  EXPECT_TRUE(contains(list.out, id + "  ci ")) << list.out;
  EXPECT_TRUE(contains(list.out, "  never\n")) << list.out;
  EXPECT_FALSE(contains(list.out, secret)) << "token list must not show secrets";
  auto list_json = parse_json(local({"token", "list", "--json"}));
  EXPECT_GE(list_json["items"].size(), 3u);  // admin + ci + deploy

  // The viewer token reads but may not create.
  auto read = tcp({"vm", "list"}, secret);
  EXPECT_EQ(read.exit_code, 0) << describe(read);
  auto write = tcp({"vm", "create", "nope", "--kernel", kernel_}, secret);
  EXPECT_EQ(write.exit_code, 1) << describe(write);
  EXPECT_EQ(write.err.rfind("error: forbidden: ", 0), 0u) << write.err;

  auto revoked = local({"token", "revoke", id});
  ASSERT_EQ(revoked.exit_code, 0) << describe(revoked);
  EXPECT_EQ(revoked.out, "revoked token " + id + "\n");
  auto after = tcp({"vm", "list"}, secret);
  EXPECT_EQ(after.exit_code, 1) << describe(after);
  EXPECT_TRUE(contains(after.err, "error: unauthorized: ")) << after.err;
}

TEST_F(CliTest, TokenErrorsExitOne) {
  auto bad_role = local({"token", "create", "x", "--role", "root"});
  EXPECT_EQ(bad_role.exit_code, 1) << describe(bad_role);
  EXPECT_TRUE(contains(bad_role.err, "error: validation_failed: ")) << bad_role.err;
  EXPECT_TRUE(contains(bad_role.err, "role")) << bad_role.err;
  auto viewer = parse_json(local({"token", "create", "v", "--role", "viewer", "--json"}));
  auto not_admin = tcp({"token", "list"}, viewer["token"]);
  EXPECT_EQ(not_admin.exit_code, 1) << describe(not_admin);
  EXPECT_TRUE(contains(not_admin.err, "error: forbidden: ")) << not_admin.err;
}

class CliTlsTest : public CliTest {
 protected:
  void SetUp() override {
    cert_ = certs_.path() + "/cert.pem";
    key_ = certs_.path() + "/key.pem";
    std::string cmd =
        "openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=localhost"
        " -addext subjectAltName=DNS:localhost,IP:127.0.0.1 -keyout " +
        key_ + " -out " + cert_ + " 2>/dev/null";
    ASSERT_EQ(std::system(cmd.c_str()), 0) << "openssl CLI failed: " << cmd;
    test::DaemonOptions options;
    options.extra_args = {"--tls-cert", cert_, "--tls-key", key_};
    start_daemon(options);
    ASSERT_EQ(daemon_->url().rfind("https://", 0), 0u) << daemon_->url();
  }
  test::TempDir certs_;
  std::string cert_, key_;
};

TEST_F(CliTlsTest, VerifiesTheServerAgainstTheGivenCa) {
  auto ok = tcp({"--ca", cert_, "vm", "list"}, daemon_->admin_token());
  EXPECT_EQ(ok.exit_code, 0) << describe(ok);
  EXPECT_EQ(ok.out.rfind("NAME", 0), 0u) << ok.out;
  auto untrusted = tcp({"vm", "list"}, daemon_->admin_token());
  EXPECT_EQ(untrusted.exit_code, 3) << describe(untrusted);
  EXPECT_TRUE(contains(untrusted.err, "error: tls: ")) << untrusted.err;
  auto insecure = tcp({"--insecure", "host", "--json"}, daemon_->admin_token());
  EXPECT_EQ(insecure.exit_code, 0) << describe(insecure);
  std::string port = std::to_string(daemon_->port());
  auto by_name = run_flotilla({"--url", "https://localhost:" + port, "--ca", cert_, "--token",
                               daemon_->admin_token(), "vm", "list", "--json"});
  EXPECT_EQ(by_name.exit_code, 0) << describe(by_name);
  auto plain = run_flotilla({"--url", "http://127.0.0.1:" + port, "--token", daemon_->admin_token(),
                             "--timeout", "5", "vm", "list"});
  EXPECT_NE(plain.exit_code, 0) << "plain HTTP to a TLS listener must fail: " << describe(plain);
}

}  // namespace
}  // namespace flotilla::cli::testing
