// The MAC and IPv4 address of every NIC of a VM spec: kept, checked or leased.
#include "network/leases.h"

#include <map>
#include <random>
#include <set>

#include "common/uuid.h"
#include "network/addresses.h"

namespace flotilla::network {
namespace {

NetworkError error(NetworkErrc code, std::string message, std::string field = {}) {
  return NetworkError{code, std::move(message), std::move(field)};
}

// Addresses the NICs of every other VM hold.
struct Taken {
  std::set<MacAddress> macs;
  std::map<std::string, std::set<uint32_t>> ips;  // by network id
};

NetworkResult<Taken> taken_by_others(storage::StateStore& store, const std::string& except_vm) {
  auto vms = store.list_vms();
  if (!vms) return fail(error(NetworkErrc::system, "listing VMs: " + vms.error().message));
  Taken t;
  for (const auto& vm : *vms) {
    if (vm.id == except_vm) continue;
    for (const auto& nic : vm.spec.nics) {
      if (auto mac = parse_unicast_mac(nic.mac); mac) t.macs.insert(*mac);
      if (nic.network_id.empty()) continue;
      if (auto ip = parse_ipv4(nic.ip); ip) t.ips[nic.network_id].insert(*ip);
    }
  }
  return t;
}

NetworkResult<storage::NetworkRecord> resolve_network(storage::StateStore& store,
                                                      const storage::NicAttachment& nic,
                                                      const std::string& field) {
  const std::string& ref = nic.network_id.empty() ? nic.network : nic.network_id;
  auto n = is_uuid(ref) ? store.get_network(ref) : store.get_network_by_name(ref);
  if (n) return std::move(n).value();
  if (n.error().code != storage::StoreErrc::not_found) {
    return fail(error(NetworkErrc::system, n.error().message));
  }
  return fail(error(NetworkErrc::not_found,
                    field + ".network: no network with id or name '" + ref +
                        "' (create it with POST /v1/networks)",
                    field + ".network"));
}

NetworkResult<void> assign_mac(storage::NicAttachment& nic, const storage::NicAttachment* prev,
                               Taken& taken, std::mt19937_64& rng, const std::string& field) {
  if (nic.mac.empty() && prev != nullptr) nic.mac = prev->mac;  // stable for the NIC's life
  if (nic.mac.empty()) {
    auto mac = allocate_mac(taken.macs, rng);
    if (!mac) return fail(error(NetworkErrc::conflict, "no free MAC address is left"));
    taken.macs.insert(*mac);
    nic.mac = mac->to_string();
    return {};
  }
  auto mac = parse_unicast_mac(nic.mac);
  if (!mac) {
    return fail(error(NetworkErrc::invalid_argument, field + ".mac: " + mac.error().message,
                      field + ".mac"));
  }
  nic.mac = mac->to_string();
  if (!taken.macs.insert(*mac).second) {
    return fail(error(NetworkErrc::conflict,
                      field + ".mac: " + nic.mac + " is already used by another NIC",
                      field + ".mac"));
  }
  return {};
}

NetworkResult<void> check_ip(uint32_t ip, const Ipv4Cidr& range,
                             const std::optional<uint32_t>& host_address,
                             const storage::NetworkRecord& net, const std::string& field) {
  const std::string text = ipv4_to_string(ip);
  if (!range.contains(ip) || ip == range.network() || ip == range.broadcast()) {
    return fail(error(NetworkErrc::invalid_argument,
                      field + ".ip: " + text + " is not a host address of network '" + net.name +
                          "' (" + net.cidr + ")",
                      field + ".ip"));
  }
  if (host_address && ip == *host_address) {
    return fail(error(NetworkErrc::conflict,
                      field + ".ip: " + text + " is the host's own address on '" + net.name + "'",
                      field + ".ip"));
  }
  return {};
}

NetworkResult<void> assign_ip(storage::NicAttachment& nic, const storage::NicAttachment* prev,
                              const storage::NetworkRecord& net, Taken& taken,
                              const std::string& field) {
  auto range = parse_cidr(net.cidr);
  if (!range) {
    return fail(error(NetworkErrc::system, "network '" + net.name + "' has a bad range in the " +
                                               "store: " + range.error().message));
  }
  std::optional<uint32_t> host_address;
  if (auto h = parse_ipv4(net.host_address); h) host_address = *h;
  auto& used = taken.ips[net.id];
  if (nic.ip.empty() && prev != nullptr && prev->network_id == net.id) nic.ip = prev->ip;
  if (nic.ip.empty()) {
    auto ip = next_free_address(*range, used, host_address);
    if (!ip) {
      return fail(
          error(NetworkErrc::conflict,
                field + ": network '" + net.name + "' (" + net.cidr + ") has no free address left",
                field + ".network"));
    }
    used.insert(*ip);
    nic.ip = ipv4_to_string(*ip);
    return {};
  }
  auto ip = parse_ipv4(nic.ip);
  if (!ip) {
    return fail(
        error(NetworkErrc::invalid_argument, field + ".ip: " + ip.error().message, field + ".ip"));
  }
  if (auto ok = check_ip(*ip, *range, host_address, net, field); !ok) return ok;
  if (!used.insert(*ip).second) {
    return fail(error(NetworkErrc::conflict,
                      field + ".ip: " + nic.ip + " is already leased on '" + net.name + "'",
                      field + ".ip"));
  }
  return {};
}

}  // namespace

NetworkResult<void> assign_nic_addresses(storage::StateStore& store, storage::VmSpec& spec,
                                         const storage::VmRecord* current) {
  auto taken = taken_by_others(store, current != nullptr ? current->id : std::string());
  if (!taken) return fail(taken.error());
  std::mt19937_64 rng{std::random_device{}()};
  for (size_t i = 0; i < spec.nics.size(); ++i) {
    storage::NicAttachment& nic = spec.nics[i];
    const std::string field = "nics[" + std::to_string(i) + "]";
    auto net = resolve_network(store, nic, field);
    if (!net) return fail(net.error());
    const storage::NicAttachment* prev = nullptr;
    if (current != nullptr && i < current->spec.nics.size()) prev = &current->spec.nics[i];
    nic.network_id = net->id;
    nic.network = net->name;
    if (auto r = assign_mac(nic, prev, *taken, rng, field); !r) return r;
    if (auto r = assign_ip(nic, prev, *net, *taken, field); !r) return r;
  }
  return {};
}

}  // namespace flotilla::network
