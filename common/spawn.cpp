// spawn_detached: posix_spawn with a clean slate (see spawn.h).
#include "common/spawn.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>

#include <cerrno>
#include <cstring>

namespace flotilla {
namespace {

void add_output(posix_spawn_file_actions_t* actions, int fd, const SpawnOutput& out) {
  if (out.path.empty()) {
    posix_spawn_file_actions_addopen(actions, fd, "/dev/null", O_WRONLY, 0);
    return;
  }
  const int mode = O_WRONLY | O_CREAT | (out.append ? O_APPEND : O_TRUNC);
  posix_spawn_file_actions_addopen(actions, fd, out.path.c_str(), mode, 0640);
}

}  // namespace

Result<pid_t, SpawnError> spawn_detached(const std::vector<std::string>& argv,
                                         const SpawnOptions& options) {
  if (argv.empty() || argv[0].empty()) {
    return fail(SpawnError{EINVAL, "spawn_detached: no program given"});
  }
  posix_spawn_file_actions_t actions;
  posix_spawnattr_t attr;
  posix_spawn_file_actions_init(&actions);
  posix_spawnattr_init(&attr);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  add_output(&actions, 1, options.out);
  add_output(&actions, 2, options.err);
  posix_spawn_file_actions_addclosefrom_np(&actions, 3);
  sigset_t none;
  sigset_t all;
  sigemptyset(&none);
  sigfillset(&all);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setsigdefault(&attr, &all);
  posix_spawnattr_setflags(&attr,
                           POSIX_SPAWN_SETSID | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  std::vector<std::string> copy = argv;  // posix_spawn takes char* const[]
  std::vector<char*> args;
  for (auto& a : copy) args.push_back(a.data());
  args.push_back(nullptr);
  char* envp[] = {nullptr};
  pid_t pid = 0;
  const int err = ::posix_spawn(&pid, copy[0].c_str(), &actions, &attr, args.data(), envp);
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  if (err != 0) return fail(SpawnError{err, std::strerror(err)});
  return pid;
}

}  // namespace flotilla
