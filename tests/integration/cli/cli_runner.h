// Runs the real `flotilla` binary as a child process with a clean environment (only PATH plus
// what the test passes), optional stdin, and a deadline; captures exit code, stdout, stderr.
#pragma once

#include <chrono>
#include <map>
#include <string>
#include <vector>

namespace flotilla::cli::testing {

struct CliRun {
  int exit_code = -1;  // -1: killed at the deadline or by a signal
  std::string out;
  std::string err;
};

struct CliEnv {
  std::map<std::string, std::string> vars;
  std::string stdin_text;
  std::string cwd;  // "" = the test's
  std::chrono::seconds deadline{30};
};

inline CliEnv stdin_env(std::string text) {
  CliEnv env;
  env.stdin_text = std::move(text);
  return env;
}

inline CliEnv vars_env(std::map<std::string, std::string> vars) {
  CliEnv env;
  env.vars = std::move(vars);
  return env;
}

CliRun run_flotilla(const std::vector<std::string>& args, const CliEnv& env = {});

}  // namespace flotilla::cli::testing
