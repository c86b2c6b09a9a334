// spawn_detached: starts a helper process (a monitor, a dnsmasq) that must not inherit the
// caller's state: no environment, stdin from /dev/null, stdout and stderr to files of the
// caller's choosing (or /dev/null), no file descriptor beyond 0-2, its own session, every signal
// at its default disposition and none blocked (a daemon that ignores SIGPIPE or blocks signals
// for its threads passes neither on). posix_spawn, so it is safe from a threaded process.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

#include "common/result.h"

namespace flotilla {

// Where one of the child's output streams goes.
struct SpawnOutput {
  std::string path;     // "" → /dev/null; else created (mode 0640) if missing
  bool append = false;  // append to the file instead of truncating it
};

struct SpawnOptions {
  SpawnOutput out;  // fd 1
  SpawnOutput err;  // fd 2
};

struct SpawnError {
  int code = 0;         // the errno posix_spawn returned
  std::string message;  // strerror(code)
};

// argv[0] is the program's path (no PATH search) and must be given. Returns the child's pid; the
// caller reaps it (waitpid or a pidfd).
Result<pid_t, SpawnError> spawn_detached(const std::vector<std::string>& argv,
                                         const SpawnOptions& options = {});

}  // namespace flotilla
