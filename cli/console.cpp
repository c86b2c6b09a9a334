// run_console: the WebSocket loop on the calling thread, stdin on "console-stdin".
#include "cli/console.h"

#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <termios.h>
#include <unistd.h>

#include <fcntl.h>

#include <cerrno>
#include <condition_variable>
#include <mutex>
#include <nlohmann/json.hpp>
#include <ostream>
#include <thread>

#include "common/unique_fd.h"

namespace flotilla::cli {
namespace {

using Clock = std::chrono::steady_clock;

// The terminal state to restore; written before the handlers are installed, read by them.
struct termios g_saved_termios {};
volatile sig_atomic_t g_raw_fd = -1;

void restore_and_reraise(int sig) {
  if (g_raw_fd >= 0) ::tcsetattr(g_raw_fd, TCSANOW, &g_saved_termios);
  ::signal(sig, SIG_DFL);
  ::raise(sig);
}

constexpr int kRestoreSignals[] = {SIGTERM, SIGHUP, SIGQUIT, SIGINT};

// Raw mode on a TTY for the lifetime of the object; signals restore it too.
class RawTerminal {
 public:
  explicit RawTerminal(int fd) {
    if (::tcgetattr(fd, &g_saved_termios) != 0) return;
    struct termios raw = g_saved_termios;
    ::cfmakeraw(&raw);
    struct sigaction sa {};
    sa.sa_handler = restore_and_reraise;
    sigemptyset(&sa.sa_mask);
    for (size_t i = 0; i < std::size(kRestoreSignals); ++i) {
      ::sigaction(kRestoreSignals[i], &sa, &old_[i]);
    }
    g_raw_fd = fd;
    if (::tcsetattr(fd, TCSANOW, &raw) != 0) {
      g_raw_fd = -1;
      return;
    }
    fd_ = fd;
  }
  ~RawTerminal() {
    if (fd_ < 0) return;
    ::tcsetattr(fd_, TCSANOW, &g_saved_termios);
    g_raw_fd = -1;
    for (int i = 0; i < static_cast<int>(std::size(kRestoreSignals)); ++i) {
      ::sigaction(kRestoreSignals[i], &old_[i], nullptr);
    }
  }
  RawTerminal(const RawTerminal&) = delete;
  RawTerminal& operator=(const RawTerminal&) = delete;
  bool active() const { return fd_ >= 0; }

 private:
  int fd_ = -1;
  struct sigaction old_[std::size(kRestoreSignals)]{};
};

bool write_all(int fd, std::string_view data) {
  while (!data.empty()) {
    const ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    data.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

// Reads stdin on its own thread and hands each chunk to the WebSocket thread, waiting until it
// has been dealt with before reading more. An empty chunk with eof=true ends the input.
class StdinPump {
 public:
  using Sink = std::function<void(std::string chunk, bool eof)>;

  StdinPump(int fd, WebSocketClient& ws, Sink sink) : fd_(fd), ws_(ws), sink_(std::move(sink)) {
    int p[2];
    if (::pipe2(p, O_CLOEXEC) == 0) {
      wake_r_ = UniqueFd(p[0]);
      wake_w_ = UniqueFd(p[1]);
    }
    thread_ = std::thread([this] { loop(); });
  }
  ~StdinPump() {
    {
      std::lock_guard lock(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    const char one = 1;
    (void)!::write(wake_w_.get(), &one, 1);
    thread_.join();
  }
  // Called on the WebSocket thread when a chunk has been sent (or dropped).
  void done() {
    {
      std::lock_guard lock(mu_);
      busy_ = false;
    }
    cv_.notify_all();
  }

 private:
  void loop() {
    pthread_setname_np(pthread_self(), "console-stdin");
    char buf[4096];
    for (;;) {
      pollfd fds[2] = {{fd_, POLLIN, 0}, {wake_r_.get(), POLLIN, 0}};
      if (::poll(fds, 2, -1) < 0) {
        if (errno == EINTR) continue;
        break;
      }
      if (fds[1].revents != 0) break;
      const ssize_t n = ::read(fd_, buf, sizeof buf);
      if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
      const bool eof = n <= 0;
      std::string chunk = eof ? std::string() : std::string(buf, static_cast<size_t>(n));
      {
        std::lock_guard lock(mu_);
        if (stop_) break;
        busy_ = true;
      }
      ws_.post([this, chunk = std::move(chunk), eof]() mutable { sink_(std::move(chunk), eof); });
      std::unique_lock lock(mu_);
      cv_.wait(lock, [this] { return !busy_ || stop_; });
      if (stop_ || eof) break;
    }
  }

  int fd_;
  WebSocketClient& ws_;
  Sink sink_;
  UniqueFd wake_r_, wake_w_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool busy_ = false;  // GUARDED_BY(mu_)
  bool stop_ = false;  // GUARDED_BY(mu_)
  std::thread thread_;
};

class ConsoleLoop {
 public:
  ConsoleLoop(WebSocketClient& ws, const ConsoleRunOptions& options, std::ostream& err, bool tty)
      : ws_(ws), options_(options), err_(err), tty_(tty) {}

  int run() {
    read_next();
    StdinPump pump(options_.in_fd, ws_,
                   [this](std::string chunk, bool eof) { on_input(std::move(chunk), eof); });
    pump_ = &pump;
    ws_.run();
    pump_ = nullptr;
    return exit_code_;
  }

 private:
  void note(const std::string& text) {
    err_ << "flotilla: " << text << (tty_ ? "\r\n" : "\n") << std::flush;
  }

  void read_next() {
    ws_.async_read([this](Result<WsMessage, HttpError> r) {
      if (!r) {
        if (closing_) return;  // we detached: the close handshake ended the read
        if (r.error().code == HttpErrorCode::kClosed) {
          const std::string reason = ws_.close_reason();
          note("console closed by the server" + (reason.empty() ? "" : ": " + reason));
        } else {
          note("connection lost: " + r.error().message);
          exit_code_ = 3;
        }
        closing_ = true;
        return ws_.stop();
      }
      if (r->text) {
        if (auto n = describe_console_message(r->data)) {
          may_write_ = r->data.find("read-write") != std::string::npos;
          note(*n);
          if (!hello_seen_) {
            hello_seen_ = true;
            if (held_) {
              auto [chunk, eof] = std::move(*held_);
              held_.reset();
              on_input(std::move(chunk), eof);
            }
          }
        }
      } else {
        last_output_ = Clock::now();
        if (!write_all(options_.out_fd, r->data)) {
          note("cannot write the console output; detaching");
          exit_code_ = 3;
          return detach();
        }
      }
      read_next();
    });
  }

  void on_input(std::string chunk, bool eof) {
    if (closing_) return pump_done();
    if (!hello_seen_) {  // whether we may write is not known yet: hold the chunk (and stdin)
      held_.emplace(std::move(chunk), eof);
      return;
    }
    if (eof) {
      eof_at_ = Clock::now();
      last_output_ = std::max(last_output_, eof_at_);
      drain_check();
      return pump_done();
    }
    std::string_view forward = chunk;
    bool detach_now = false;
    if (tty_) {
      const DetachScan scan = scan_for_detach(chunk);
      forward = scan.forward;
      detach_now = scan.detach;
    }
    if (forward.empty() || options_.read_only || !may_write_) {
      if (detach_now) detach();
      return pump_done();
    }
    ws_.async_write(std::string(forward), false, [this, detach_now](Result<void, HttpError> r) {
      if (!r && !closing_) {
        note("connection lost: " + r.error().message);
        exit_code_ = 3;
        closing_ = true;
        ws_.stop();
      } else if (detach_now) {
        detach();
      }
      pump_done();
    });
  }

  void pump_done() {
    if (pump_ != nullptr) pump_->done();
  }

  // After stdin's EOF: detach once the guest has been quiet for a while.
  void drain_check() {
    const auto now = Clock::now();
    if (closing_) return;
    if (now - last_output_ >= kDrainQuiet || now - eof_at_ >= kDrainMax) return detach();
    ws_.after(std::chrono::milliseconds(100), [this] { drain_check(); });
  }

  void detach() {
    if (closing_) return;
    closing_ = true;
    ws_.async_close([this] { ws_.stop(); });
  }

  WebSocketClient& ws_;
  const ConsoleRunOptions& options_;
  std::ostream& err_;
  bool tty_;
  StdinPump* pump_ = nullptr;
  bool may_write_ = false;
  bool hello_seen_ = false;
  std::optional<std::pair<std::string, bool>> held_;
  bool closing_ = false;
  int exit_code_ = 0;
  Clock::time_point last_output_{};
  Clock::time_point eof_at_{};
};

}  // namespace

DetachScan scan_for_detach(std::string_view chunk) {
  const size_t at = chunk.find(static_cast<char>(kDetachByte));
  if (at == std::string_view::npos) return {chunk, false};
  return {chunk.substr(0, at), true};
}

std::optional<std::string> describe_console_message(std::string_view text) {
  auto j = nlohmann::json::parse(text, nullptr, false);
  if (!j.is_object() || !j.contains("console") || !j["console"].is_string()) return std::nullopt;
  const std::string mode = j["console"];
  if (mode == "read-write") return std::string("read-write: your input goes to the guest");
  std::string out = mode;
  if (mode == "read-only") out = "read-only: your input is not sent";
  if (j.contains("reason") && j["reason"].is_string()) {
    out += " (" + j["reason"].get<std::string>() + ")";
  }
  return out;
}

int run_console(WebSocketClient& ws, const ConsoleRunOptions& options, std::ostream& err) {
  struct sigaction ignore {
  }, old_pipe{};
  ignore.sa_handler = SIG_IGN;
  ::sigaction(SIGPIPE, &ignore, &old_pipe);
  const bool tty = ::isatty(options.in_fd) == 1;
  int code = 0;
  {
    std::optional<RawTerminal> raw;
    if (tty) raw.emplace(options.in_fd);
    const bool raw_on = raw && raw->active();
    err << "flotilla: attached to the console of " << options.subject
        << (options.read_only ? " (read-only)" : "")
        << (raw_on ? "; press Ctrl-] to detach\r\n" : "; end of input detaches\n") << std::flush;
    ConsoleLoop loop(ws, options, err, raw_on);
    code = loop.run();
  }
  ::sigaction(SIGPIPE, &old_pipe, nullptr);
  err << "flotilla: detached from " << options.subject << "\n" << std::flush;
  return code;
}

}  // namespace flotilla::cli
