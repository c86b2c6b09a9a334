#include "tests/support/daemon_fixture.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

namespace flotilla::test {

namespace fs = std::filesystem;

std::string flotillad_path() {
  return FLOTILLAD_PATH;
}

TempDir::TempDir(const std::string& prefix) {
  const char* base = std::getenv("TMPDIR");
  std::string tmpl = std::string(base && *base ? base : "/tmp") + "/" + prefix + "-XXXXXX";
  if (::mkdtemp(tmpl.data()) == nullptr) std::abort();  // cannot test without a temp folder
  path_ = tmpl;
}

TempDir::~TempDir() {
  std::error_code ec;
  fs::remove_all(path_, ec);
}

namespace {

// Guests' monitors outlive flotillad by design; a test that ends (or fails) must not leave the
// ones its daemon started running. They are found by their --config path in the state folder.
void kill_monitors_under(const std::string& state_dir) {
  std::error_code ec;
  for (const auto& e : fs::directory_iterator("/proc", ec)) {
    const std::string name = e.path().filename();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    std::ifstream in(e.path() / "cmdline");
    std::string cmd((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    const std::string argv0 = cmd.substr(0, cmd.find('\0'));
    if (argv0.ends_with("flotilla-vmm") && cmd.find(state_dir + "/") != std::string::npos) {
      ::kill(static_cast<pid_t>(std::stol(name)), SIGKILL);
    }
  }
}

// The test daemon's cgroup folders in every hierarchy (v1 controllers and the v2 mount): VM
// groups first, then the root. A killed monitor leaves its group a moment later, so each rmdir
// is retried briefly.
void remove_cgroup_root(const std::string& root) {
  if (root.empty()) return;
  for (const char* h : {"cpu", "cpuacct", "cpuset", "unified", ""}) {
    const fs::path dir = fs::path("/sys/fs/cgroup") / h / root;
    std::error_code ec;
    if (!fs::is_directory(dir, ec)) continue;
    std::vector<fs::path> groups;
    for (const auto& e : fs::directory_iterator(dir, ec)) {
      if (e.is_directory(ec)) groups.push_back(e.path());
    }
    groups.push_back(dir);
    for (const auto& g : groups) {
      for (int i = 0; i < 100 && ::rmdir(g.c_str()) != 0 && errno == EBUSY; ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
      }
    }
  }
}

std::string unique_cgroup_root() {
  static std::atomic<int> counter{0};
  return "flotilla-test-" + std::to_string(::getpid()) + "-" + std::to_string(++counter);
}

}  // namespace

FlotilladProcess::~FlotilladProcess() {
  if (running()) kill_hard();
  if (tmp_) kill_monitors_under(state_dir());
  remove_cgroup_root(cgroup_root_);
}

std::string FlotilladProcess::state_dir() const {
  return tmp_->path() + "/state";
}
std::string FlotilladProcess::unix_socket_path() const {
  return state_dir() + "/run/flotillad.sock";
}
std::string FlotilladProcess::db_path() const {
  return state_dir() + "/flotilla.db";
}
std::string FlotilladProcess::url() const {
  return std::string(tls_ ? "https" : "http") + "://127.0.0.1:" + std::to_string(port_);
}
HttpClient FlotilladProcess::client() const {
  return HttpClient::tcp("127.0.0.1", port_).with_token(admin_token_);
}
HttpClient FlotilladProcess::unix_client() const {
  return HttpClient::unix_socket(unix_socket_path()).with_token(admin_token_);
}

std::string FlotilladProcess::stderr_log() const {
  std::ifstream in(tmp_->path() + "/flotillad-" + std::to_string(run_) + ".log");
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

Result<std::unique_ptr<FlotilladProcess>, SimpleError> FlotilladProcess::start(
    DaemonOptions options) {
  std::unique_ptr<FlotilladProcess> p(new FlotilladProcess());
  p->options_ = std::move(options);
  p->tmp_ = std::make_unique<TempDir>("flotillad-test");
  p->cgroup_root_ = unique_cgroup_root();
  p->options_.extra_args.insert(p->options_.extra_args.begin(), {"--cgroup-root", p->cgroup_root_});
  if (auto r = p->launch(); !r) return fail(r.error());
  return p;
}

Result<void, SimpleError> FlotilladProcess::restart() {
  if (running()) return fail(SimpleError{"restart: the daemon is still running"});
  return launch();
}

namespace {

std::vector<std::string> command_line(const DaemonOptions& o, const std::string& work) {
  std::vector<std::string> args = {flotillad_path(), "--state-dir", work + "/state", "--listen",
                                   "127.0.0.1:0"};
  if (!o.log_level.empty()) {
    args.push_back("--log-level");
    args.push_back(o.log_level);
  }
  if (!o.config_json.empty()) {
    std::ofstream(work + "/config.json") << o.config_json;
    args.push_back("--config");
    args.push_back(work + "/config.json");
  }
  args.insert(args.end(), o.extra_args.begin(), o.extra_args.end());
  return args;
}

// Reads stdout lines until the listening line, or fails at the deadline.
Result<std::string, SimpleError> read_until_listening(int fd, std::chrono::milliseconds timeout,
                                                      std::string& printed_token) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  std::string buf;
  for (;;) {
    size_t nl;
    while ((nl = buf.find('\n')) != std::string::npos) {
      const std::string line = buf.substr(0, nl);
      buf.erase(0, nl + 1);
      if (line.rfind("admin token: ", 0) == 0) printed_token = line.substr(13);
      if (line.rfind("listening on http", 0) == 0) return line.substr(13);
    }
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return fail(SimpleError{"flotillad did not print its URL in time"});
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) continue;
    char chunk[512];
    const ssize_t n = ::read(fd, chunk, sizeof chunk);
    if (n <= 0) return fail(SimpleError{"flotillad exited before listening"});
    buf.append(chunk, static_cast<size_t>(n));
  }
}

}  // namespace

Result<void, SimpleError> FlotilladProcess::launch() {
  ++run_;
  const auto args = command_line(options_, tmp_->path());
  const std::string log = tmp_->path() + "/flotillad-" + std::to_string(run_) + ".log";
  int out[2];
  if (::pipe2(out, O_CLOEXEC) != 0) return fail(SimpleError{"pipe failed"});
  const pid_t pid = ::fork();
  if (pid < 0) return fail(SimpleError{"fork failed"});
  if (pid == 0) {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);  // never outlive a crashed test
    ::dup2(out[1], STDOUT_FILENO);
    const int err = ::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (err >= 0) ::dup2(err, STDERR_FILENO);
    ::unsetenv("NOTIFY_SOCKET");
    for (const auto& [k, v] : options_.env) ::setenv(k.c_str(), v.c_str(), 1);
    std::vector<char*> argv;
    for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  ::close(out[1]);
  pid_ = pid;
  stdout_ = UniqueFd(out[0]);
  printed_token_.clear();
  auto url = read_until_listening(stdout_.get(), options_.start_timeout, printed_token_);
  if (!url) {
    kill_hard();
    return fail(SimpleError{url.error().message + "\n--- flotillad log ---\n" + stderr_log()});
  }
  tls_ = url->rfind("https", 0) == 0;
  port_ = static_cast<uint16_t>(std::stoi(url->substr(url->rfind(':') + 1)));
  std::ifstream tok(state_dir() + "/admin.token");
  std::getline(tok, admin_token_);
  return {};
}

void FlotilladProcess::send_signal(int sig) const {
  if (pid_ > 0) ::kill(pid_, sig);
}

int FlotilladProcess::wait_exit(std::chrono::milliseconds timeout) {
  if (pid_ <= 0) return -1;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    int status = 0;
    const pid_t r = ::waitpid(pid_, &status, WNOHANG);
    if (r == pid_) {
      pid_ = -1;
      stdout_.reset();
      if (WIFEXITED(status)) return WEXITSTATUS(status);
      if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
      return -1;
    }
    if (std::chrono::steady_clock::now() >= deadline) return -1;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
}

int FlotilladProcess::stop(int sig, std::chrono::milliseconds timeout) {
  send_signal(sig);
  return wait_exit(timeout);
}

void FlotilladProcess::kill_hard() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGKILL);
  int status = 0;
  ::waitpid(pid_, &status, 0);
  pid_ = -1;
  stdout_.reset();
}

}  // namespace flotilla::test
