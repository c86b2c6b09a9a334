#include "tests/support/guest_console.h"

#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <map>

extern char** environ;

namespace flotilla::test {
namespace {

SimpleError errno_error(const std::string& what) {
  return SimpleError{what + ": " + std::strerror(errno)};
}

ExitStatus decode_status(int status) {
  ExitStatus s;
  if (WIFEXITED(status)) {
    s.exited = true;
    s.code = WEXITSTATUS(status);
  } else if (WIFSIGNALED(status)) {
    s.signal = WTERMSIG(status);
  }
  return s;
}

// The test's environment with `extra` ("KEY=VALUE") added or replaced.
std::vector<std::string> merged_env(const std::vector<std::string>& extra) {
  std::map<std::string, std::string> vars;
  for (char** e = environ; e && *e; ++e) {
    std::string kv(*e);
    vars[kv.substr(0, kv.find('='))] = kv;
  }
  for (const auto& kv : extra) vars[kv.substr(0, kv.find('='))] = kv;
  std::vector<std::string> out;
  for (auto& [k, kv] : vars) out.push_back(kv);
  return out;
}

std::string strip_cr(std::string s) {
  while (!s.empty() && (s.back() == '\r' || s.back() == '\n')) s.pop_back();
  return s;
}

}  // namespace

Result<std::unique_ptr<GuestConsole>, SimpleError> GuestConsole::spawn(
    const std::vector<std::string>& argv, const ConsoleOptions& options) {
  if (argv.empty()) return fail(SimpleError{"spawn: empty argv"});
  int in[2], out[2], err[2];
  if (pipe2(in, O_CLOEXEC) != 0) return fail(errno_error("pipe2"));
  UniqueFd in_r(in[0]), in_w(in[1]);
  if (pipe2(out, O_CLOEXEC) != 0) return fail(errno_error("pipe2"));
  UniqueFd out_r(out[0]), out_w(out[1]);
  if (pipe2(err, O_CLOEXEC) != 0) return fail(errno_error("pipe2"));
  UniqueFd err_r(err[0]), err_w(err[1]);
  UniqueFd wake(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (!wake) return fail(errno_error("eventfd"));

  // Everything the child needs is prepared before fork (no allocation after it).
  std::vector<std::string> env = merged_env(options.env);
  std::vector<char*> cargv, cenv;
  for (const auto& a : argv) cargv.push_back(const_cast<char*>(a.c_str()));
  cargv.push_back(nullptr);
  for (const auto& e : env) cenv.push_back(const_cast<char*>(e.c_str()));
  cenv.push_back(nullptr);

  pid_t pid = fork();
  if (pid < 0) return fail(errno_error("fork"));
  if (pid == 0) {
    setpgid(0, 0);
    dup2(in_r.get(), 0);
    dup2(out_w.get(), 1);
    dup2(err_w.get(), 2);
    signal(SIGPIPE, SIG_DFL);
    execvpe(cargv[0], cargv.data(), cenv.data());
    const char msg[] = "guest_console: exec failed\n";
    (void)!write(2, msg, sizeof msg - 1);
    _exit(127);
  }
  setpgid(pid, pid);  // also from the parent, so kill(-pid) works whoever runs first

  std::unique_ptr<GuestConsole> c(new GuestConsole());
  c->pid_ = pid;
  c->stdin_ = std::move(in_w);
  c->stdout_ = std::move(out_r);
  c->stderr_ = std::move(err_r);
  c->wake_ = std::move(wake);
  c->merge_stderr_ = options.merge_stderr;
  // Writes to a dead child must fail with EPIPE, not kill the test.
  signal(SIGPIPE, SIG_IGN);
  c->reader_ = std::thread([raw = c.get()] { raw->reader_loop(); });
  return c;
}

GuestConsole::~GuestConsole() {
  kill_and_reap();
  uint64_t one = 1;
  (void)!write(wake_.get(), &one, sizeof one);
  if (reader_.joinable()) reader_.join();
}

void GuestConsole::kill_and_reap() {
  if (pid_ <= 0 || exit_status_) return;
  kill(-pid_, SIGKILL);
  kill(pid_, SIGKILL);
  int status = 0;
  if (waitpid(pid_, &status, 0) == pid_) exit_status_ = decode_status(status);
}

void GuestConsole::reader_loop() {
  pthread_setname_np(pthread_self(), "console-rd");
  bool out_open = true, err_open = true;
  char buf[4096];
  while (out_open || err_open) {
    pollfd fds[3] = {{wake_.get(), POLLIN, 0},
                     {out_open ? stdout_.get() : -1, POLLIN, 0},
                     {err_open ? stderr_.get() : -1, POLLIN, 0}};
    if (poll(fds, 3, -1) < 0) {
      if (errno == EINTR) continue;
      break;
    }
    if (fds[0].revents) break;
    for (int i = 1; i <= 2; ++i) {
      if (!fds[i].revents) continue;
      ssize_t n = read(fds[i].fd, buf, sizeof buf);
      if (n < 0 && errno == EINTR) continue;
      std::lock_guard<std::mutex> lock(mu_);
      if (n <= 0) {
        (i == 1 ? out_open : err_open) = false;
      } else if (i == 1) {
        out_.append(buf, n);
      } else {
        err_.append(buf, n);
        if (merge_stderr_) out_.append(buf, n);
      }
      cv_.notify_all();
    }
  }
  std::lock_guard<std::mutex> lock(mu_);
  eof_ = true;
  cv_.notify_all();
}

bool GuestConsole::send(std::string_view bytes) {
  while (!bytes.empty()) {
    ssize_t n = write(stdin_.get(), bytes.data(), bytes.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    bytes.remove_prefix(n);
  }
  return true;
}

std::optional<ConsoleMatch> GuestConsole::wait_for(const std::regex& re,
                                                   ConsoleClock::time_point deadline) {
  std::unique_lock<std::mutex> lock(mu_);
  for (;;) {
    std::smatch m;
    auto begin = out_.cbegin() + static_cast<std::ptrdiff_t>(cursor_);
    if (std::regex_search(begin, out_.cend(), m, re)) {
      ConsoleMatch r;
      for (size_t i = 0; i < m.size(); ++i) r.groups.push_back(m[i].matched ? m.str(i) : "");
      cursor_ += static_cast<size_t>(m.position(0) + m.length(0));
      return r;
    }
    if (eof_) return std::nullopt;
    if (cv_.wait_until(lock, deadline) == std::cv_status::timeout) {
      // One last look at what arrived just before the deadline.
      if (std::regex_search(out_.cbegin() + static_cast<std::ptrdiff_t>(cursor_), out_.cend(), m,
                            re))
        continue;
      return std::nullopt;
    }
  }
}

std::optional<CommandOutput> GuestConsole::run_command(std::string_view command,
                                                       ConsoleClock::time_point deadline) {
  size_t start = cursor();
  if (!send_line(command)) return std::nullopt;
  static const std::regex kStatus("(^|\n)(OK|ERR[^\r\n]*)\r?\n");
  auto m = wait_for(kStatus, deadline);
  if (!m) return std::nullopt;
  std::string text;
  {
    std::lock_guard<std::mutex> lock(mu_);
    text = out_.substr(start, cursor_ - start);
  }
  CommandOutput r;
  r.status = m->str(2);
  // Lines before the status line, minus the echoed command (and the prompt it follows).
  std::vector<std::string> lines;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t nl = text.find('\n', pos);
    if (nl == std::string::npos) nl = text.size();
    lines.push_back(strip_cr(text.substr(pos, nl - pos)));
    pos = nl + 1;
  }
  if (!lines.empty()) lines.pop_back();  // the status line
  bool echo_seen = false;
  for (auto& line : lines) {
    if (!echo_seen && line.size() >= command.size() &&
        line.compare(line.size() - command.size(), command.size(), command) == 0) {
      echo_seen = true;
      continue;
    }
    if (!echo_seen) continue;  // prompts or leftovers from before the command
    r.lines.push_back(line);
  }
  if (!echo_seen) r.lines = lines;  // a console that does not echo
  return r;
}

std::optional<ExitStatus> GuestConsole::wait_exit(ConsoleClock::time_point deadline) {
  if (exit_status_) return exit_status_;
  UniqueFd pidfd(static_cast<int>(syscall(SYS_pidfd_open, pid_, 0)));
  for (;;) {
    int status = 0;
    pid_t r = waitpid(pid_, &status, WNOHANG);
    if (r == pid_) {
      exit_status_ = decode_status(status);
      return exit_status_;
    }
    if (r < 0 && errno != EINTR) return std::nullopt;
    auto now = ConsoleClock::now();
    if (now >= deadline) return std::nullopt;
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - now).count();
    int slice = pidfd ? static_cast<int>(std::min<long long>(left + 1, 1000)) : 5;
    pollfd p{pidfd ? pidfd.get() : -1, POLLIN, 0};
    poll(&p, 1, slice);
  }
}

std::string GuestConsole::output() const {
  std::lock_guard<std::mutex> lock(mu_);
  return out_;
}

std::string GuestConsole::stderr_output() const {
  std::lock_guard<std::mutex> lock(mu_);
  return err_;
}

size_t GuestConsole::cursor() const {
  std::lock_guard<std::mutex> lock(mu_);
  return cursor_;
}

void GuestConsole::skip_pending() {
  std::lock_guard<std::mutex> lock(mu_);
  cursor_ = out_.size();
}

}  // namespace flotilla::test
