// Internal to cli/: the pool, disk and `vm disk` subcommands (args.cpp adds and maps them).
#pragma once

#include <CLI/CLI.hpp>
#include <memory>

#include "cli/app.h"
#include "cli/requests.h"

namespace flotilla::cli {

struct StorageCommands;
struct StorageCommandsDeleter {
  void operator()(StorageCommands* s) const;
};
using StorageCommandsPtr = std::unique_ptr<StorageCommands, StorageCommandsDeleter>;

// Adds `pool ...`, `disk ...` to app and `disk attach|detach` under `vm`.
StorageCommandsPtr add_storage_commands(CLI::App& app, CLI::App& vm);
// Fills inv.command/request when one of them was parsed: true if so.
Result<bool, UsageError> build_storage(const StorageCommands& s, Invocation& inv);

}  // namespace flotilla::cli
