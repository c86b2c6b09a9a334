// GuestConsole: drives a process that exposes a guest's serial console on its stdin/stdout
// (qemu-system-x86_64 -serial stdio, flotilla-vmm in the foreground) from a test.
//
// - spawn() starts the process in its own process group with stdin/stdout (and stderr, kept
//   apart) on pipes; a background thread ("console-rd") collects everything it writes.
// - The console keeps a read cursor into the collected stdout. wait_for() searches from the
//   cursor and, on a match, moves the cursor past it, so successive waits see new output only.
// - run_command() sends one shell line and returns the lines the guest printed for it, up to
//   and including its `OK` / `ERR <reason>` status line (the probe guest's shell contract,
//   team/VMM.md). The echo of the typed command and prompts are dropped.
// - Destruction SIGKILLs the whole process group and reaps the child.
//
// Every wait takes a timeout (or an absolute deadline); nothing blocks forever.
//
// Example:
//   auto c = GuestConsole::spawn({"qemu-system-x86_64", ...});
//   ASSERT_TRUE(c) << c.error().message;
//   ASSERT_TRUE((*c)->wait_for(std::regex("flotilla-probe ready"), 20s));
//   auto r = (*c)->run_command("echo hi", 5s);
//   ASSERT_TRUE(r && r->ok());  // r->lines == {"hi"}
#pragma once

#include <sys/types.h>

#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <optional>
#include <regex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "common/result.h"
#include "common/unique_fd.h"

namespace flotilla::test {

using ConsoleClock = std::chrono::steady_clock;

struct ConsoleOptions {
  // Extra environment entries "KEY=VALUE", added to (or replacing in) the test's environment.
  std::vector<std::string> env;
  // Also append the child's stderr to the stdout buffer (it is always kept in stderr_output()).
  bool merge_stderr = false;
};

// One regex match: str(0) is the whole match, str(i) capture group i ("" if it did not take part).
struct ConsoleMatch {
  std::vector<std::string> groups;
  std::string str(size_t i = 0) const { return i < groups.size() ? groups[i] : std::string(); }
};

// Output of one shell command: the lines before the status line, and the status line itself.
struct CommandOutput {
  std::vector<std::string> lines;  // without "\r\n", without the command echo and prompt
  std::string status;              // "OK" or "ERR <reason>"
  bool ok() const { return status == "OK"; }
};

// How the child ended: exited normally with `code`, or killed by `signal`.
struct ExitStatus {
  bool exited = false;
  int code = -1;
  int signal = 0;
};

class GuestConsole {
 public:
  // argv[0] is looked up in PATH.
  static Result<std::unique_ptr<GuestConsole>, SimpleError> spawn(
      const std::vector<std::string>& argv, const ConsoleOptions& options = {});
  ~GuestConsole();
  GuestConsole(const GuestConsole&) = delete;
  GuestConsole& operator=(const GuestConsole&) = delete;

  pid_t pid() const { return pid_; }

  // Writes raw bytes / a line followed by "\n" to the child's stdin. False if the pipe is gone.
  bool send(std::string_view bytes);
  bool send_line(std::string_view line) { return send(std::string(line) + "\n"); }

  // Waits until `re` matches the stdout collected after the cursor; advances the cursor.
  std::optional<ConsoleMatch> wait_for(const std::regex& re, ConsoleClock::time_point deadline);
  std::optional<ConsoleMatch> wait_for(const std::regex& re, ConsoleClock::duration timeout) {
    return wait_for(re, ConsoleClock::now() + timeout);
  }

  // Sends `command` and collects its output up to the OK/ERR status line; nullopt on timeout
  // (the cursor is then left where it was).
  std::optional<CommandOutput> run_command(std::string_view command,
                                           ConsoleClock::time_point deadline);
  std::optional<CommandOutput> run_command(std::string_view command,
                                           ConsoleClock::duration timeout) {
    return run_command(command, ConsoleClock::now() + timeout);
  }

  // Waits for the child to exit; nullopt if it is still running at the deadline.
  std::optional<ExitStatus> wait_exit(ConsoleClock::time_point deadline);
  std::optional<ExitStatus> wait_exit(ConsoleClock::duration timeout) {
    return wait_exit(ConsoleClock::now() + timeout);
  }

  // Everything collected so far (for failure messages), and the cursor's position in it.
  std::string output() const;
  std::string stderr_output() const;
  size_t cursor() const;
  // Moves the cursor to the end of what has been collected (skips pending output).
  void skip_pending();

 private:
  GuestConsole() = default;
  void reader_loop();
  void kill_and_reap();

  pid_t pid_ = -1;
  UniqueFd stdin_;
  UniqueFd stdout_;
  UniqueFd stderr_;
  UniqueFd wake_;  // eventfd that stops the reader thread
  bool merge_stderr_ = false;
  std::optional<ExitStatus> exit_status_;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::string out_;    // guarded by mu_
  std::string err_;    // guarded by mu_
  size_t cursor_ = 0;  // guarded by mu_
  bool eof_ = false;   // guarded by mu_: stdout and stderr both closed
  std::thread reader_;
};

}  // namespace flotilla::test
