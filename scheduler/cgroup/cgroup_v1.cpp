// cgroup v1 backend: the cpu, cpuacct (possibly the same mount) and cpuset hierarchies, each
// with <mount>/<root>/vm-<id>.
#include <unistd.h>

#include <sstream>

#include "scheduler/cgroup/backends.h"
#include "scheduler/internal/fs.h"
#include "scheduler/policy.h"

namespace flotilla::scheduler::internal {

namespace {

class CgroupsV1 final : public Cgroups {
 public:
  CgroupsV1(const CgroupMounts& m, const CgroupConfig& c) : m_(m), root_name_(c.root_name) {
    if (m_.cpuacct == m_.cpu) m_.cpuacct.clear();  // "cpu,cpuacct": one directory for both
  }

  Result<void, SchedError> init(const CgroupConfig& c) {
    for (const std::string* mount : mounts()) {
      if (auto r = make_dir(*mount + "/" + root_name_); !r) return r;
    }
    if (!m_.cpuset.empty()) {
      // A v1 cpuset takes tasks only once cpus and mems are set: copy the parent's.
      const std::string root = m_.cpuset + "/" + root_name_;
      for (const char* f : {"cpuset.cpus", "cpuset.mems"}) {
        auto cur = read_text(root + "/" + f);
        if (cur && cur->find_first_not_of(" \n") != std::string::npos) continue;
        auto parent = read_text(m_.cpuset + "/" + f);
        if (!parent) return fail(parent.error());
        if (auto r = write_text(root + "/" + f, trim(*parent)); !r) return r;
      }
    }
    if (c.root_weight != 0) {
      if (auto r = write_text(m_.cpu + "/" + root_name_ + "/cpu.shares",
                              std::to_string(v1_shares(c.root_weight)));
          !r) {
        return r;
      }
    }
    return {};
  }

  CgroupVersion version() const override { return CgroupVersion::v1; }
  std::string vm_path(std::string_view id) const override { return dir(m_.cpu, id); }

  Result<void, SchedError> configure(std::string_view id, const CgroupSettings& s) override {
    for (const std::string* mount : mounts()) {
      if (auto r = make_dir(dir(*mount, id)); !r) return r;
    }
    if (!m_.cpuset.empty()) {
      auto mems = read_text(m_.cpuset + "/" + root_name_ + "/cpuset.mems");
      if (!mems) return fail(mems.error());
      if (auto r = write_text(dir(m_.cpuset, id) + "/cpuset.mems", trim(*mems)); !r) return r;
      if (s.cpus.empty()) {
        // Every core of the root.
        auto cpus = read_text(m_.cpuset + "/" + root_name_ + "/cpuset.cpus");
        if (!cpus) return fail(cpus.error());
        if (auto r = write_text(dir(m_.cpuset, id) + "/cpuset.cpus", trim(*cpus)); !r) return r;
      }
    }
    for (const auto& w : v1_writes(s)) {
      if (w.hierarchy == "cpuset" && m_.cpuset.empty()) {
        return fail(sched_error(SchedErrc::no_cgroups,
                                "no v1 cpuset hierarchy for cpuset.cpus " + w.value));
      }
      const std::string& mount = w.hierarchy == "cpuset" ? m_.cpuset : m_.cpu;
      if (auto r = write_text(dir(mount, id) + "/" + w.file, w.value); !r) return r;
    }
    return {};
  }

  Result<void, SchedError> attach(std::string_view id, pid_t pid) override {
    // cpuset first: attaching there resets the threads' affinity to the VM's cpus.
    for (const std::string* mount : {&m_.cpuset, &m_.cpu, &m_.cpuacct}) {
      if (mount->empty()) continue;
      if (auto r = write_text(dir(*mount, id) + "/cgroup.procs", std::to_string(pid)); !r) {
        return r;
      }
    }
    return {};
  }

  Result<std::vector<pid_t>, SchedError> procs(std::string_view id) const override {
    auto text = read_text(dir(m_.cpu, id) + "/cgroup.procs");
    if (!text) return fail(text.error());
    std::vector<pid_t> out;
    std::istringstream in(*text);
    for (long p; in >> p;) out.push_back(static_cast<pid_t>(p));
    return out;
  }

  Result<CgroupUsage, SchedError> usage(std::string_view id) const override {
    CgroupUsage u;
    const std::string& acct = m_.cpuacct.empty() ? m_.cpu : m_.cpuacct;
    auto ns = read_text(dir(acct, id) + "/cpuacct.usage");
    if (!ns) return fail(ns.error());
    u.cpu_ns = std::stoull(*ns);
    if (auto st = read_text(dir(m_.cpu, id) + "/cpu.stat")) {
      find_key(*st, "nr_throttled", u.nr_throttled);
      find_key(*st, "throttled_time", u.throttled_ns);
    }
    return u;
  }

  Result<CgroupSettings, SchedError> read_settings(std::string_view id) const override {
    const std::string cpu = dir(m_.cpu, id);
    if (!exists(cpu)) return fail(sched_error(SchedErrc::not_found, "no cgroup " + cpu));
    CgroupSettings s;
    if (auto sh = read_text(cpu + "/cpu.shares")) s.weight = (std::stoull(*sh) * 100 + 512) / 1024;
    auto period = read_text(cpu + "/cpu.cfs_period_us");
    auto quota = read_text(cpu + "/cpu.cfs_quota_us");
    if (period && quota) {
      s.period_us = std::stoull(*period);
      const long long q = std::stoll(*quota);
      if (q > 0 && s.period_us > 0) {
        s.cap_percent =
            static_cast<uint32_t>((static_cast<uint64_t>(q) * 100 + s.period_us / 2) / s.period_us);
      }
    }
    if (!m_.cpuset.empty()) {
      if (auto c = read_text(dir(m_.cpuset, id) + "/cpuset.cpus")) {
        auto l = parse_cpu_list(*c);
        if (l) s.cpus = *l;
      }
    }
    return s;
  }

  Result<std::vector<std::string>, SchedError> list_vms() const override {
    std::vector<std::string> ids;
    for (const auto& d : list_dirs(m_.cpu + "/" + root_name_)) {
      if (d.rfind(kVmPrefix, 0) == 0) ids.push_back(d.substr(kVmPrefix.size()));
    }
    return ids;
  }

  Result<void, SchedError> remove(std::string_view id) override {
    Result<void, SchedError> result;
    for (const std::string* mount : mounts()) {
      const std::string d = dir(*mount, id);
      if (!exists(d)) continue;
      if (auto text = read_text(d + "/cgroup.procs")) {
        std::istringstream in(*text);
        for (long p; in >> p;) (void)write_text(*mount + "/cgroup.procs", std::to_string(p));
      }
      if (auto r = remove_dir(d); !r && result) result = r;
    }
    return result;
  }

  Result<void, SchedError> remove_root() override {
    Result<void, SchedError> result;
    for (const std::string* mount : mounts()) {
      if (auto r = remove_dir(*mount + "/" + root_name_); !r && result) result = r;
    }
    return result;
  }

  Result<CpuList, SchedError> root_cpus() const override {
    if (m_.cpuset.empty()) {
      auto online = read_text("/sys/devices/system/cpu/online", SchedErrc::proc_io);
      if (!online) return fail(online.error());
      return parse_cpu_list(*online);
    }
    auto text = read_text(m_.cpuset + "/" + root_name_ + "/cpuset.effective_cpus");
    if (!text) return fail(text.error());
    return parse_cpu_list(*text);
  }

 private:
  std::vector<const std::string*> mounts() const {
    std::vector<const std::string*> out;
    for (const std::string* m : {&m_.cpu, &m_.cpuacct, &m_.cpuset}) {
      if (!m->empty()) out.push_back(m);
    }
    return out;
  }
  std::string dir(const std::string& mount, std::string_view id) const {
    return mount + "/" + root_name_ + "/" + vm_dir_name(id);
  }
  static std::string trim(std::string s) {
    while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
    return s;
  }

  CgroupMounts m_;
  std::string root_name_;
};

}  // namespace

Result<std::unique_ptr<Cgroups>, SchedError> open_v1(const CgroupMounts& m,
                                                     const CgroupConfig& config) {
  auto cg = std::make_unique<CgroupsV1>(m, config);
  if (auto r = cg->init(config); !r) return fail(r.error());
  return std::unique_ptr<Cgroups>(std::move(cg));
}

}  // namespace flotilla::scheduler::internal
