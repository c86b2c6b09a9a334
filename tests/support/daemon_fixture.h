// FlotilladProcess: a real `flotillad` for tests, on 127.0.0.1 port 0, in a fresh temporary
// state folder (removed when the object goes), with its admin token. Link flotilla_test_daemon
// (it builds flotillad first and knows its path).
//
//   auto d = flotilla::test::FlotilladProcess::start();
//   ASSERT_TRUE(d.ok()) << d.error().message;
//   auto api = (*d)->client();                 // TCP client carrying the admin token
//   EXPECT_EQ(api.get("/v1/vms").status, 200);
//   EXPECT_EQ((*d)->stop(SIGTERM), 0);        // exit status
//
// stdout of the daemon is read up to its "listening on http(s)://..." line; stderr (the log)
// goes to a file, stderr_log() returns it for failure messages.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "common/result.h"
#include "common/unique_fd.h"
#include "tests/support/http_client.h"

namespace flotilla::test {

// A temporary folder under $TMPDIR (or /tmp), removed recursively on destruction.
class TempDir {
 public:
  explicit TempDir(const std::string& prefix = "flotilla-test");
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

struct DaemonOptions {
  std::vector<std::string> extra_args;  // appended to flotillad's command line
  std::string config_json;              // non-empty: written to a file and passed as --config
  std::string log_level = "info";       // "" passes no --log-level (the config file decides)
  std::vector<std::pair<std::string, std::string>> env;  // set in the daemon's environment
  std::chrono::milliseconds start_timeout{20000};
};

class FlotilladProcess {
 public:
  // Starts flotillad --state-dir <tmp>/state --listen 127.0.0.1:0 and waits for its listening line.
  static Result<std::unique_ptr<FlotilladProcess>, SimpleError> start(DaemonOptions options = {});
  // SIGKILLs a still running daemon and every flotilla-vmm it left running, then removes the
  // temp folder.
  ~FlotilladProcess();

  // Starts the daemon again in the same state folder (after stop()/kill()); port changes.
  Result<void, SimpleError> restart();

  uint16_t port() const { return port_; }
  std::string url() const;  // "http://127.0.0.1:<port>" (https with TLS)
  const std::string& admin_token() const { return admin_token_; }  // from <state>/admin.token
  const std::string& printed_admin_token() const { return printed_token_; }  // "" after restart
  std::string state_dir() const;
  std::string unix_socket_path() const;                         // <state>/run/flotillad.sock
  std::string db_path() const;                                  // <state>/flotilla.db
  const std::string& work_dir() const { return tmp_->path(); }  // holds state/, logs, config
  // The cgroup folder this daemon puts its VMs under (--cgroup-root): one per test daemon, so
  // parallel tests never share or remove each other's groups; removed by the destructor.
  const std::string& cgroup_root() const { return cgroup_root_; }
  pid_t pid() const { return pid_; }
  bool running() const { return pid_ > 0; }

  HttpClient client() const;  // plain TCP with the admin token
  HttpClient unix_client() const;

  // Sends `sig` and waits for exit: the exit status, 128+signal if killed, -1 on timeout.
  int stop(int sig, std::chrono::milliseconds timeout = std::chrono::milliseconds(20000));
  void kill_hard();  // SIGKILL and reap
  void send_signal(int sig) const;
  // Waits up to `timeout` for a stopped process; same return values as stop().
  int wait_exit(std::chrono::milliseconds timeout);
  std::string stderr_log() const;  // the current run's log

 private:
  FlotilladProcess() = default;
  Result<void, SimpleError> launch();

  DaemonOptions options_;
  std::unique_ptr<TempDir> tmp_;
  std::string cgroup_root_;
  pid_t pid_ = -1;
  UniqueFd stdout_;
  uint16_t port_ = 0;
  bool tls_ = false;
  int run_ = 0;
  std::string admin_token_;
  std::string printed_token_;
};

// The flotillad binary this build made.
std::string flotillad_path();

}  // namespace flotilla::test
