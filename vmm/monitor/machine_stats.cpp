// Machine::stats: the counters the control socket's `stats` reports (and the daemon exports).
#include <unistd.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "vmm/monitor/machine.h"
#include "vmm/monitor/machine_devices.h"

namespace flotilla::vmm {
namespace {

// The whole monitor process's resident set (VmRSS), which is more than the guest's RAM.
uint64_t process_rss_bytes() {
  std::ifstream in("/proc/self/statm");
  uint64_t size = 0, resident = 0;
  if (!(in >> size >> resident)) return 0;
  return resident * static_cast<uint64_t>(::sysconf(_SC_PAGESIZE));
}

nlohmann::json bus_json(const Bus& bus) {
  nlohmann::json ranges = nlohmann::json::array();
  for (const BusRangeStats& r : bus.stats()) {
    ranges.push_back({{"name", r.name},
                      {"base", r.base},
                      {"length", r.length},
                      {"reads", r.reads},
                      {"writes", r.writes}});
  }
  return {{"ranges", ranges}, {"unknown_accesses", bus.unknown_accesses()}};
}

}  // namespace

nlohmann::json Machine::stats() const {
  nlohmann::json exits = nlohmann::json::object();
  for (const auto& [name, n] : exit_stats_.snapshot()) exits[name] = n;
  nlohmann::json states = nlohmann::json::array();
  for (VcpuState s : vcpu_states()) states.push_back(vcpu_state_name(s));
  const std::vector<uint64_t> per_vcpu = vcpu_exits();  // before the total: sum <= total
  nlohmann::json out = {
      {"exits", exits},
      {"exits_total", exit_stats_.total()},
      {"vcpu_exits", per_vcpu},
      {"vcpus", states},
      {"memory_bytes", memory_.size()},
      {"resident_bytes", memory_.resident_bytes()},
      {"process_rss_bytes", process_rss_bytes()},
  };
  if (devices_) {
    const MachineDevices& d = *devices_;
    out["pio"] = bus_json(d.pio);
    out["mmio"] = bus_json(d.mmio);
    out["unknown_accesses"] = {{"pio", d.pio.unknown_accesses()},
                               {"mmio", d.mmio.unknown_accesses()}};
    out["bench_port_writes"] = d.bench_port->writes();
    nlohmann::json disks = nlohmann::json::array();
    for (size_t i = 0; i < d.disks.size(); ++i) {
      const virtio::BlockMetricsValues m = d.disks[i]->metrics();
      disks.push_back({{"serial", d.disks[i]->serial()},
                       {"path", i < config_.disks.size() ? config_.disks[i].path : ""},
                       {"read_only", d.disks[i]->read_only()},
                       {"capacity_bytes", d.disks[i]->capacity_sectors() * 512},
                       {"read_ops", m.read_ops},
                       {"write_ops", m.write_ops},
                       {"flush_ops", m.flush_ops},
                       {"discard_ops", m.discard_ops},
                       {"write_zeroes_ops", m.write_zeroes_ops},
                       {"get_id_ops", m.get_id_ops},
                       {"read_bytes", m.read_bytes},
                       {"write_bytes", m.write_bytes},
                       {"errors", m.errors},
                       {"no_space_errors", m.no_space_errors},
                       {"bad_requests", m.bad_requests},
                       {"last_error", m.last_error}});
    }
    out["disks"] = disks;
    nlohmann::json nics = nlohmann::json::array();
    for (size_t i = 0; i < d.nics.size(); ++i) {
      const virtio::NetMetricsValues m = d.nics[i]->metrics();
      const NicConfig* nc = i < config_.nics.size() ? &config_.nics[i] : nullptr;
      nics.push_back({{"tap", nc ? nc->tap : ""},
                      {"mac", nc ? nc->mac.to_string() : ""},
                      {"rx_packets", m.rx_packets},
                      {"rx_bytes", m.rx_bytes},
                      {"rx_dropped", m.rx_dropped},
                      {"rx_throttled", m.rx_throttled},
                      {"tx_packets", m.tx_packets},
                      {"tx_bytes", m.tx_bytes},
                      {"tx_dropped", m.tx_dropped},
                      {"tx_malformed", m.tx_malformed},
                      {"tx_throttled", m.tx_throttled},
                      {"rx_limit", rate_limit_json(d.nics[i]->limits().first)},
                      {"tx_limit", rate_limit_json(d.nics[i]->limits().second)}});
    }
    out["nics"] = nics;
    const SerialMetrics sm = d.serial->metrics();
    out["serial"] = {
        {"tx_bytes", sm.tx_bytes}, {"rx_bytes", sm.rx_bytes}, {"input_dropped", sm.input_dropped}};
  }
  return out;
}

}  // namespace flotilla::vmm
