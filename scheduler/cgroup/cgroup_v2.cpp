// cgroup v2 backend: <mount>/<root>/vm-<id>, cpu.weight, cpu.max, cpuset.cpus, cgroup.procs.
#include <unistd.h>

#include <algorithm>
#include <sstream>

#include "scheduler/cgroup/backends.h"
#include "scheduler/internal/fs.h"

namespace flotilla::scheduler::internal {

namespace {

bool has(const std::vector<std::string>& v, std::string_view x) {
  return std::find(v.begin(), v.end(), x) != v.end();
}

Result<std::vector<pid_t>, SchedError> read_pids(const std::string& file) {
  auto text = read_text(file);
  if (!text) return fail(text.error());
  std::vector<pid_t> out;
  std::istringstream in(*text);
  for (long p; in >> p;) out.push_back(static_cast<pid_t>(p));
  return out;
}

class CgroupsV2 final : public Cgroups {
 public:
  CgroupsV2(std::string mount, const CgroupConfig& c)
      : mount_(std::move(mount)), root_(mount_ + "/" + c.root_name), fake_(c.fake_tree) {}

  Result<void, SchedError> init(const CgroupConfig& c) {
    const auto top = v2_controllers(mount_);
    // Enable what the top offers of cpu and cpuset for our root, then for the VMs under it.
    std::string enable;
    for (const char* ctl : {"cpu", "cpuset"}) {
      if (has(top, ctl)) enable += std::string(enable.empty() ? "+" : " +") + ctl;
    }
    if (!enable.empty() && !fake_) {
      // Already enabled on a systemd host; a failure here shows up as missing files below.
      (void)write_text(mount_ + "/cgroup.subtree_control", enable);
    }
    if (auto r = make_dir(root_); !r) return r;
    if (fake_) {
      if (auto r = write_text(
              root_ + "/cgroup.controllers",
              [&] {
                std::string s;
                for (const auto& t : top) s += (s.empty() ? "" : " ") + t;
                return s;
              }(),
              true);
          !r) {
        return r;
      }
    }
    if (!enable.empty()) {
      if (auto r = write_text(root_ + "/cgroup.subtree_control", enable, fake_); !r) return r;
    }
    controllers_ = fake_ ? top : v2_controllers(root_);
    if (c.root_weight != 0 && has(controllers_, "cpu")) {
      const uint32_t w = std::min<uint32_t>(c.root_weight, 10000);
      if (auto r = write_text(root_ + "/cpu.weight", std::to_string(w), fake_); !r) {
        return r;
      }
    }
    return {};
  }

  CgroupVersion version() const override { return CgroupVersion::v2; }
  std::string vm_path(std::string_view id) const override { return root_ + "/" + vm_dir_name(id); }

  Result<void, SchedError> configure(std::string_view id, const CgroupSettings& s) override {
    const std::string dir = vm_path(id);
    if (auto r = make_dir(dir); !r) return r;
    for (const auto& w : v2_writes(s)) {
      const std::string ctl = w.file.substr(0, w.file.find('.'));
      if (!has(controllers_, ctl)) {
        // Without the controller only the kernel's defaults are possible.
        const bool is_default = (w.file == "cpu.weight" && s.weight == 100) ||
                                (w.file == "cpu.max" && s.cap_percent == 0);
        if (is_default) continue;
        return fail(sched_error(SchedErrc::no_cgroups, "cgroup v2 controller '" + ctl +
                                                           "' is not available under " + root_ +
                                                           " (needed for " + w.file + ")"));
      }
      if (auto r = write_text(dir + "/" + w.file, w.value, fake_); !r) return r;
    }
    return {};
  }

  Result<void, SchedError> attach(std::string_view id, pid_t pid) override {
    if (fake_) {
      auto cur = read_text(vm_path(id) + "/cgroup.procs");
      const std::string prev = cur ? *cur : std::string();
      return write_text(vm_path(id) + "/cgroup.procs", prev + std::to_string(pid) + "\n", true);
    }
    return write_text(vm_path(id) + "/cgroup.procs", std::to_string(pid));
  }

  Result<std::vector<pid_t>, SchedError> procs(std::string_view id) const override {
    return read_pids(vm_path(id) + "/cgroup.procs");
  }

  Result<CgroupUsage, SchedError> usage(std::string_view id) const override {
    auto text = read_text(vm_path(id) + "/cpu.stat");
    if (!text) return fail(text.error());
    CgroupUsage u;
    uint64_t v = 0;
    if (!find_key(*text, "usage_usec", v)) {
      return fail(
          sched_error(SchedErrc::cgroup_io, "no usage_usec in " + vm_path(id) + "/cpu.stat"));
    }
    u.cpu_ns = v * 1000;
    if (find_key(*text, "nr_throttled", v)) u.nr_throttled = v;
    if (find_key(*text, "throttled_usec", v)) u.throttled_ns = v * 1000;
    return u;
  }

  Result<CgroupSettings, SchedError> read_settings(std::string_view id) const override {
    const std::string dir = vm_path(id);
    if (!exists(dir)) return fail(sched_error(SchedErrc::not_found, "no cgroup " + dir));
    CgroupSettings s;
    if (auto w = read_text(dir + "/cpu.weight")) s.weight = std::stoull(*w);
    if (auto m = read_text(dir + "/cpu.max")) {
      std::istringstream in(*m);
      std::string quota;
      uint64_t period = 0;
      if (in >> quota >> period && period > 0) {
        s.period_us = period;
        if (quota != "max") {
          s.cap_percent = static_cast<uint32_t>((std::stoull(quota) * 100 + period / 2) / period);
        }
      }
    }
    if (auto c = read_text(dir + "/cpuset.cpus")) {
      auto l = parse_cpu_list(*c);
      if (l) s.cpus = *l;
    }
    return s;
  }

  Result<std::vector<std::string>, SchedError> list_vms() const override {
    std::vector<std::string> ids;
    for (const auto& d : list_dirs(root_)) {
      if (d.rfind(kVmPrefix, 0) == 0) ids.push_back(d.substr(kVmPrefix.size()));
    }
    return ids;
  }

  Result<void, SchedError> remove(std::string_view id) override {
    const std::string dir = vm_path(id);
    if (!exists(dir)) return {};
    if (!fake_) {
      if (auto p = procs(id)) {
        for (pid_t pid : *p) (void)write_text(mount_ + "/cgroup.procs", std::to_string(pid));
      }
      return remove_dir(dir);
    }
    // A plain directory with files in it.
    for (const auto& f : {"cgroup.procs", "cpu.weight", "cpu.max", "cpuset.cpus"}) {
      ::unlink((dir + "/" + f).c_str());
    }
    return remove_dir(dir);
  }

  Result<void, SchedError> remove_root() override {
    if (fake_) {
      for (const auto& f : {"cgroup.controllers", "cgroup.subtree_control", "cpu.weight"}) {
        ::unlink((root_ + "/" + f).c_str());
      }
    }
    return remove_dir(root_);
  }

  Result<CpuList, SchedError> root_cpus() const override {
    auto text = read_text(root_ + (fake_ ? "/cpuset.cpus" : "/cpuset.cpus.effective"));
    if (!text) {
      auto online = read_text("/sys/devices/system/cpu/online", SchedErrc::proc_io);
      if (!online) return fail(online.error());
      return parse_cpu_list(*online);
    }
    return parse_cpu_list(*text);
  }

 private:
  std::string mount_;
  std::string root_;
  bool fake_ = false;
  std::vector<std::string> controllers_;
};

}  // namespace

Result<std::unique_ptr<Cgroups>, SchedError> open_v2(const std::string& mount,
                                                     const CgroupConfig& config) {
  auto cg = std::make_unique<CgroupsV2>(mount, config);
  if (auto r = cg->init(config); !r) return fail(r.error());
  return std::unique_ptr<Cgroups>(std::move(cg));
}

}  // namespace flotilla::scheduler::internal
