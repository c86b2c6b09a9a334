// Config file parsing and command-line overrides.
#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>

#include "daemon/config.h"

namespace flotilla::daemon {
namespace {

TEST(Config, DefaultsForEverything) {
  auto c = parse_config_json("{}");
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->state_dir, "./.state");
  EXPECT_EQ(c->listen_address, "127.0.0.1");
  EXPECT_EQ(c->listen_port, 8470);
  EXPECT_EQ(c->unix_socket_path(), "./.state/run/flotillad.sock");
  EXPECT_EQ(c->log_level, "info");
  EXPECT_EQ(c->body_limit_bytes, 1024u * 1024u);
  EXPECT_FALSE(c->server_options().tls.enabled());
}

TEST(Config, EveryKey) {
  auto c = parse_config_json(R"({"state_dir":"/s","listen":"[::1]:0","unix_socket":"none",
    "tls":{"cert":"/c","key":"/k"},"log_level":"debug",
    "http":{"threads":3,"read_timeout_ms":500,"max_connections":5,"pipeline_limit":2,
            "body_limit_bytes":2048,"header_limit_bytes":4096,"drain_timeout_ms":100}})");
  ASSERT_TRUE(c.ok()) << c.error().message;
  EXPECT_EQ(c->state_dir, "/s");
  EXPECT_EQ(c->listen_address, "::1");
  EXPECT_EQ(c->listen_port, 0);
  EXPECT_EQ(c->unix_socket_path(), "");
  const auto o = c->server_options();
  EXPECT_TRUE(o.tls.enabled());
  EXPECT_EQ(o.threads, 3);
  EXPECT_EQ(o.read_timeout_ms, 500);
  EXPECT_EQ(o.max_connections, 5);
  EXPECT_EQ(o.pipeline_limit, 2);
  EXPECT_EQ(o.body_limit_bytes, 2048u);
  EXPECT_EQ(o.header_limit_bytes, 4096u);
  EXPECT_EQ(o.drain_timeout_ms, 100);
}

TEST(Config, Rejects) {
  for (const char* bad :
       {"", "[]", "{", R"({"nope":1})", R"({"listen":"8470"})", R"({"listen":"127.0.0.1:70000"})",
        R"({"listen":"a:b"})", R"({"log_level":"loud"})", R"({"http":{"threads":0}})",
        R"({"http":{"threads":"2"}})", R"({"http":{"speed":1}})", R"({"tls":{"cert":"/c"}})",
        R"({"tls":{"pem":"/c"}})", R"({"state_dir":""})", R"({"state_dir":5})"}) {
    EXPECT_FALSE(parse_config_json(bad).ok()) << bad;
  }
  auto e = parse_config_json(R"({"http":{"threads":99}})");
  ASSERT_FALSE(e.ok());
  EXPECT_NE(e.error().message.find("http.threads"), std::string::npos);
}

TEST(Config, SchedulerSection) {
  auto d = parse_config_json("{}");
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->cgroup_root, "flotilla");
  EXPECT_EQ(d->cgroup_root_weight, 1000u);
  EXPECT_EQ(d->memory_overcommit_ratio, 1.5);
  EXPECT_EQ(d->memory_limit_mib, 0u);
  EXPECT_EQ(d->min_shared_cores, 1u);
  auto c = parse_config_json(R"({"scheduler":{"cgroup_root":"fleet","root_weight":200,
    "memory_overcommit_ratio":2.5,"memory_limit_mib":4096,"min_shared_cores":2}})");
  ASSERT_TRUE(c.ok()) << c.error().message;
  EXPECT_EQ(c->cgroup_root, "fleet");
  EXPECT_EQ(c->cgroup_root_weight, 200u);
  EXPECT_EQ(c->memory_overcommit_ratio, 2.5);
  EXPECT_EQ(c->memory_limit_mib, 4096u);
  EXPECT_EQ(c->min_shared_cores, 2u);
  for (const char* bad :
       {R"({"scheduler":{"cgroup_root":"a/b"}})", R"({"scheduler":{"cgroup_root":".."}})",
        R"({"scheduler":{"cgroup_root":""}})", R"({"scheduler":{"root_weight":10001}})",
        R"({"scheduler":{"memory_overcommit_ratio":0.5}})",
        R"({"scheduler":{"min_shared_cores":0}})", R"({"scheduler":{"speed":1}})",
        R"({"scheduler":[]})"}) {
    auto r = parse_config_json(bad);
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_NE(r.error().message.find("scheduler"), std::string::npos) << r.error().message;
  }
  ConfigOverrides o;
  o.cgroup_root = "from-flag";
  auto f = load_config(o);
  ASSERT_TRUE(f.ok()) << f.error().message;
  EXPECT_EQ(f->cgroup_root, "from-flag");
  o.cgroup_root = "../escape";
  EXPECT_FALSE(load_config(o).ok());
}

TEST(Config, CommandLineOverridesFile) {
  char path[] = "/tmp/flotilla-config-XXXXXX";
  const int fd = mkstemp(path);
  ASSERT_GE(fd, 0);
  close(fd);
  std::ofstream(path) << R"({"state_dir":"/from-file","listen":"127.0.0.1:1","log_level":"warn"})";
  ConfigOverrides o;
  o.config_file = path;
  auto c = load_config(o);
  ASSERT_TRUE(c.ok()) << c.error().message;
  EXPECT_EQ(c->state_dir, "/from-file");
  EXPECT_EQ(c->listen_port, 1);
  o.state_dir = "/from-flag";
  o.listen = "0.0.0.0:0";
  o.log_level = "error";
  c = load_config(o);
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->state_dir, "/from-flag");
  EXPECT_EQ(c->listen_address, "0.0.0.0");
  EXPECT_EQ(c->listen_port, 0);
  EXPECT_EQ(c->log_level, "error");
  EXPECT_EQ(c->unix_socket_path(), "/from-flag/run/flotillad.sock");
  o.log_level = "shouty";
  EXPECT_FALSE(load_config(o).ok());
  std::remove(path);
  o = {};
  o.config_file = "/nonexistent/config.json";
  EXPECT_FALSE(load_config(o).ok());
}

}  // namespace
}  // namespace flotilla::daemon
