// Monitor: stdin (raw mode on a TTY), signals (signalfd) and the control protocol's commands.
#include <signal.h>
#include <spdlog/spdlog.h>
#include <sys/signalfd.h>
#include <termios.h>
#include <unistd.h>

#include "vmm/monitor/monitor.h"

namespace flotilla::vmm {
namespace {

termios g_saved_termios{};  // main thread only: the terminal as we found it

}  // namespace

void restore_terminal(bool was_raw) {
  if (was_raw) ::tcsetattr(STDIN_FILENO, TCSANOW, &g_saved_termios);
}

void block_monitor_signals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  ::signal(SIGPIPE, SIG_IGN);
}

VmmResult<void> Monitor::watch_stdin() {
  if (::isatty(STDIN_FILENO) && ::tcgetattr(STDIN_FILENO, &g_saved_termios) == 0) {
    termios raw = g_saved_termios;
    ::cfmakeraw(&raw);
    raw.c_lflag |= ISIG;  // Ctrl-C still stops the monitor
    raw.c_oflag |= OPOST | ONLCR;
    if (::tcsetattr(STDIN_FILENO, TCSANOW, &raw) == 0) stdin_raw_ = true;
  }
  auto r = loop_->add_fd(STDIN_FILENO, [this] {
    uint8_t buf[1024];
    const ssize_t n = ::read(STDIN_FILENO, buf, sizeof(buf));
    if (n > 0) {
      console_->input({buf, static_cast<size_t>(n)});
    } else if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
      loop_->remove_fd(STDIN_FILENO);  // EOF: the guest keeps running without input
      stdin_watched_ = false;
    }
  });
  // stdin may be /dev/null or a file epoll refuses; the guest then simply gets no input.
  stdin_watched_ = r.ok();
  return {};
}

VmmResult<void> Monitor::watch_signals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGHUP);
  signal_fd_.reset(::signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK));
  if (!signal_fd_) return vmm_errno(VmmErrc::kIo, "signalfd");
  auto r = loop_->add_fd(signal_fd_.get(), [this] {
    signalfd_siginfo si{};
    if (::read(signal_fd_.get(), &si, sizeof(si)) == sizeof(si)) {
      request_stop(std::string("signal ") + strsignal(static_cast<int>(si.ssi_signo)),
                   ExitReason::kSignal);
    }
  });
  if (!r) return vmm_fail(VmmErrc::kIo, "signalfd: " + r.error().message);
  return {};
}

nlohmann::json Monitor::status_json() {
  // machine_mu_ held.
  std::string state = "starting";
  if (machine_ != nullptr) state = machine_->paused() ? "paused" : "running";
  if (stop_requested_) state = "stopping";
  const auto path_or_null = [](const std::string& p) {
    return p.empty() ? nlohmann::json(nullptr) : nlohmann::json(p);
  };
  return {{"ok", true},
          {"state", state},
          {"vcpus", config_.vcpus},
          {"memory_mib", config_.memory_mib},
          {"reboots", reboots_.load()},
          {"pid", ::getpid()},
          {"started_at_ms", started_at_ms_},
          {"console_log", path_or_null(config_.console_log)},
          {"exit_file", path_or_null(config_.exit_file)}};
}

// {"cmd":"nic_limits","index":N,"rx":{"bytes_per_sec":..,"packets_per_sec":..},"tx":{..}}:
// changes the live limits (a direction left out keeps its limits) and keeps them for reboots.
// machine_mu_ held.
nlohmann::json Monitor::set_nic_limits(const nlohmann::json& req) {
  const auto index_it = req.find("index");
  if (index_it == req.end() || !index_it->is_number_unsigned() ||
      index_it->get<uint64_t>() >= config_.nics.size()) {
    return {
        {"ok", false},
        {"error", "index must name one of the " + std::to_string(config_.nics.size()) + " NICs"}};
  }
  NicConfig& nic = config_.nics[index_it->get<size_t>()];
  virtio::RateLimit rx = nic.rx;
  virtio::RateLimit tx = nic.tx;
  for (const char* dir : {"rx", "tx"}) {
    if (!req.contains(dir)) continue;
    auto limit = parse_rate_limit_json(req.at(dir), dir);
    if (!limit) return {{"ok", false}, {"error", limit.error().message}};
    (dir[0] == 'r' ? rx : tx) = *limit;
  }
  nic.rx = rx;
  nic.tx = tx;
  machine_->set_nic_limits(index_it->get<size_t>(), rx, tx);
  return {{"ok", true}, {"rx", rate_limit_json(rx)}, {"tx", rate_limit_json(tx)}};
}

nlohmann::json Monitor::handle_control(const nlohmann::json& req) {
  const std::string cmd = req.value("cmd", "");
  const auto deadline = Machine::Clock::now() + std::chrono::seconds(2);
  if (cmd == "stop") {
    request_stop("control socket stop", ExitReason::kStop);
    return {{"ok", true}};
  }
  std::lock_guard lock(machine_mu_);
  if (cmd == "status") return status_json();
  if (machine_ == nullptr) return {{"ok", false}, {"error", "the guest is not running"}};
  if (cmd == "pause") {
    if (!machine_->pause(deadline)) return {{"ok", false}, {"error", "pause timed out"}};
    return {{"ok", true}, {"state", "paused"}};
  }
  if (cmd == "resume") {
    if (!machine_->resume(deadline)) return {{"ok", false}, {"error", "resume timed out"}};
    return {{"ok", true}, {"state", "running"}};
  }
  if (cmd == "reboot") {
    // Like an i8042 reset: this boot ends, run() builds a new Machine (paused or not).
    reboot_requested_ = true;
    machine_->request_end({MachineEnd::Kind::kReset, 0, "control socket reboot"});
    return {{"ok", true}};
  }
  if (cmd == "ctrl_alt_del") {
    // The graceful shutdown request: the guest decides what to do (the probe powers off).
    if (!machine_->send_ctrl_alt_del()) {
      return {{"ok", false},
              {"error", "the i8042 keyboard buffer is full (the guest is not reading it)"}};
    }
    return {{"ok", true}};
  }
  if (cmd == "nic_limits") return set_nic_limits(req);
  if (cmd == "stats") {
    nlohmann::json stats = machine_->stats();
    stats["reboots"] = reboots_.load();
    stats["console_bytes"] = console_->total_output();
    return {{"ok", true}, {"stats", stats}};
  }
  return {{"ok", false}, {"error", "unknown command \"" + cmd + "\""}};
}

}  // namespace flotilla::vmm
