#include "scheduler/cgroup.h"

#include <algorithm>
#include <sstream>

#include "scheduler/cgroup/backends.h"
#include "scheduler/internal/fs.h"
#include "scheduler/policy.h"

namespace flotilla::scheduler {

std::string_view to_string(CgroupVersion v) {
  switch (v) {
    case CgroupVersion::none:
      return "none";
    case CgroupVersion::v1:
      return "v1";
    case CgroupVersion::v2:
      return "v2";
  }
  return "none";
}

CgroupMounts parse_mountinfo(std::string_view text) {
  CgroupMounts m;
  std::istringstream in{std::string(text)};
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream ls(line);
    std::vector<std::string> f;
    for (std::string w; ls >> w;) f.push_back(w);
    const auto dash = std::find(f.begin(), f.end(), "-");
    if (f.size() < 5 || dash == f.end() || dash + 3 > f.end()) continue;
    if (f[3] != "/") continue;  // a bind mount of a sub-group would mislead us
    const std::string& point = f[4];
    const std::string& fstype = *(dash + 1);
    const std::string& opts = *(dash + 3);
    if (fstype == "cgroup2") {
      if (m.v2.empty()) m.v2 = point;
      continue;
    }
    if (fstype != "cgroup") continue;
    std::istringstream os(opts);
    for (std::string o; std::getline(os, o, ',');) {
      if (o == "cpu" && m.cpu.empty()) m.cpu = point;
      if (o == "cpuacct" && m.cpuacct.empty()) m.cpuacct = point;
      if (o == "cpuset" && m.cpuset.empty()) m.cpuset = point;
    }
  }
  return m;
}

std::vector<std::string> v2_controllers(const std::string& dir) {
  std::vector<std::string> out;
  auto text = internal::read_text(dir + "/cgroup.controllers");
  if (!text) return out;
  std::istringstream in(*text);
  for (std::string c; in >> c;) out.push_back(c);
  return out;
}

CgroupVersion choose_version(const CgroupMounts& m, const std::vector<std::string>& v2c) {
  if (!m.v2.empty() && std::find(v2c.begin(), v2c.end(), "cpu") != v2c.end()) {
    return CgroupVersion::v2;
  }
  if (!m.cpu.empty()) return CgroupVersion::v1;
  return CgroupVersion::none;
}

std::vector<CgroupWrite> v2_writes(const CgroupSettings& s) {
  std::vector<CgroupWrite> w;
  w.push_back({"", "cpu.weight", std::to_string(s.weight)});
  const int64_t quota = cap_quota_us(s.cap_percent, s.period_us);
  w.push_back({"", "cpu.max",
               (quota < 0 ? std::string("max") : std::to_string(quota)) + " " +
                   std::to_string(s.period_us)});
  if (!s.cpus.empty()) w.push_back({"", "cpuset.cpus", format_cpu_list(s.cpus)});
  return w;
}

std::vector<CgroupWrite> v1_writes(const CgroupSettings& s) {
  std::vector<CgroupWrite> w;
  w.push_back({"cpu", "cpu.shares", std::to_string(v1_shares(s.weight))});
  // Lift the quota before changing the period (the kernel checks quota against period).
  w.push_back({"cpu", "cpu.cfs_quota_us", "-1"});
  w.push_back({"cpu", "cpu.cfs_period_us", std::to_string(s.period_us)});
  const int64_t quota = cap_quota_us(s.cap_percent, s.period_us);
  if (quota >= 0) w.push_back({"cpu", "cpu.cfs_quota_us", std::to_string(quota)});
  if (!s.cpus.empty()) w.push_back({"cpuset", "cpuset.cpus", format_cpu_list(s.cpus)});
  return w;
}

Result<std::unique_ptr<Cgroups>, SchedError> Cgroups::open(const CgroupConfig& config) {
  CgroupMounts m;
  if (config.mounts) {
    m = *config.mounts;
  } else {
    auto text = internal::read_text("/proc/self/mountinfo", SchedErrc::proc_io);
    if (!text) return fail(text.error());
    m = parse_mountinfo(*text);
  }
  const CgroupVersion v =
      config.version
          ? *config.version
          : choose_version(m, m.v2.empty() ? std::vector<std::string>{} : v2_controllers(m.v2));
  if (config.root_name.empty() || config.root_name.find('/') != std::string::npos) {
    return fail(
        sched_error(SchedErrc::no_cgroups, "bad cgroup root name '" + config.root_name + "'"));
  }
  switch (v) {
    case CgroupVersion::v2:
      if (m.v2.empty()) return fail(sched_error(SchedErrc::no_cgroups, "no cgroup2 mount"));
      return internal::open_v2(m.v2, config);
    case CgroupVersion::v1:
      if (m.cpu.empty()) return fail(sched_error(SchedErrc::no_cgroups, "no v1 cpu hierarchy"));
      return internal::open_v1(m, config);
    case CgroupVersion::none:
      break;
  }
  return fail(sched_error(SchedErrc::no_cgroups,
                          "no usable cgroup hierarchy: neither cgroup2 with the cpu controller "
                          "nor a v1 cpu hierarchy is mounted"));
}

}  // namespace flotilla::scheduler
