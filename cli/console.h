// `flotilla console VM`: the interactive console over the API's WebSocket.
//
// stdin → the guest (when the server granted write), guest output → stdout, the server's text
// messages ({"console":"read-only","reason":...}) → a note on stderr.
//   - stdin a TTY: raw mode (restored on exit and on SIGTERM/SIGHUP/SIGQUIT/SIGINT), Ctrl-]
//   detaches.
//   - stdin not a TTY (a pipe or a file): everything is forwarded; at EOF the console keeps
//     printing until the guest is quiet for kDrainQuiet (at most kDrainMax), then detaches.
// Ends with 0 when detached or when the server closed the console, 3 on a broken connection.
// Threads: the caller's (runs the WebSocket) and "console-stdin" (blocking reads of stdin,
// one chunk in flight at a time, so memory stays bounded), joined before returning.
#pragma once

#include <chrono>
#include <cstddef>
#include <iosfwd>
#include <optional>
#include <string>
#include <string_view>

#include "cli/websocket_client.h"

namespace flotilla::cli {

inline constexpr unsigned char kDetachByte = 0x1d;  // Ctrl-]
inline constexpr std::chrono::milliseconds kDrainQuiet{1000};
inline constexpr std::chrono::milliseconds kDrainMax{5000};

struct ConsoleRunOptions {
  std::string subject;     // the VM as the user named it, for messages
  bool read_only = false;  // never send input (the server was also asked for ?mode=read)
  int in_fd = 0;
  int out_fd = 1;
};

// Splits one chunk of terminal input at the detach byte: the bytes to send before it, and
// whether it was present.
struct DetachScan {
  std::string_view forward;
  bool detach = false;
};
DetachScan scan_for_detach(std::string_view chunk);

// The note for a console control message from the server, or nullopt if it is not one.
std::optional<std::string> describe_console_message(std::string_view text);

int run_console(WebSocketClient& ws, const ConsoleRunOptions& options, std::ostream& err);

}  // namespace flotilla::cli
