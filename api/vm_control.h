// VmControl: what the API asks of whoever runs guests (the daemon's supervisor, daemon/).
// The API validates, authenticates and audits; VmControl acts and answers with records or API
// errors (409 invalid_state naming the current state, 422 for a definition that cannot start).
// Implementations are thread-safe: the HTTP server calls them from its pool threads.
#pragma once

#include <cstddef>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "api/api_types.h"
#include "storage/model.h"

namespace flotilla::api {

enum class VmAction { start, stop, force_stop, pause, resume, reboot };
std::string_view to_string(VmAction a);

struct ActionOptions {
  int stop_timeout_seconds = 30;  // graceful stop: how long the guest gets before a force stop
};

// What an action returns: an operation (HTTP 202) for work that takes time (start, stop,
// force_stop, reboot), or the VM as it is now (HTTP 200: pause, resume).
struct ActionOutcome {
  std::optional<storage::OperationRecord> operation;
  storage::VmRecord vm;
};

class VmControl {
 public:
  virtual ~VmControl() = default;
  virtual ApiResult<ActionOutcome> act(const storage::VmRecord& vm, VmAction action,
                                       const ActionOptions& options) = 0;
  // The last `bytes` bytes of the guest's console output (at most 64 KiB): from the running
  // monitor, else from the console log the last run left.
  virtual ApiResult<std::string> console_tail(const storage::VmRecord& vm, size_t bytes) = 0;
  // The monitor's counters (control socket "stats"), 409 invalid_state when no monitor runs.
  virtual ApiResult<nlohmann::json> stats(const storage::VmRecord& vm) = 0;
  // The running monitor's control socket (for the console WebSocket), 409 when not running.
  virtual ApiResult<std::string> control_socket(const storage::VmRecord& vm) = 0;
  // Applies NIC `index`'s limits to the running monitor (the store already has them); a VM
  // that is not running has nothing to change and succeeds.
  virtual ApiResult<void> apply_nic_limits(const storage::VmRecord& vm, size_t index,
                                           const storage::NicLimits& limits) = 0;
  // The CPU and memory policy of `spec`: 422 validation_failed for one this host can never
  // meet (more dedicated cores than it has); when `current` holds host resources (starting,
  // running, paused), 409 insufficient_resources for a change that cannot be admitted now.
  // Changes nothing. The default accepts everything (no scheduler).
  virtual ApiResult<void> check_policy(const storage::VmSpec& spec,
                                       const storage::VmRecord* current) {
    (void)spec;
    (void)current;
    return {};
  }
  // After an update: a running VM's stored CPU policy (weight, cap, dedicated cores) goes onto
  // the kernel at once; a VM that does not run has nothing to change.
  virtual ApiResult<void> apply_policy(const storage::VmRecord& vm) {
    (void)vm;
    return {};
  }
  // Prometheus text (HELP/TYPE + samples) for every running VM's monitor counters.
  virtual std::string metrics_text() = 0;
};

}  // namespace flotilla::api
