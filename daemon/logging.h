// spdlog set-up: human lines on stderr for a developer run; under systemd (JOURNAL_STREAM or
// NOTIFY_SOCKET set) "<N>" syslog-priority prefixes that journald turns into log levels.
#pragma once

#include <string>

namespace flotilla::daemon {

bool running_under_systemd();
void setup_logging(const std::string& level);
void set_log_level(const std::string& level);

}  // namespace flotilla::daemon
