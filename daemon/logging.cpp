#include "daemon/logging.h"

#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <pthread.h>

#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <thread>

namespace flotilla::daemon {

namespace {

// %* → the sd-daemon(3) priority of the message's level.
class SyslogPriorityFlag : public spdlog::custom_flag_formatter {
 public:
  void format(const spdlog::details::log_msg& msg, const std::tm&,
              spdlog::memory_buf_t& dest) override {
    char c = '6';
    switch (msg.level) {
      case spdlog::level::trace:
      case spdlog::level::debug:
        c = '7';
        break;
      case spdlog::level::info:
        c = '6';
        break;
      case spdlog::level::warn:
        c = '4';
        break;
      case spdlog::level::err:
        c = '3';
        break;
      case spdlog::level::critical:
        c = '2';
        break;
      default:
        break;
    }
    dest.push_back(c);
  }
  std::unique_ptr<custom_flag_formatter> clone() const override {
    return std::make_unique<SyslogPriorityFlag>();
  }
};

// Info lines (one access line per request) go into stderr's buffer and reach the terminal or
// journald within kFlushInterval, instead of costing a write(2) each; warnings and errors are
// flushed at once. A named thread flushes; it stops (after a last flush) at process exit.
constexpr auto kFlushInterval = std::chrono::milliseconds(100);

class LogFlusher {
 public:
  LogFlusher() : thread_([this] { run(); }) {}
  LogFlusher(const LogFlusher&) = delete;
  LogFlusher& operator=(const LogFlusher&) = delete;
  ~LogFlusher() {
    {
      std::lock_guard lock(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }

 private:
  void run() {
    pthread_setname_np(pthread_self(), "log-flush");
    std::unique_lock lock(mu_);
    while (!stop_) {
      cv_.wait_for(lock, kFlushInterval, [this] { return stop_; });
      if (auto logger = spdlog::default_logger_raw()) logger->flush();
    }
  }

  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;  // GUARDED_BY(mu_)
  std::thread thread_;
};

void start_log_flusher() {
  static char buffer[1 << 16];
  std::setvbuf(stderr, buffer, _IOFBF, sizeof buffer);
  static LogFlusher flusher;  // destroyed before spdlog's registry: constructed after it
}

}  // namespace

bool running_under_systemd() {
  return std::getenv("JOURNAL_STREAM") != nullptr || std::getenv("NOTIFY_SOCKET") != nullptr;
}

void setup_logging(const std::string& level) {
  auto logger = std::make_shared<spdlog::logger>("flotillad",
                                                 std::make_shared<spdlog::sinks::stderr_sink_mt>());
  if (running_under_systemd()) {
    auto f = std::make_unique<spdlog::pattern_formatter>();
    f->add_flag<SyslogPriorityFlag>('*').set_pattern("<%*>%v");
    logger->set_formatter(std::move(f));
  } else {
    logger->set_pattern("%Y-%m-%d %H:%M:%S.%e %^%-5l%$ %v");
  }
  spdlog::set_default_logger(logger);
  set_log_level(level);
  start_log_flusher();
}

void set_log_level(const std::string& level) {
  spdlog::set_level(spdlog::level::from_str(level));
  spdlog::flush_on(spdlog::level::warn);
}

}  // namespace flotilla::daemon
