// Per-VM monitor counters in Prometheus text format, for /metrics.
#include <sstream>

#include "daemon/scheduling.h"
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

// A label value with \, " and newlines escaped (the text format's rule).
std::string escaped(const std::string& value) {
  std::string out;
  for (char c : value) {
    if (c == '\\' || c == '"') out.push_back('\\');
    out.push_back(c == '\n' ? 'n' : c);
  }
  return out;
}

void sample(std::ostringstream& out, const char* name, const std::string& labels_text,
            int64_t value) {
  out << name << labels_text << ' ' << value << '\n';
}

void append_disk_samples(const storage::VmRecord& vm, const nlohmann::json& s,
                         std::ostringstream& ops, std::ostringstream& bytes,
                         std::ostringstream& errors) {
  if (!s.contains("disks") || !s["disks"].is_array()) return;
  for (size_t i = 0; i < s["disks"].size(); ++i) {
    const auto& d = s["disks"][i];
    const std::string disk =
        ",disk=\"" + std::to_string(i) + "\",serial=\"" + escaped(d.value("serial", "")) + "\"";
    for (const char* kind : {"read", "write", "flush", "discard", "write_zeroes"}) {
      sample(ops, "flotilla_vm_disk_ops_total", labels(vm, disk + ",kind=\"" + kind + "\""),
             number(d, (std::string(kind) + "_ops").c_str()));
    }
    sample(bytes, "flotilla_vm_disk_bytes_total", labels(vm, disk + ",direction=\"read\""),
           number(d, "read_bytes"));
    sample(bytes, "flotilla_vm_disk_bytes_total", labels(vm, disk + ",direction=\"write\""),
           number(d, "write_bytes"));
    sample(errors, "flotilla_vm_disk_errors_total", labels(vm, disk + ",kind=\"io\""),
           number(d, "errors"));
    sample(errors, "flotilla_vm_disk_errors_total", labels(vm, disk + ",kind=\"no_space\""),
           number(d, "no_space_errors"));
  }
}

void append_nic_samples(const storage::VmRecord& vm, const nlohmann::json& s,
                        std::ostringstream& packets, std::ostringstream& bytes,
                        std::ostringstream& drops) {
  if (!s.contains("nics") || !s["nics"].is_array()) return;
  for (size_t i = 0; i < s["nics"].size(); ++i) {
    const auto& n = s["nics"][i];
    const std::string nic =
        ",nic=\"" + std::to_string(i) + "\",mac=\"" + escaped(n.value("mac", "")) + "\"";
    for (const char* dir : {"rx", "tx"}) {
      const std::string d = std::string(",direction=\"") + dir + "\"";
      sample(packets, "flotilla_vm_nic_packets_total", labels(vm, nic + d),
             number(n, (std::string(dir) + "_packets").c_str()));
      sample(bytes, "flotilla_vm_nic_bytes_total", labels(vm, nic + d),
             number(n, (std::string(dir) + "_bytes").c_str()));
    }
    sample(drops, "flotilla_vm_nic_dropped_total",
           labels(vm, nic + ",direction=\"rx\",reason=\"no_room\""), number(n, "rx_dropped"));
    sample(drops, "flotilla_vm_nic_dropped_total",
           labels(vm, nic + ",direction=\"tx\",reason=\"tap\""), number(n, "tx_dropped"));
    sample(drops, "flotilla_vm_nic_dropped_total",
           labels(vm, nic + ",direction=\"tx\",reason=\"malformed\""), number(n, "tx_malformed"));
  }
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
  Family disk_ops{"flotilla_vm_disk_ops_total",
                  "counter",
                  "virtio-blk requests completed, by disk and kind (counts restart at a reboot)",
                  {}};
  Family disk_bytes{"flotilla_vm_disk_bytes_total",
                    "counter",
                    "virtio-blk bytes moved, by disk and direction",
                    {}};
  Family disk_errors{"flotilla_vm_disk_errors_total",
                     "counter",
                     "virtio-blk requests failed with an I/O error; kind=no_space for a full host "
                     "file system",
                     {}};
  Family nic_packets{"flotilla_vm_nic_packets_total",
                     "counter",
                     "virtio-net frames, by NIC and direction (rx = to the guest)",
                     {}};
  Family nic_bytes{
      "flotilla_vm_nic_bytes_total", "counter", "virtio-net bytes, by NIC and direction", {}};
  Family nic_drops{"flotilla_vm_nic_dropped_total",
                   "counter",
                   "virtio-net frames dropped, by NIC, direction and reason",
                   {}};
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
    append_disk_samples(vm, s, disk_ops.samples, disk_bytes.samples, disk_errors.samples);
    append_nic_samples(vm, s, nic_packets.samples, nic_bytes.samples, nic_drops.samples);
  }
  std::ostringstream out;
  if (opt_.scheduling != nullptr) out << opt_.scheduling->metrics_text();
  for (Family* f : {&exits, &resident, &memory, &reboots, &console, &vcpus, &disk_ops, &disk_bytes,
                    &disk_errors, &nic_packets, &nic_bytes, &nic_drops}) {
    out << "# HELP " << f->name << ' ' << f->help << "\n# TYPE " << f->name << ' ' << f->type
        << '\n'
        << f->samples.str();
  }
  return out.str();
}

}  // namespace flotilla::daemon::supervisor
