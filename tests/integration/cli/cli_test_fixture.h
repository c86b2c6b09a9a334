// A real flotillad per test (tests/support/daemon_fixture.h) and helpers to run the real
// flotilla binary against it.
#pragma once

#include <gtest/gtest.h>

#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "cli_runner.h"
#include "tests/support/daemon_fixture.h"

namespace flotilla::cli::testing {

inline bool contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

class CliTest : public ::testing::Test {
 protected:
  void SetUp() override { start_daemon({}); }

  void start_daemon(test::DaemonOptions options) {
    auto d = test::FlotilladProcess::start(std::move(options));
    ASSERT_TRUE(d.ok()) << d.error().message;
    daemon_ = std::move(*d);
    kernel_ = daemon_->work_dir() + "/vmlinux";
    std::ofstream(kernel_) << "not a real kernel; nothing boots in these tests\n";
  }

  // flotilla --state-dir <daemon state> ARGS...: the default Unix socket and admin.token.
  CliRun local(std::vector<std::string> args, CliEnv env = {}) const {
    args.insert(args.begin(), {"--state-dir", daemon_->state_dir()});
    return run_flotilla(args, env);
  }

  // flotilla --url http://127.0.0.1:<port> --token TOKEN ARGS...
  CliRun tcp(std::vector<std::string> args, const std::string& token) const {
    args.insert(args.begin(), {"--url", daemon_->url(), "--token", token});
    return run_flotilla(args);
  }

  static nlohmann::json parse_json(const CliRun& r) {
    auto j = nlohmann::json::parse(r.out, nullptr, false);
    EXPECT_FALSE(j.is_discarded()) << "stdout is not JSON:\n" << r.out;
    return j;
  }

  std::string describe(const CliRun& r) const {
    return "exit " + std::to_string(r.exit_code) + "\nstdout:\n" + r.out + "\nstderr:\n" + r.err;
  }

  std::unique_ptr<test::FlotilladProcess> daemon_;
  std::string kernel_;
};

}  // namespace flotilla::cli::testing
