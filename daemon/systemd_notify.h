// sd_notify wrappers (libsystemd). All are no-ops when NOTIFY_SOCKET is unset.
#pragma once

#include <chrono>
#include <optional>

namespace flotilla::daemon {

void notify_ready();
void notify_stopping();
void notify_reloading();
void notify_watchdog();
// Half of WATCHDOG_USEC when the service manager expects pings, else nullopt.
std::optional<std::chrono::microseconds> watchdog_interval();

}  // namespace flotilla::daemon
