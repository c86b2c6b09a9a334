#include "cli/connection.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>

namespace flotilla::cli {
namespace {

namespace fs = std::filesystem;

class Connection : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/flotilla-cli-conn-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { fs::remove_all(dir_); }
  void write_token(const std::string& text) { std::ofstream(dir_ + "/admin.token") << text; }
  std::string dir_;
};

TEST_F(Connection, DefaultIsTheStateDirSocketWithTheAdminToken) {
  write_token("flt_admin\n");
  ConnectionArgs args;
  args.state_dir = dir_;
  auto r = resolve_connection(args);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->options.endpoint.transport, Transport::kUnix);
  EXPECT_EQ(r->options.endpoint.socket_path, dir_ + "/run/flotillad.sock");
  EXPECT_EQ(r->options.bearer_token, "flt_admin");
  EXPECT_EQ(r->token_warning, "");
}

TEST_F(Connection, AnExplicitTokenWinsOverTheFile) {
  write_token("flt_admin");
  ConnectionArgs args;
  args.state_dir = dir_;
  args.token = "flt_mine";
  EXPECT_EQ(resolve_connection(args)->options.bearer_token, "flt_mine");
}

TEST_F(Connection, MissingTokenFileLeavesAWarningNamingThePath) {
  ConnectionArgs args;
  args.state_dir = dir_;
  auto r = resolve_connection(args);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->options.bearer_token, "");
  EXPECT_NE(r->token_warning.find(dir_ + "/admin.token"), std::string::npos) << r->token_warning;
}

TEST_F(Connection, UrlNeverSendsTheLocalAdminToken) {
  write_token("flt_admin");
  ConnectionArgs args;
  args.state_dir = dir_;
  args.url = "https://remote.example:8470";
  args.insecure = true;
  auto r = resolve_connection(args);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->options.endpoint.transport, Transport::kTls);
  EXPECT_EQ(r->options.bearer_token, "");
  EXPECT_TRUE(r->options.tls.insecure);
  EXPECT_FALSE(r->token_warning.empty());
}

TEST_F(Connection, BadUrlIsAnError) {
  ConnectionArgs args;
  args.url = "localhost:8470";
  auto r = resolve_connection(args);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, HttpErrorCode::kInvalidUrl);
}

TEST_F(Connection, TokenFileIsTrimmedAndEmptyIsAnError) {
  write_token("  flt_x \r\nsecond line\n");
  EXPECT_EQ(*read_token_file(dir_ + "/admin.token"), "flt_x");
  write_token("\n");
  EXPECT_FALSE(read_token_file(dir_ + "/admin.token").ok());
}

}  // namespace
}  // namespace flotilla::cli
