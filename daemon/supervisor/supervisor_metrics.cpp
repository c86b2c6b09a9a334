// Per-VM monitor counters in Prometheus text format, for /metrics.
#include <sstream>

#include "daemon/supervisor/control_client.h"
#include "daemon/supervisor/supervisor_impl.h"

namespace flotilla::daemon::supervisor {

namespace {

struct Family {
  const char* name;
  const char* type;
  const char* help;
  std::ostringstream samples;
};

std::string labels(const storage::VmRecord& vm, const std::string& extra = {}) {
  return "{vm=\"" + vm.spec.name + "\",id=\"" + vm.id + "\"" + extra + "}";
}

int64_t number(const nlohmann::json& j, const char* key) {
  return j.contains(key) && j[key].is_number() ? j[key].get<int64_t>() : 0;
}

}  // namespace

std::string SupervisorImpl::metrics_text() {
  auto vms = store_.list_vms();
  if (!vms) return {};
  Family exits{
      "flotilla_vm_exits_total", "counter", "VM exits handled by the monitor, by reason", {}};
  Family resident{
      "flotilla_vm_resident_bytes", "gauge", "Resident memory of the monitor process", {}};
  Family memory{"flotilla_vm_memory_bytes", "gauge", "Guest RAM size", {}};
  Family reboots{"flotilla_vm_reboots_total", "counter", "Guest reboots in this monitor", {}};
  Family console{"flotilla_vm_console_bytes_total", "counter", "Console output bytes", {}};
  Family vcpus{"flotilla_vm_vcpus_running", "gauge", "vCPUs in the running state", {}};
  for (const auto& vm : *vms) {
    auto e = entry(vm.id);
    {
      std::lock_guard lock(e->mu);
      if (!e->monitor) continue;
    }
    auto r = control_call(e->paths.control_socket, {{"cmd", "stats"}}, 500);
    if (!r || !(*r)["stats"].is_object()) continue;
    const auto& s = (*r)["stats"];
    if (s.contains("exits") && s["exits"].is_object()) {
      for (const auto& [reason, n] : s["exits"].items()) {
        if (n.is_number()) {
          exits.samples << exits.name << labels(vm, ",reason=\"" + reason + "\"") << ' '
                        << n.get<int64_t>() << '\n';
        }
      }
    }
    resident.samples << resident.name << labels(vm) << ' ' << number(s, "resident_bytes") << '\n';
    memory.samples << memory.name << labels(vm) << ' ' << number(s, "memory_bytes") << '\n';
    reboots.samples << reboots.name << labels(vm) << ' ' << number(s, "reboots") << '\n';
    console.samples << console.name << labels(vm) << ' ' << number(s, "console_bytes") << '\n';
    int64_t running = 0;
    if (s.contains("vcpus") && s["vcpus"].is_array()) {
      for (const auto& v : s["vcpus"]) running += v == "running" ? 1 : 0;
    }
    vcpus.samples << vcpus.name << labels(vm) << ' ' << running << '\n';
  }
  std::ostringstream out;
  for (Family* f : {&exits, &resident, &memory, &reboots, &console, &vcpus}) {
    out << "# HELP " << f->name << ' ' << f->help << "\n# TYPE " << f->name << ' ' << f->type
        << '\n'
        << f->samples.str();
  }
  return out.str();
}

}  // namespace flotilla::daemon::supervisor
