// The facts /v1/host reports: hostname, host id, cores, memory, cgroup version, KVM (from the
// VMM's host probe, flotilla_vmm_hostprobe).
#pragma once

#include <string>

#include "api/api.h"

namespace flotilla::daemon {

// Reads the host afresh (cheap: a few syscalls and one open of /dev/kvm).
api::HostInfo collect_host_info(const std::string& host_id);
// 2 for a unified cgroup2 hierarchy at /sys/fs/cgroup, 1 for v1/hybrid, 0 when unknown.
int cgroup_version();

}  // namespace flotilla::daemon
