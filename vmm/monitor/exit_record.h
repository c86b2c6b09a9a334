// ExitRecord: why the monitor process ended, written just before it exits (config `exit_file`,
// flag `--exit-file`) so a supervisor that is not its parent (it re-attached after a restart
// and has no wait status) can tell a clean power-off from a crash. One JSON object:
//   {"exit_code":N,"reason":"poweroff|stop|signal|reset_exit|guest_crash|host_error|
//    invalid_definition","detail":"<one line>","at_ms":<unix ms>}
// Written atomically: PATH.tmp.<pid>, fsync, rename over PATH, fsync of the directory.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "vmm/kvm/error.h"

namespace flotilla::vmm {

enum class ExitReason {
  kPowerOff,           // the guest wrote the exit port (exit_code = the value written)
  kStop,               // control socket `stop`
  kSignal,             // SIGTERM / SIGINT / SIGHUP
  kResetExit,          // a guest reset with on_reset=exit
  kGuestCrash,         // KVM_EXIT_FAIL_ENTRY / INTERNAL_ERROR / an unexpected exit
  kHostError,          // the monitor could not build or run the VM
  kInvalidDefinition,  // refused before any VM existed (exit status 2)
};

const char* exit_reason_name(ExitReason r);

struct ExitRecord {
  int exit_code = 0;
  ExitReason reason = ExitReason::kHostError;
  std::string detail;
};

// The JSON line (detail squashed to one line); at_ms = unix time in milliseconds.
std::string exit_record_json(const ExitRecord& record, int64_t at_ms);
// Writes the record atomically to `path` (see above).
VmmResult<void> write_exit_record(const std::string& path, const ExitRecord& record);
// The exit file named on a command line that did not parse or validate: `--exit-file P`,
// `--exit-file=P`, else `"exit_file"` in the `--config` file if that is readable JSON; "".
std::string find_exit_file(int argc, const char* const* argv);

}  // namespace flotilla::vmm
