// Daemon: assembles flotillad. Start order: state folder → host id → store → admin token →
// Api → HTTP server → READY=1; stop in reverse. Signals (on the main thread's io_context):
// SIGTERM/SIGINT drain and stop (exit 0), SIGHUP reloads the config file (log level) and the
// TLS certificate and key.
#pragma once

#include <string>

#include "daemon/config.h"

namespace flotilla::daemon {

inline constexpr const char* kVersion = FLOTILLA_VERSION;

// Runs until a stop signal; returns the process exit status.
int run_daemon(const ConfigOverrides& overrides);

// Parses the command line. Returns an exit status when the process should end now (--help,
// --version, a usage error), or nullopt and fills `out`.
std::optional<int> parse_command_line(int argc, char** argv, ConfigOverrides& out);

}  // namespace flotilla::daemon
