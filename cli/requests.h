// Command arguments → REST requests (THE REST v1 contract in team/TEAM.md). Pure functions: no
// sockets, no globals, so unit tests can pin the mapping down.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>

#include "cli/http_client.h"
#include "common/result.h"

namespace flotilla::cli {

struct UsageError {
  std::string message;
};

// CPU and memory policy flags (cli/policy.cpp): merged into a create body, or PATCHed alone
// (`vm policy`; the daemon applies a changed cpu policy to a running VM at once).
struct PolicyArgs {
  std::optional<std::string> cpu_mode;  // timeshare | partition
  std::optional<std::int64_t> weight;
  std::optional<std::string> cap;  // percent of one host core, or "none"
  std::optional<std::int64_t> dedicated_cores;
  std::optional<std::string> memory_mode;  // shared | reserved
  bool empty() const { return !cpu_mode && !weight && !cap && !dedicated_cores && !memory_mode; }
};
// {"cpu":{"mode","weight","cap_percent","dedicated_cores"},"memory":{"mode"}} merged into body;
// a cap that is neither a number nor "none" is a usage error.
Result<void, UsageError> apply_policy(const PolicyArgs& args, nlohmann::json& body);
// PATCH /v1/vms/{vm} with the policy only; at least one flag is needed.
Result<HttpRequest, UsageError> vm_policy_request(std::string_view vm, const PolicyArgs& args);

struct VmCreateArgs {
  std::optional<std::string> name;
  std::optional<std::string> kernel;
  std::optional<std::string> initrd;
  std::optional<std::string> cmdline;
  std::optional<std::string> restart;
  std::optional<std::int64_t> vcpus;
  std::optional<std::int64_t> memory_mib;
  PolicyArgs policy;  // --cpu-mode, --weight, --cap, --dedicated-cores, --memory-mode
  // The text of --from-json (file or stdin): a create body that the flags above override.
  std::optional<std::string> from_json;
};

struct TokenCreateArgs {
  std::string name;
  std::string role;
  std::optional<std::int64_t> expires_in_seconds;
};

HttpRequest vm_list_request();
HttpRequest vm_show_request(std::string_view name_or_id);
// Relative --kernel/--initrd paths are made absolute against the current directory, because
// the daemon resolves them in its own working directory.
Result<HttpRequest, UsageError> vm_create_request(const VmCreateArgs& args);
HttpRequest vm_delete_request(std::string_view name_or_id);
HttpRequest host_request();
HttpRequest token_create_request(const TokenCreateArgs& args);
HttpRequest token_list_request();
HttpRequest token_revoke_request(std::string_view id);

// Lifecycle: POST /v1/vms/{vm}/<action> with no body. action: start, stop, force-stop, pause,
// resume, reboot; stop_timeout_seconds only for stop (?timeout_seconds=N).
HttpRequest vm_action_request(std::string_view name_or_id, std::string_view action,
                              std::optional<std::int64_t> stop_timeout_seconds = std::nullopt);
HttpRequest operation_request(std::string_view id);
HttpRequest vm_stats_request(std::string_view name_or_id);
// GET /v1/vms/{vm}/console[?bytes=N]
HttpRequest console_tail_request(std::string_view name_or_id,
                                 std::optional<std::int64_t> bytes = std::nullopt);
// The WebSocket handshake target /v1/vms/{vm}/console/ws[?mode=read]
HttpRequest console_ws_request(std::string_view name_or_id, bool read_only);

// The text progress bar of a waiting lifecycle command: "[=====>    ] 60% vm.start" (width
// counts the characters between the brackets; percent is clamped to 0..100).
std::string progress_bar(int percent, std::string_view kind, int width = 20);

}  // namespace flotilla::cli
