#include "cli_runner.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>

#include "common/unique_fd.h"

#ifndef FLOTILLA_CLI_PATH
#error "FLOTILLA_CLI_PATH must name the flotilla binary"
#endif

namespace flotilla::cli::testing {
namespace {

struct Pipe {
  int read = -1, write = -1;
};

Pipe make_pipe() {
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) throw std::runtime_error(std::strerror(errno));
  return {fds[0], fds[1]};
}

[[noreturn]] void exec_child(const std::vector<std::string>& args, const CliEnv& env, Pipe in,
                             Pipe out, Pipe err) {
  dup2(in.read, 0);
  dup2(out.write, 1);
  dup2(err.write, 2);
  if (!env.cwd.empty() && chdir(env.cwd.c_str()) != 0) _exit(126);
  std::vector<std::string> storage{FLOTILLA_CLI_PATH};
  storage.insert(storage.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& a : storage) argv.push_back(a.data());
  argv.push_back(nullptr);
  std::vector<std::string> vars{"PATH=/usr/bin:/bin"};
  for (const auto& [k, v] : env.vars) vars.push_back(k + "=" + v);
  std::vector<char*> envp;
  for (auto& v : vars) envp.push_back(v.data());
  envp.push_back(nullptr);
  execve(argv[0], argv.data(), envp.data());
  _exit(127);
}

}  // namespace

CliRun run_flotilla(const std::vector<std::string>& args, const CliEnv& env) {
  Pipe in = make_pipe(), out = make_pipe(), err = make_pipe();
  pid_t pid = fork();
  if (pid < 0) throw std::runtime_error(std::strerror(errno));
  if (pid == 0) exec_child(args, env, in, out, err);
  close(in.read);
  close(out.write);
  close(err.write);
  // Small stdin texts fit the pipe buffer; write it all, then close so the child sees EOF.
  if (!env.stdin_text.empty()) {
    (void)!write(in.write, env.stdin_text.data(), env.stdin_text.size());
  }
  close(in.write);
  UniqueFd out_fd(out.read), err_fd(err.read);
  CliRun run;
  auto deadline = std::chrono::steady_clock::now() + env.deadline;
  pollfd fds[2] = {{out_fd.get(), POLLIN, 0}, {err_fd.get(), POLLIN, 0}};
  std::string* sinks[2] = {&run.out, &run.err};
  int open_fds = 2;
  while (open_fds > 0) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      kill(pid, SIGKILL);
      break;
    }
    if (poll(fds, 2, static_cast<int>(left.count())) < 0 && errno != EINTR) break;
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || !(fds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      char buf[4096];
      ssize_t n = read(fds[i].fd, buf, sizeof buf);
      if (n > 0) {
        sinks[i]->append(buf, static_cast<size_t>(n));
      } else {
        fds[i].fd = -1;
        --open_fds;
      }
    }
  }
  int status = 0;
  waitpid(pid, &status, 0);
  run.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return run;
}

}  // namespace flotilla::cli::testing
