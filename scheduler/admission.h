// Admission control and the host inventory: pure functions over a snapshot of the host and of
// the VMs that hold resources (running, starting, paused, stopping — README.md "Admission").
//
// CPU: a partition VM gets `dedicated_cores` whole host cores no other VM holds, taken from the
// highest-numbered free cores down; `min_shared_cores` (default 1, the lowest-numbered) are
// never dedicated: they run the daemon, host services and every timeshare VM. A timeshare VM may
// have at most as many vCPUs as there are shared cores; any VM at most `max_vcpus`.
// Memory: usable = memory_bytes − host_reserved_bytes. A reserved VM needs its RAM plus
// `vm_overhead_bytes` out of usable − other reservations. Shared VMs together may use up to
// overcommit_ratio × (usable − all reservations).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/result.h"
#include "scheduler/cpu_list.h"
#include "scheduler/error.h"
#include "storage/model.h"

namespace flotilla::scheduler {

inline constexpr double kDefaultOvercommitRatio = 1.5;
inline constexpr uint64_t kDefaultVmOverheadBytes = 32ull << 20;  // monitor + page tables

struct HostResources {
  CpuList cores;                     // host cores Flotilla schedules on (online, in its cpuset)
  uint64_t memory_bytes = 0;         // host RAM (MemTotal)
  uint64_t host_reserved_bytes = 0;  // kept for the OS, the daemon and page cache
  double overcommit_ratio = kDefaultOvercommitRatio;
  uint32_t min_shared_cores = 1;
  uint32_t max_vcpus = 64;  // the API's limit; lower it to KVM_CAP_MAX_VCPUS where smaller
  uint64_t vm_overhead_bytes = kDefaultVmOverheadBytes;
};

// This host: /sys/devices/system/cpu/online ∩ our affinity, /proc/meminfo MemTotal,
// host_reserved = max(512 MiB, MemTotal / 16).
Result<HostResources, SchedError> probe_host_resources();

// One VM as admission sees it.
struct VmDemand {
  std::string id;
  std::string name;
  uint32_t vcpus = 1;
  uint64_t memory_bytes = 0;  // memory_mib << 20
  storage::CpuPolicy cpu;
  storage::MemoryMode memory = storage::MemoryMode::shared;
  CpuList dedicated;  // cores it holds now (partition VMs admitted or adopted earlier)
};
VmDemand demand_from_spec(std::string id, const storage::VmSpec& spec, CpuList dedicated = {});

struct Admission {
  CpuList dedicated;  // partition: the cores it gets (kept from candidate.dedicated if still free)
  CpuList shared;     // the shared cores once it runs (where timeshare VMs go)
};

// `active`: every VM holding resources, without the candidate (for a live PATCH pass the others
// and the candidate with its current `dedicated`, which it keeps when it still fits).
// refused names the resource ("vcpus", "cores", "memory.reserved", "memory.shared"), what the
// candidate needs and what is left.
Result<Admission, SchedError> admit(const HostResources& host, const std::vector<VmDemand>& active,
                                    const VmDemand& candidate);

// The shared cores given the active VMs' dedications.
CpuList shared_cores(const HostResources& host, const std::vector<VmDemand>& active);

// /v1/host "scheduler" inventory.
struct CoreInventory {
  int core = 0;
  std::string dedicated_to;  // VM id, or "" for a shared core
};
struct VmInventory {
  std::string id;
  std::string name;
  uint32_t vcpus = 0;
  storage::CpuPolicy cpu;
  CpuList cores;  // dedicated cores (partition) or the shared cores it runs on
  storage::MemoryMode memory = storage::MemoryMode::shared;
  uint64_t memory_bytes = 0;
};
struct MemoryInventory {
  uint64_t total_bytes = 0;
  uint64_t host_reserved_bytes = 0;
  uint64_t reserved_bytes = 0;            // held by reserved VMs (with overhead)
  uint64_t reserved_available_bytes = 0;  // what one more reserved VM could get
  uint64_t shared_bytes = 0;              // promised to shared VMs (with overhead)
  uint64_t shared_capacity_bytes = 0;     // overcommit_ratio × (usable − reserved)
  uint64_t shared_available_bytes = 0;
  double overcommit_ratio = 0;
};
struct Inventory {
  std::vector<CoreInventory> cores;
  CpuList shared_cores;
  CpuList dedicated_cores;
  uint32_t min_shared_cores = 0;
  MemoryInventory memory;
  std::vector<VmInventory> vms;
};
Inventory inventory(const HostResources& host, const std::vector<VmDemand>& active);

}  // namespace flotilla::scheduler
