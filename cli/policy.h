// Internal to cli/: CPU and memory policy flags on `vm create` and the `vm policy VM` command
// (the requests they become are in requests.h: PolicyArgs).
#pragma once

#include <CLI/CLI.hpp>
#include <cstdint>
#include <memory>
#include <string>

#include "cli/app.h"
#include "cli/requests.h"

namespace flotilla::cli {

// The flags on one subcommand; read them back with args() after parsing.
class PolicyFlags {
 public:
  void add_to(CLI::App& command);
  PolicyArgs args() const;

 private:
  std::string cpu_mode_, cap_, memory_mode_;
  std::int64_t weight_ = 0, dedicated_cores_ = 0;
  CLI::Option *mode_opt_ = nullptr, *weight_opt_ = nullptr, *cap_opt_ = nullptr,
              *cores_opt_ = nullptr, *memory_opt_ = nullptr;
};

struct PolicyCommands {
  CLI::App* vm_policy = nullptr;
  std::string vm;
  PolicyFlags flags;
};
// Adds `policy VM [flags]` under `vm`.
std::unique_ptr<PolicyCommands> add_policy_commands(CLI::App& vm);
// Fills inv when `vm policy` was parsed: true if so.
Result<bool, UsageError> build_policy(const PolicyCommands& p, Invocation& inv);

}  // namespace flotilla::cli
