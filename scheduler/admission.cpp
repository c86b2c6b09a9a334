#include "scheduler/admission.h"

#include <sched.h>

#include <algorithm>
#include <fstream>
#include <sstream>

namespace flotilla::scheduler {

namespace {

constexpr uint64_t kMiB = 1ull << 20;

std::string mib(uint64_t bytes) {
  return std::to_string(bytes / kMiB) + " MiB";
}

std::string cores_text(size_t n, const CpuList& which) {
  std::string s = std::to_string(n) + (n == 1 ? " core" : " cores");
  if (!which.empty()) s += " (" + format_cpu_list(which) + ")";
  return s;
}

Unexpected<SchedError> refuse(std::string resource, std::string needed, std::string available,
                              const std::string& what) {
  SchedError e =
      sched_error(SchedErrc::refused, what + ": needs " + needed + ", " + available + " left");
  e.resource = std::move(resource);
  e.needed = std::move(needed);
  e.available = std::move(available);
  return fail(std::move(e));
}

uint64_t usable(const HostResources& h) {
  return h.memory_bytes > h.host_reserved_bytes ? h.memory_bytes - h.host_reserved_bytes : 0;
}

uint64_t footprint(const HostResources& h, const VmDemand& v) {
  return v.memory_bytes + h.vm_overhead_bytes;
}

struct MemoryUse {
  uint64_t reserved = 0;
  uint64_t shared = 0;
};
MemoryUse memory_use(const HostResources& h, const std::vector<VmDemand>& active) {
  MemoryUse u;
  for (const auto& v : active) {
    (v.memory == storage::MemoryMode::reserved ? u.reserved : u.shared) += footprint(h, v);
  }
  return u;
}

uint64_t shared_capacity(const HostResources& h, uint64_t reserved) {
  const uint64_t base = usable(h) > reserved ? usable(h) - reserved : 0;
  return static_cast<uint64_t>(static_cast<double>(base) * h.overcommit_ratio);
}

CpuList held_cores(const std::vector<VmDemand>& active) {
  CpuList held;
  for (const auto& v : active) {
    if (v.cpu.mode == storage::CpuMode::partition) {
      held.insert(held.end(), v.dedicated.begin(), v.dedicated.end());
    }
  }
  std::sort(held.begin(), held.end());
  held.erase(std::unique(held.begin(), held.end()), held.end());
  return held;
}

// Cores that may ever be dedicated: all but the lowest min_shared_cores.
CpuList dedicable(const HostResources& h) {
  const size_t keep = std::min<size_t>(h.min_shared_cores, h.cores.size());
  return CpuList(h.cores.begin() + static_cast<std::ptrdiff_t>(keep), h.cores.end());
}

}  // namespace

Result<HostResources, SchedError> probe_host_resources() {
  HostResources h;
  std::ifstream online("/sys/devices/system/cpu/online");
  std::string text((std::istreambuf_iterator<char>(online)), std::istreambuf_iterator<char>());
  auto cpus = parse_cpu_list(text);
  if (!cpus || cpus->empty()) {
    return fail(sched_error(SchedErrc::proc_io, "cannot read /sys/devices/system/cpu/online"));
  }
  cpu_set_t mask;
  CPU_ZERO(&mask);
  if (::sched_getaffinity(0, sizeof(mask), &mask) == 0) {
    for (int c : *cpus) {
      if (CPU_ISSET(c, &mask)) h.cores.push_back(c);
    }
  } else {
    h.cores = *cpus;
  }
  std::ifstream meminfo("/proc/meminfo");
  std::string key;
  uint64_t kib = 0;
  while (meminfo >> key >> kib) {
    if (key == "MemTotal:") {
      h.memory_bytes = kib * 1024;
      break;
    }
    meminfo.ignore(1 << 10, '\n');
  }
  if (h.memory_bytes == 0)
    return fail(sched_error(SchedErrc::proc_io, "no MemTotal in /proc/meminfo"));
  h.host_reserved_bytes = std::max<uint64_t>(512 * kMiB, h.memory_bytes / 16);
  return h;
}

VmDemand demand_from_spec(std::string id, const storage::VmSpec& spec, CpuList dedicated) {
  VmDemand d;
  d.id = std::move(id);
  d.name = spec.name;
  d.vcpus = spec.vcpus;
  d.memory_bytes = spec.memory_mib * kMiB;
  d.cpu = spec.cpu;
  d.memory = spec.memory.mode;
  d.dedicated = std::move(dedicated);
  return d;
}

CpuList shared_cores(const HostResources& host, const std::vector<VmDemand>& active) {
  return cpu_list_minus(host.cores, held_cores(active));
}

Result<Admission, SchedError> admit(const HostResources& host, const std::vector<VmDemand>& active,
                                    const VmDemand& c) {
  const std::string who = "VM " + (c.name.empty() ? c.id : c.name);
  if (c.vcpus > host.max_vcpus) {
    return refuse("vcpus", std::to_string(c.vcpus) + " vCPUs",
                  std::to_string(host.max_vcpus) + " vCPUs per VM", who);
  }
  Admission a;
  const CpuList held = held_cores(active);
  CpuList shared = cpu_list_minus(host.cores, held);
  if (c.cpu.mode == storage::CpuMode::partition) {
    const CpuList free = cpu_list_minus(dedicable(host), held);
    const size_t want = c.cpu.dedicated_cores;
    // Keep the cores it already holds (live PATCH, adoption) when they are still free.
    CpuList keep;
    for (int core : c.dedicated) {
      if (std::binary_search(free.begin(), free.end(), core) && keep.size() < want) {
        keep.push_back(core);
      }
    }
    if (free.size() < want) {
      return refuse("cores", cores_text(want, {}) + " to dedicate",
                    cores_text(free.size(), free) + " free to dedicate (" +
                        std::to_string(host.min_shared_cores) + " always shared)",
                    who);
    }
    a.dedicated = keep;
    for (auto it = free.rbegin(); it != free.rend() && a.dedicated.size() < want; ++it) {
      if (!std::binary_search(keep.begin(), keep.end(), *it)) a.dedicated.push_back(*it);
    }
    std::sort(a.dedicated.begin(), a.dedicated.end());
    shared = cpu_list_minus(shared, a.dedicated);
  } else if (c.vcpus > shared.size()) {
    return refuse("vcpus", std::to_string(c.vcpus) + " vCPUs on shared cores",
                  cores_text(shared.size(), shared) + " shared", who);
  }
  // A new dedication shrinks the shared cores under the timeshare VMs already running.
  for (const auto& v : active) {
    if (v.cpu.mode == storage::CpuMode::timeshare && v.vcpus > shared.size()) {
      return refuse("cores", cores_text(a.dedicated.size(), {}) + " to dedicate",
                    cores_text(shared.size(), shared) + " shared, fewer than the " +
                        std::to_string(v.vcpus) + " vCPUs of VM " +
                        (v.name.empty() ? v.id : v.name),
                    who);
    }
  }
  a.shared = shared;

  const MemoryUse use = memory_use(host, active);
  const uint64_t need = footprint(host, c);
  if (c.memory == storage::MemoryMode::reserved) {
    const uint64_t left = usable(host) > use.reserved ? usable(host) - use.reserved : 0;
    if (need > left) return refuse("memory.reserved", mib(need) + " reserved", mib(left), who);
    // Reserving shrinks the shared pool under the shared VMs already promised memory.
    const uint64_t cap_after = shared_capacity(host, use.reserved + need);
    if (use.shared > cap_after) {
      return refuse("memory.reserved", mib(need) + " reserved",
                    mib(left) + " unreserved, but shared VMs hold " + mib(use.shared) + " of the " +
                        mib(cap_after) + " the overcommit ratio would then allow",
                    who);
    }
  } else {
    const uint64_t cap = shared_capacity(host, use.reserved);
    const uint64_t left = cap > use.shared ? cap - use.shared : 0;
    if (need > left) {
      return refuse("memory.shared", mib(need) + " shared",
                    mib(left) + " (overcommit " +
                        std::to_string(host.overcommit_ratio).substr(0, 4) + "× of " +
                        mib(usable(host) > use.reserved ? usable(host) - use.reserved : 0) +
                        " unreserved)",
                    who);
    }
  }
  return a;
}

Inventory inventory(const HostResources& host, const std::vector<VmDemand>& active) {
  Inventory inv;
  inv.min_shared_cores = host.min_shared_cores;
  inv.dedicated_cores = held_cores(active);
  inv.shared_cores = cpu_list_minus(host.cores, inv.dedicated_cores);
  for (int core : host.cores) {
    CoreInventory ci{core, ""};
    for (const auto& v : active) {
      if (v.cpu.mode == storage::CpuMode::partition &&
          std::find(v.dedicated.begin(), v.dedicated.end(), core) != v.dedicated.end()) {
        ci.dedicated_to = v.id;
      }
    }
    inv.cores.push_back(ci);
  }
  const MemoryUse use = memory_use(host, active);
  auto& m = inv.memory;
  m.total_bytes = host.memory_bytes;
  m.host_reserved_bytes = host.host_reserved_bytes;
  m.reserved_bytes = use.reserved;
  m.reserved_available_bytes = usable(host) > use.reserved ? usable(host) - use.reserved : 0;
  m.shared_bytes = use.shared;
  m.shared_capacity_bytes = shared_capacity(host, use.reserved);
  m.shared_available_bytes =
      m.shared_capacity_bytes > use.shared ? m.shared_capacity_bytes - use.shared : 0;
  m.overcommit_ratio = host.overcommit_ratio;
  for (const auto& v : active) {
    VmInventory vi{v.id, v.name, v.vcpus, v.cpu, {}, v.memory, footprint(host, v)};
    vi.cores = v.cpu.mode == storage::CpuMode::partition ? v.dedicated : inv.shared_cores;
    inv.vms.push_back(std::move(vi));
  }
  return inv;
}

}  // namespace flotilla::scheduler
