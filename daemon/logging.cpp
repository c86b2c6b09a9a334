#include "daemon/logging.h"

#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <cstdlib>

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
}

void set_log_level(const std::string& level) {
  spdlog::set_level(spdlog::level::from_str(level));
  spdlog::flush_on(spdlog::level::info);
}

}  // namespace flotilla::daemon
