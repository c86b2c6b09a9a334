// Per-VM cgroups for the monitor processes, on cgroup v2 or the v1 cpu/cpuacct/cpuset
// hierarchies (README.md "Cgroups"). Layout: <hierarchy>/<root_name>/vm-<id>.
//
// v2: cpu.weight (1..10000), cpu.max ("<quota> <period>" | "max <period>"), cpuset.cpus (+mems
//     from the parent), cgroup.procs; usage from cpu.stat usage_usec; controllers enabled in
//     the parents' cgroup.subtree_control.
// v1: cpu.shares (1024 × weight / 100), cpu.cfs_period_us + cpu.cfs_quota_us, cpuset.cpus +
//     cpuset.mems, cgroup.procs (moves every thread); usage from cpuacct.usage (ns).
//
// Not thread-safe: one owner (the daemon's scheduler thread or a test) calls it.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"
#include "scheduler/cpu_list.h"
#include "scheduler/error.h"

namespace flotilla::scheduler {

enum class CgroupVersion { none, v1, v2 };
inline constexpr uint32_t kMaxRootWeight = 25600;
// Pass as the VM id to address <root>/daemon, the daemon's own group (Enforcer::place_daemon).
inline constexpr std::string_view kDaemonGroup = "@daemon";
std::string_view to_string(CgroupVersion v);

// Where the hierarchies are mounted. Empty path = absent.
struct CgroupMounts {
  std::string v2;       // a cgroup2 mount
  std::string cpu;      // v1 hierarchy with the cpu controller
  std::string cpuacct;  // v1 hierarchy with cpuacct (may equal cpu: "cpu,cpuacct")
  std::string cpuset;   // v1 hierarchy with cpuset
};
// Pure: the cgroup mounts listed in /proc/self/mountinfo text.
CgroupMounts parse_mountinfo(std::string_view mountinfo);
// The controllers a v2 directory offers (its cgroup.controllers), e.g. {"cpu","cpuset"}.
std::vector<std::string> v2_controllers(const std::string& dir);
// v2 when a cgroup2 mount offers "cpu", else v1 when a v1 cpu hierarchy exists, else none.
CgroupVersion choose_version(const CgroupMounts& m, const std::vector<std::string>& v2_controllers);

struct CgroupConfig {
  std::string root_name = "flotilla";  // tests use a unique name and remove it
  // Force a version (tests drive the v2 backend on the unified mount or a temp dir tree);
  // nullopt = detect.
  std::optional<CgroupVersion> version;
  std::optional<CgroupMounts> mounts;  // nullopt = from /proc/self/mountinfo
  // Weight of the root group against the host's other tasks and groups, on the v2 scale (100 =
  // one nice-0 task); 0 = leave the kernel's default. v2 clamps it to 10000, v1 (shares =
  // 1024 × weight / 100) to 262144 shares, i.e. 25600. The root's weight is split across CPUs
  // by where its VMs' load is, so a partitioned VM is only as safe from unmanaged host tasks on
  // its dedicated cores as this weight makes the root's share there (README.md "Partition").
  uint32_t root_weight = 0;
  // Unit tests: the mounts are plain directories; control files are created when written.
  bool fake_tree = false;
};

// What a VM's cgroup is set to.
struct CgroupSettings {
  uint64_t weight = 100;     // v2 cpu.weight scale, 1..10000
  uint32_t cap_percent = 0;  // 0 = none
  uint64_t period_us = 100000;
  CpuList cpus;  // empty = every core of the root
  bool operator==(const CgroupSettings&) const = default;
};

// One file write; `hierarchy` is "" for v2, or "cpu" / "cpuset" for v1.
struct CgroupWrite {
  std::string hierarchy;
  std::string file;
  std::string value;
  bool operator==(const CgroupWrite&) const = default;
};
// Pure: the writes that put `s` into a VM's cgroup, in order.
std::vector<CgroupWrite> v2_writes(const CgroupSettings& s);
std::vector<CgroupWrite> v1_writes(const CgroupSettings& s);

struct CgroupUsage {
  uint64_t cpu_ns = 0;        // total CPU time of every task that ran in it
  uint64_t nr_throttled = 0;  // periods the cap throttled it
  uint64_t throttled_ns = 0;
};

class Cgroups {
 public:
  // Detects (or takes) the mounts, creates <root_name> in each hierarchy used, enables the
  // controllers (v2) / copies cpuset.cpus and mems from the parent (v1).
  static Result<std::unique_ptr<Cgroups>, SchedError> open(const CgroupConfig& config);
  virtual ~Cgroups() = default;

  virtual CgroupVersion version() const = 0;
  // The VM's directory in the cpu (v2: only) hierarchy.
  virtual std::string vm_path(std::string_view vm_id) const = 0;
  // mkdir (idempotent) and apply.
  virtual Result<void, SchedError> configure(std::string_view vm_id, const CgroupSettings& s) = 0;
  // Moves a whole process (every thread, present and future) into the VM's cgroup.
  virtual Result<void, SchedError> attach(std::string_view vm_id, pid_t pid) = 0;
  virtual Result<std::vector<pid_t>, SchedError> procs(std::string_view vm_id) const = 0;
  virtual Result<CgroupUsage, SchedError> usage(std::string_view vm_id) const = 0;
  // What the cgroup is set to now (adoption after a daemon restart).
  virtual Result<CgroupSettings, SchedError> read_settings(std::string_view vm_id) const = 0;
  // VM ids that have a cgroup under the root.
  virtual Result<std::vector<std::string>, SchedError> list_vms() const = 0;
  // Moves any process left to the hierarchy's top, then removes the VM's directories.
  virtual Result<void, SchedError> remove(std::string_view vm_id) = 0;
  // Removes the (empty) root directories; for tests and uninstall.
  virtual Result<void, SchedError> remove_root() = 0;
  // The root's cpuset (all cores Flotilla may use).
  virtual Result<CpuList, SchedError> root_cpus() const = 0;
};

}  // namespace flotilla::scheduler
