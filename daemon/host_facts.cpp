#include "daemon/host_facts.h"

#include <linux/magic.h>
#include <sys/statfs.h>
#include <sys/sysinfo.h>
#include <unistd.h>

#include "vmm/kvm/host_probe.h"

namespace flotilla::daemon {

int cgroup_version() {
  struct statfs fs {};
  if (::statfs("/sys/fs/cgroup", &fs) != 0) return 0;
  if (static_cast<unsigned long>(fs.f_type) == CGROUP2_SUPER_MAGIC) return 2;
  if (static_cast<unsigned long>(fs.f_type) == TMPFS_MAGIC) return 1;
  return 0;
}

namespace {

api::KvmInfo kvm_info() {
  const vmm::HostKvmInfo probe = vmm::probe_host_kvm();
  api::KvmInfo k;
  k.available = probe.available;
  k.api_version = probe.api_version;
  k.flavour = probe.flavour.empty() ? "unknown" : probe.flavour;
  k.error = probe.error;
  for (const auto& [name, value] : probe.capabilities) {
    k.capabilities.emplace_back(name, static_cast<int64_t>(value));
  }
  return k;
}

}  // namespace

api::HostInfo collect_host_info(const std::string& host_id) {
  api::HostInfo h;
  char name[256] = {};
  if (::gethostname(name, sizeof name - 1) == 0) h.hostname = name;
  h.host_id = host_id;
  h.cores = ::sysconf(_SC_NPROCESSORS_ONLN);
  struct sysinfo si {};
  if (::sysinfo(&si) == 0) h.memory_bytes = static_cast<int64_t>(si.totalram) * si.mem_unit;
  h.cgroup_version = cgroup_version();
  h.kvm = kvm_info();
  return h;
}

}  // namespace flotilla::daemon
