// Internal to cli/: the `network ...` and `vm nic ...` subcommands (args.cpp adds and maps them).
#pragma once

#include <CLI/CLI.hpp>
#include <memory>

#include "cli/app.h"
#include "cli/requests.h"

namespace flotilla::cli {

struct NetworkCommands;
struct NetworkCommandsDeleter {
  void operator()(NetworkCommands* n) const;
};
using NetworkCommandsPtr = std::unique_ptr<NetworkCommands, NetworkCommandsDeleter>;

// Adds `network create|list|show|delete` to app and `nic attach|detach|limits` under `vm`.
NetworkCommandsPtr add_network_commands(CLI::App& app, CLI::App& vm);
// Fills inv.command/request when one of them was parsed: true if so.
Result<bool, UsageError> build_network(const NetworkCommands& n, Invocation& inv);

}  // namespace flotilla::cli
