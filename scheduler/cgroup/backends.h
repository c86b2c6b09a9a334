// The two Cgroups implementations (cgroup_v1.cpp, cgroup_v2.cpp); Cgroups::open picks one.
#pragma once

#include <memory>

#include "scheduler/cgroup.h"

namespace flotilla::scheduler::internal {

Result<std::unique_ptr<Cgroups>, SchedError> open_v1(const CgroupMounts& m,
                                                     const CgroupConfig& config);
// `fake_tree`: the mount is a plain directory (unit tests): control files are created on write.
Result<std::unique_ptr<Cgroups>, SchedError> open_v2(const std::string& mount,
                                                     const CgroupConfig& config);

// "vm-<id>", or "daemon" for kDaemonGroup (the daemon's own group, never listed as a VM).
inline std::string vm_dir_name(std::string_view vm_id) {
  return vm_id == kDaemonGroup ? std::string("daemon") : "vm-" + std::string(vm_id);
}
inline constexpr std::string_view kVmPrefix = "vm-";

}  // namespace flotilla::scheduler::internal
