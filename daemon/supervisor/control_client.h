// One request and its one-line reply on a monitor's control socket (vmm/README.md), bounded by
// a deadline. Blocking; callers run it on operation or API threads, never the watcher thread.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "common/result.h"

namespace flotilla::daemon::supervisor {

// The reply object (which has "ok"), or why there was none (no socket, timeout, bad JSON).
// A reply with "ok": false is returned as an error carrying the monitor's "error" text.
Result<nlohmann::json, SimpleError> control_call(const std::string& socket_path,
                                                 const nlohmann::json& request, int timeout_ms);

}  // namespace flotilla::daemon::supervisor
