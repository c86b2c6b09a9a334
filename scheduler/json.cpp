#include "scheduler/json.h"

namespace flotilla::scheduler {

namespace {

std::string_view mode_name(storage::CpuMode m) {
  return m == storage::CpuMode::partition ? "partition" : "timeshare";
}
std::string_view memory_name(storage::MemoryMode m) {
  return m == storage::MemoryMode::reserved ? "reserved" : "shared";
}
double seconds(uint64_t ns) {
  return static_cast<double>(ns) / 1e9;
}

std::string labels(std::string_view id, std::string_view name, std::string_view extra = {}) {
  // The daemon's other flotilla_vm_* series label a VM as vm="<name>",id="<id>": the same here.
  std::string out = "{vm=\"" + std::string(name) + "\",id=\"" + std::string(id) + "\"";
  if (!extra.empty()) out += "," + std::string(extra);
  return out + "}";
}

void line(std::string& out, std::string_view metric, const std::string& l, double v) {
  out += std::string(metric) + l + " " + std::to_string(v) + "\n";
}

}  // namespace

nlohmann::json to_json(const Inventory& inv, CgroupVersion version) {
  nlohmann::json cores = nlohmann::json::array();
  for (const auto& c : inv.cores) {
    cores.push_back(
        {{"core", c.core},
         {"use", c.dedicated_to.empty() ? "shared" : "dedicated"},
         {"vm", c.dedicated_to.empty() ? nlohmann::json() : nlohmann::json(c.dedicated_to)}});
  }
  nlohmann::json vms = nlohmann::json::array();
  for (const auto& v : inv.vms) {
    vms.push_back({{"id", v.id},
                   {"name", v.name},
                   {"vcpus", v.vcpus},
                   {"cpu",
                    {{"mode", mode_name(v.cpu.mode)},
                     {"weight", v.cpu.weight},
                     {"cap_percent", v.cpu.cap_percent},
                     {"dedicated_cores", v.cpu.dedicated_cores}}},
                   {"cores", v.cores},
                   {"memory", {{"mode", memory_name(v.memory)}, {"bytes", v.memory_bytes}}}});
  }
  const auto& m = inv.memory;
  return {{"cgroup_version", to_string(version)},
          {"cores", cores},
          {"shared_cores", inv.shared_cores},
          {"dedicated_cores", inv.dedicated_cores},
          {"min_shared_cores", inv.min_shared_cores},
          {"memory",
           {{"total_bytes", m.total_bytes},
            {"host_reserved_bytes", m.host_reserved_bytes},
            {"reserved_bytes", m.reserved_bytes},
            {"reserved_available_bytes", m.reserved_available_bytes},
            {"shared_bytes", m.shared_bytes},
            {"shared_capacity_bytes", m.shared_capacity_bytes},
            {"shared_available_bytes", m.shared_available_bytes},
            {"overcommit_ratio", m.overcommit_ratio}}},
          {"vms", vms}};
}

nlohmann::json to_json(const VmAccounting& a) {
  nlohmann::json vcpus = nlohmann::json::array();
  for (const auto& v : a.vcpus) {
    vcpus.push_back({{"index", v.index},
                     {"tid", v.tid},
                     {"cpu_seconds", seconds(v.cpu_ns)},
                     {"wait_seconds", seconds(v.wait_ns)},
                     {"cpu_percent", v.cpu_percent},
                     {"wait_percent", v.wait_percent},
                     {"exits_per_second", v.exits_per_sec}});
  }
  return {{"interval_seconds", a.interval_s},
          {"cpu_seconds", seconds(a.cpu_ns)},
          {"wait_seconds", seconds(a.wait_ns)},
          {"cpu_percent", a.cpu_percent},
          {"wait_percent", a.wait_percent},
          {"throttled_seconds", seconds(a.throttled_ns)},
          {"throttled_periods", a.nr_throttled},
          {"exits_per_second", a.exits_per_sec},
          {"exits_per_second_total", a.exits_per_sec_total},
          {"vcpus", vcpus}};
}

std::string metrics_header() {
  return "# HELP flotilla_vm_cpu_seconds_total CPU time of the VM's monitor process (cgroup).\n"
         "# TYPE flotilla_vm_cpu_seconds_total counter\n"
         "# HELP flotilla_vm_wait_seconds_total Time the VM's threads were runnable but waiting.\n"
         "# TYPE flotilla_vm_wait_seconds_total counter\n"
         "# HELP flotilla_vm_throttled_seconds_total Time the VM's CPU cap held it back.\n"
         "# TYPE flotilla_vm_throttled_seconds_total counter\n"
         "# HELP flotilla_vm_vcpu_cpu_seconds_total CPU time per vCPU thread.\n"
         "# TYPE flotilla_vm_vcpu_cpu_seconds_total counter\n"
         "# HELP flotilla_vm_vcpu_wait_seconds_total Runnable-but-waiting time per vCPU (steal).\n"
         "# TYPE flotilla_vm_vcpu_wait_seconds_total counter\n"
         "# HELP flotilla_vm_cpu_percent CPU use over the last sampling interval (100 = one "
         "core).\n"
         "# TYPE flotilla_vm_cpu_percent gauge\n"
         "# HELP flotilla_vm_exits_per_second Guest exits per second by reason, last interval.\n"
         "# TYPE flotilla_vm_exits_per_second gauge\n";
}

void append_metrics(std::string& out, std::string_view id, std::string_view name,
                    const VmAccounting& a) {
  const std::string l = labels(id, name);
  line(out, "flotilla_vm_cpu_seconds_total", l, seconds(a.cpu_ns));
  line(out, "flotilla_vm_wait_seconds_total", l, seconds(a.wait_ns));
  line(out, "flotilla_vm_throttled_seconds_total", l, seconds(a.throttled_ns));
  line(out, "flotilla_vm_cpu_percent", l, a.cpu_percent);
  for (const auto& v : a.vcpus) {
    const std::string vl = labels(id, name, "vcpu=\"" + std::to_string(v.index) + "\"");
    line(out, "flotilla_vm_vcpu_cpu_seconds_total", vl, seconds(v.cpu_ns));
    line(out, "flotilla_vm_vcpu_wait_seconds_total", vl, seconds(v.wait_ns));
  }
  for (const auto& [reason, rate] : a.exits_per_sec) {
    line(out, "flotilla_vm_exits_per_second", labels(id, name, "reason=\"" + reason + "\""), rate);
  }
}

}  // namespace flotilla::scheduler
