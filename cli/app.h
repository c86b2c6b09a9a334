// The flotilla command line: argv → Invocation (parse_args, pure apart from reading
// --from-json) → one REST exchange → text or JSON (execute). main() is run().
#pragma once

#include <iosfwd>
#include <string>

#include "cli/connection.h"
#include "cli/http_client.h"
#include "common/result.h"

namespace flotilla::cli {

inline constexpr int kExitOk = 0;
inline constexpr int kExitApiError = 1;    // the API answered with an error status
inline constexpr int kExitUsage = 2;       // bad arguments or unreadable local input
inline constexpr int kExitConnection = 3;  // cannot reach or talk to the daemon

enum class Command {
  kVmList,
  kVmShow,
  kVmCreate,
  kVmDelete,
  kHost,
  kTokenCreate,
  kTokenList,
  kTokenRevoke,
  kVmAction,  // start, stop, force-stop, pause, resume, reboot (Invocation::action)
  kVmStats,
  kConsole,      // interactive, over the WebSocket
  kConsoleTail,  // --tail: the REST tail, printed raw
  kPoolCreate,
  kPoolList,
  kPoolShow,
  kPoolDelete,
  kDiskCreate,
  kDiskList,
  kDiskShow,
  kDiskResize,
  kDiskDelete,
  kDiskImport,  // an operation, waited for like a lifecycle action (progress bar on a TTY)
  kVmDiskAttach,
  kVmDiskDetach,
  kNetworkCreate,
  kNetworkList,
  kNetworkShow,
  kNetworkDelete,
  kVmNic,     // nic attach, detach, limits: the VM comes back
  kVmPolicy,  // vm policy: the VM comes back
};

struct Invocation {
  ConnectionArgs connection;
  Command command = Command::kVmList;
  HttpRequest request;
  bool json = false;
  std::string subject;  // the NAME|ID the command acts on, for messages
  std::string action;   // kVmAction: "start", "stop", "force-stop", ...
  bool wait = true;     // kVmAction: poll the operation to its end (--no-wait: false)
  // kVmAction: how long to wait for the operation (--timeout; for stop at least its
  // --timeout-seconds plus kStopWaitSlack).
  std::chrono::milliseconds wait_timeout{30000};
  bool read_only = false;  // kConsole: --read-only
};

inline constexpr std::chrono::seconds kStopWaitSlack{10};

// Help and --version print to `out` and yield kExitOk as the error; usage errors print to `err`
// and yield kExitUsage. `in` is read for "--from-json -".
Result<Invocation, int> parse_args(int argc, const char* const* argv, std::istream& in,
                                   std::ostream& out, std::ostream& err);

// Sends the request and prints the outcome; returns the process exit code.
int execute(const Invocation& invocation, std::ostream& out, std::ostream& err);

int run(int argc, const char* const* argv);

}  // namespace flotilla::cli
