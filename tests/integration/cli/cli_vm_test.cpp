// flotilla vm/host commands against a real flotillad: tables, --json, exit codes, transports.
#include <unistd.h>

#include <filesystem>

#include "cli_test_fixture.h"

namespace flotilla::cli::testing {
namespace {

TEST_F(CliTest, CreateListShowDeleteOverTheDefaultUnixSocket) {
  auto created = local({"vm", "create", "web-1", "--kernel", kernel_, "--vcpus", "2",
                        "--memory-mib", "256", "--cmdline", "console=ttyS0"});
  ASSERT_EQ(created.exit_code, 0) << describe(created);
  EXPECT_TRUE(contains(created.out, "name:           web-1\n")) << created.out;
  EXPECT_TRUE(contains(created.out, "memory:         256 MiB\n")) << created.out;
  EXPECT_TRUE(contains(created.out, "kernel:         " + kernel_ + "\n")) << created.out;

  ASSERT_EQ(local({"vm", "create", "db", "--kernel", kernel_}).exit_code, 0);
  auto list = local({"vm", "list"});
  ASSERT_EQ(list.exit_code, 0) << describe(list);
  EXPECT_EQ(list.out.rfind("NAME   ID", 0), 0u) << list.out;  // column sized to "web-1"
  EXPECT_TRUE(contains(list.out, "\nweb-1  ")) << list.out;
  EXPECT_TRUE(contains(list.out, "\ndb     ")) << list.out;
  EXPECT_TRUE(contains(list.out, "  stopped  stopped  2      256 MiB  ")) << list.out;

  auto show = local({"vm", "show", "web-1", "--json"});
  ASSERT_EQ(show.exit_code, 0) << describe(show);
  std::string id = parse_json(show)["id"];
  auto by_id = local({"vm", "show", id});
  ASSERT_EQ(by_id.exit_code, 0) << describe(by_id);
  EXPECT_TRUE(contains(by_id.out, "cmdline:        console=ttyS0\n")) << by_id.out;

  auto deleted = local({"vm", "delete", "web-1"});
  ASSERT_EQ(deleted.exit_code, 0) << describe(deleted);
  EXPECT_EQ(deleted.out, "deleted vm web-1\n");
  auto gone = local({"vm", "show", id});
  EXPECT_EQ(gone.exit_code, 1) << describe(gone);
  EXPECT_EQ(gone.err.rfind("error: not_found: ", 0), 0u) << gone.err;
  EXPECT_EQ(gone.out, "");
}

TEST_F(CliTest, JsonOutputIsTheApiJson) {
  auto created = local({"vm", "create", "j1", "--kernel", kernel_, "--json"});
  ASSERT_EQ(created.exit_code, 0) << describe(created);
  auto vm = parse_json(created);
  EXPECT_EQ(vm["name"], "j1");
  EXPECT_EQ(vm["state"], "stopped");
  auto list = parse_json(local({"vm", "list", "--json"}));
  ASSERT_TRUE(list["items"].is_array()) << list.dump();
  ASSERT_EQ(list["items"].size(), 1u);
  EXPECT_EQ(list["items"][0]["id"], vm["id"]);
  auto host = local({"host", "--json"});
  ASSERT_EQ(host.exit_code, 0) << describe(host);
  auto h = parse_json(host);
  EXPECT_TRUE(h["kvm"].is_object()) << h.dump();
  EXPECT_TRUE(h["cores"].is_number()) << h.dump();
  auto deleted = local({"vm", "delete", "j1", "--json"});
  EXPECT_EQ(deleted.exit_code, 0) << describe(deleted);
  EXPECT_EQ(deleted.out, "");  // 204: nothing to print
}

TEST_F(CliTest, HostIsAKeyValueBlock) {
  auto host = local({"host"});
  ASSERT_EQ(host.exit_code, 0) << describe(host);
  char name[256] = {};
  gethostname(name, sizeof name - 1);
  EXPECT_TRUE(contains(host.out, "hostname:")) << host.out;
  EXPECT_TRUE(contains(host.out, name)) << host.out;
  EXPECT_TRUE(contains(host.out, "kvm_flavour:")) << host.out;
}

TEST_F(CliTest, ApiErrorsExitOneWithTheApiMessage) {
  auto bad_name = local({"vm", "create", "Bad_Name", "--kernel", kernel_});
  EXPECT_EQ(bad_name.exit_code, 1) << describe(bad_name);
  EXPECT_EQ(bad_name.err.rfind("error: validation_failed: ", 0), 0u) << bad_name.err;
  EXPECT_TRUE(contains(bad_name.err, "name")) << bad_name.err;

  auto vcpus = local({"vm", "create", "v", "--kernel", kernel_, "--vcpus", "65"});
  EXPECT_EQ(vcpus.exit_code, 1) << describe(vcpus);
  EXPECT_TRUE(contains(vcpus.err, "error: validation_failed: ")) << vcpus.err;
  EXPECT_TRUE(contains(vcpus.err, "vcpus")) << vcpus.err;

  ASSERT_EQ(local({"vm", "create", "dup", "--kernel", kernel_}).exit_code, 0);
  auto dup = local({"vm", "create", "dup", "--kernel", kernel_});
  EXPECT_EQ(dup.exit_code, 1) << describe(dup);
  EXPECT_EQ(dup.err.rfind("error: conflict: ", 0), 0u) << dup.err;

  auto unknown = local({"vm", "create", "--from-json", "-"},
                       stdin_env(R"({"name":"u","boot":{"kernel":"/k"},"colour":"red"})"));
  EXPECT_EQ(unknown.exit_code, 1) << describe(unknown);
  EXPECT_TRUE(contains(unknown.err, "colour")) << unknown.err;

  auto missing = local({"vm", "delete", "no-such-vm"});
  EXPECT_EQ(missing.exit_code, 1) << describe(missing);
  EXPECT_EQ(missing.err.rfind("error: not_found: ", 0), 0u) << missing.err;

  auto list = parse_json(local({"vm", "list", "--json"}));
  EXPECT_EQ(list["items"].size(), 1u) << "failed creates must not leave VMs: " << list.dump();
}

TEST_F(CliTest, CreateFromJsonOnStdinWithFlagOverrides) {
  auto r = local({"vm", "create", "from-stdin", "--vcpus", "3", "--from-json", "-", "--json"},
                 stdin_env(R"({"name":"ignored","vcpus":1,"memory_mib":64,"boot":{"kernel":")" +
                           kernel_ + R"("},"restart":"on-crash"})"));
  ASSERT_EQ(r.exit_code, 0) << describe(r);
  auto vm = parse_json(r);
  EXPECT_EQ(vm["name"], "from-stdin");
  EXPECT_EQ(vm["vcpus"], 3);
  EXPECT_EQ(vm["memory_mib"], 64);
  EXPECT_EQ(vm["restart"], "on-crash");
}

TEST_F(CliTest, StateDirFromTheEnvironmentAndTheDotStateDefault) {
  ASSERT_EQ(local({"vm", "create", "env-vm", "--kernel", kernel_}).exit_code, 0);
  auto env = run_flotilla({"vm", "list"}, vars_env({{"FLOTILLA_STATE_DIR", daemon_->state_dir()}}));
  ASSERT_EQ(env.exit_code, 0) << describe(env);
  EXPECT_TRUE(contains(env.out, "env-vm")) << env.out;
  // With neither flag nor variable, ./.state in the working directory is used.
  std::string cwd = daemon_->work_dir() + "/cwd";
  std::filesystem::create_directories(cwd);
  std::filesystem::create_directory_symlink(daemon_->state_dir(), cwd + "/.state");
  CliEnv in_cwd;
  in_cwd.cwd = cwd;
  auto dot = run_flotilla({"vm", "list"}, in_cwd);
  ASSERT_EQ(dot.exit_code, 0) << describe(dot);
  EXPECT_TRUE(contains(dot.out, "env-vm")) << dot.out;
}

TEST_F(CliTest, TcpWithUrlAndTokenFlagsOrEnvironment) {
  auto created = tcp({"vm", "create", "tcp-vm", "--kernel", kernel_}, daemon_->admin_token());
  ASSERT_EQ(created.exit_code, 0) << describe(created);
  auto list = tcp({"vm", "list"}, daemon_->admin_token());
  ASSERT_EQ(list.exit_code, 0) << describe(list);
  EXPECT_TRUE(contains(list.out, "tcp-vm")) << list.out;
  auto env = run_flotilla(
      {"vm", "show", "tcp-vm"},
      vars_env({{"FLOTILLA_URL", daemon_->url()}, {"FLOTILLA_TOKEN", daemon_->admin_token()}}));
  ASSERT_EQ(env.exit_code, 0) << describe(env);
  EXPECT_TRUE(contains(env.out, "tcp-vm")) << env.out;
}

TEST_F(CliTest, MissingOrWrongTokenIsUnauthorized) {
  // --url never falls back to the local admin.token.
  auto none =
      run_flotilla({"--state-dir", daemon_->state_dir(), "--url", daemon_->url(), "vm", "list"});
  EXPECT_EQ(none.exit_code, 1) << describe(none);
  EXPECT_TRUE(contains(none.err, "error: unauthorized: ")) << none.err;
  EXPECT_TRUE(contains(none.err, "hint: no token")) << none.err;
  auto wrong = tcp({"vm", "list"}, "flt_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA");
  EXPECT_EQ(wrong.exit_code, 1) << describe(wrong);
  EXPECT_TRUE(contains(wrong.err, "error: unauthorized: ")) << wrong.err;
}

TEST_F(CliTest, ConnectionFailuresExitThree) {
  test::TempDir empty;
  auto no_socket = run_flotilla({"--state-dir", empty.path(), "vm", "list"});
  EXPECT_EQ(no_socket.exit_code, 3) << describe(no_socket);
  EXPECT_TRUE(contains(no_socket.err, "error: connect: cannot connect to unix:" + empty.path() +
                                          "/run/flotillad.sock"))
      << no_socket.err;
  int port = daemon_->port();
  ASSERT_EQ(daemon_->stop(SIGTERM), 0);
  auto refused =
      run_flotilla({"--url", "http://127.0.0.1:" + std::to_string(port), "--token", "x", "host"});
  EXPECT_EQ(refused.exit_code, 3) << describe(refused);
  EXPECT_TRUE(contains(refused.err, "error: connect: ")) << refused.err;
}

TEST_F(CliTest, UsageErrorsExitTwoWithoutContactingTheDaemon) {
  auto r = local({"vm", "create", "x", "--vcpus", "lots", "--kernel", kernel_});
  EXPECT_EQ(r.exit_code, 2) << describe(r);
  r = local({"vm", "create", "x"});
  EXPECT_EQ(r.exit_code, 2) << describe(r);
  EXPECT_TRUE(contains(r.err, "--kernel")) << r.err;
  r = local({"--url", "localhost:1", "vm", "list"});
  EXPECT_EQ(r.exit_code, 2) << describe(r);
  auto version = run_flotilla({"--version"});
  EXPECT_EQ(version.exit_code, 0) << describe(version);
  EXPECT_EQ(version.out.rfind("flotilla ", 0), 0u) << version.out;
  EXPECT_EQ(parse_json(local({"vm", "list", "--json"}))["items"].size(), 0u);
}

}  // namespace
}  // namespace flotilla::cli::testing
