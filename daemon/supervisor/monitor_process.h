// One flotilla-vmm process as the supervisor sees it: where its files live, how it is started
// (its own session, so it outlives flotillad), how it is recognised again after a daemon restart
// (pid plus the kernel's start time, so a reused pid is never mistaken for it) and how its end
// is told (pidfd; the exit status when it is our child, else the exit record it wrote).
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/result.h"
#include "common/unique_fd.h"
#include "storage/model.h"

namespace flotilla::daemon::supervisor {

// Files of one VM: DIR/vms/<id>/{vm.json,console.log,monitor.log,monitor.json,exit.json} and
// the control socket DIR/run/vm-<id>.sock.
struct MonitorPaths {
  std::string dir;
  std::string config;          // the definition the monitor runs (written before each start)
  std::string console_log;     // guest console output, appended across runs
  std::string monitor_log;     // the monitor's log (stderr)
  std::string runtime;         // MonitorIdentity of the running monitor (removed when it ends)
  std::string exit_record;     // written by the monitor as it exits (vmm/README.md)
  std::string control_socket;  // Unix socket (vmm/README.md, "Control socket protocol")
};
MonitorPaths monitor_paths(const std::string& state_dir, const std::string& vm_id);

struct MonitorIdentity {
  pid_t pid = 0;
  uint64_t start_ticks = 0;  // /proc/<pid>/stat field 22 (clock ticks after boot)
};

// The kernel's start time of `pid`, or nullopt when there is no such process (or a zombie).
std::optional<uint64_t> process_start_ticks(pid_t pid);
// True when `id` still names the same live process.
bool is_alive(const MonitorIdentity& id);

// One disk as the monitor opens it (STORAGE.md, "Monitor config: disks").
struct MonitorDisk {
  std::string path;  // image file, or a partitioned pool's device
  std::string format = "raw";
  bool read_only = false;
  std::string serial;                        // at most 20 bytes (VIRTIO_BLK_T_GET_ID)
  std::vector<storage::DiskExtent> extents;  // partitioned-pool disks only
};

// One NIC as the monitor opens it (team/NETWORK.md): a TAP flotillad made and bridged.
struct MonitorNic {
  std::string tap;
  std::string mac;
  storage::NicLimits limits;
};

// Everything the monitor gets beyond the VM's record: its devices, and words appended to the
// guest's command line (the NICs' addresses).
struct MonitorDevices {
  std::vector<MonitorDisk> disks;
  std::vector<MonitorNic> nics;
  std::string extra_cmdline;
};

// The monitor's JSON definition for a VM (the keys of vmm/monitor/config.h); `disks` and
// `nics` only when there are any.
std::string monitor_config_json(const storage::VmRecord& vm, const MonitorPaths& paths,
                                bool with_exit_record, const MonitorDevices& devices = {});
// The `nic_limits` control request for NIC `index` (vmm/README.md).
nlohmann::json nic_limits_request(size_t index, const storage::NicLimits& limits);

// Writes the config, then spawns `vmm_binary --config <config>` in a new session with stdin
// and stdout /dev/null (the console is in console_log), stderr appended to monitor.log, no
// inherited fds past 2, default signal dispositions; records the identity in the runtime file.
Result<MonitorIdentity, SimpleError> spawn_monitor(const std::string& vmm_binary,
                                                   const storage::VmRecord& vm,
                                                   const MonitorPaths& paths, bool with_exit_record,
                                                   const MonitorDevices& devices = {});

Result<UniqueFd, SimpleError> open_pidfd(pid_t pid);
// Sends `sig` through the pidfd (never to a recycled pid).
bool signal_pidfd(int pidfd, int sig);

Result<void, SimpleError> write_runtime(const std::string& path, const MonitorIdentity& id);
std::optional<MonitorIdentity> read_runtime(const std::string& path);

// How a monitor ended, in words a user reads in state_reason.
struct MonitorExit {
  bool known = false;  // an exit status or an exit record was available
  bool clean = false;  // exit status 0 (guest power-off, stop request, SIGTERM)
  int exit_code = -1;  // -1 when killed by a signal or unknown
  int signal = 0;      // the signal that killed it, 0 if none
  std::string reason;  // "exited with status 1", "killed by signal 9 (SIGKILL)", ...
};
// Reaps our child through its pidfd (non-blocking), or, for a monitor we re-attached to, reads
// the exit record it left. Falls back to "vanished" when neither is available.
MonitorExit collect_exit(int pidfd, bool our_child, const MonitorPaths& paths);

// The last `lines` non-empty lines of a text file (reads at most its last 8 KiB).
std::string last_lines(const std::string& path, int lines);
// The last `bytes` bytes of a file.
std::string file_tail(const std::string& path, size_t bytes);

}  // namespace flotilla::daemon::supervisor
