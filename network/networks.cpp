// NetworkManager: networks (bridges + ranges) and the TAPs of running VMs.
#include "network/networks.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <optional>

#include "common/uuid.h"
#include "network/addresses.h"
#include "network/dhcp.h"
#include "network/leases.h"
#include "network/links.h"

namespace flotilla::network {
namespace {

NetworkError error(NetworkErrc code, std::string message, std::string field = {}) {
  return NetworkError{code, std::move(message), std::move(field)};
}

NetworkError from_net(const NetError& e, std::string field = {}) {
  switch (e.code) {
    case NetErrc::kInvalid:
    case NetErrc::kNotFound:
      return error(NetworkErrc::invalid_argument, e.message, std::move(field));
    case NetErrc::kExists:
    case NetErrc::kBusy:
      return error(NetworkErrc::conflict, e.message, std::move(field));
    case NetErrc::kSystem:
      break;
  }
  return error(NetworkErrc::system, e.message, std::move(field));
}

NetworkError from_store(const storage::StoreError& e) {
  switch (e.code) {
    case storage::StoreErrc::not_found:
      return error(NetworkErrc::not_found, e.message);
    case storage::StoreErrc::conflict:
      return error(NetworkErrc::conflict, e.message, "name");
    case storage::StoreErrc::invalid_state:
      return error(NetworkErrc::invalid_state, e.message);
    case storage::StoreErrc::io:
    case storage::StoreErrc::corrupt:
      break;
  }
  return error(NetworkErrc::system, e.message);
}

std::string first_hex(const std::string& id, size_t n) {
  std::string hex;
  for (char c : id) {
    if (hex.size() == n) break;
    if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')) hex.push_back(c);
  }
  return hex;
}

// Whether the VM's monitor may be running, and so holding its TAPs.
bool may_hold_taps(const storage::VmRecord& vm) {
  return vm.actual != storage::VmState::stopped && vm.actual != storage::VmState::crashed;
}

// The bridge's address as ensure_bridge wants it ("10.0.0.1/24"), or none.
std::optional<Ipv4Cidr> host_cidr(const storage::NetworkRecord& n) {
  auto range = parse_cidr(n.cidr);
  auto host = parse_ipv4(n.host_address);
  if (!range || !host) return std::nullopt;
  return Ipv4Cidr{*host, range->prefix};
}

// Checks the request and fills the record it describes (no id or bridge yet).
NetworkResult<storage::NetworkRecord> validate(const NetworkRequest& req,
                                               const std::vector<storage::NetworkRecord>& others) {
  auto cidr = parse_cidr(req.cidr);
  if (!cidr) {
    return fail(error(NetworkErrc::invalid_argument, "cidr: " + cidr.error().message, "cidr"));
  }
  storage::NetworkRecord n;
  n.name = req.name;
  n.mode = req.mode;
  n.cidr = ipv4_to_string(cidr->network()) + "/" + std::to_string(cidr->prefix);
  if (cidr->address != cidr->network()) {
    if (cidr->address == cidr->broadcast()) {
      return fail(error(NetworkErrc::invalid_argument,
                        "cidr: " + req.cidr + " gives the host the broadcast address", "cidr"));
    }
    n.host_address = ipv4_to_string(cidr->address);
  }
  for (const auto& o : others) {
    auto theirs = parse_cidr(o.cidr);
    if (theirs && ranges_overlap(*cidr, *theirs)) {
      return fail(error(NetworkErrc::conflict,
                        "cidr: " + n.cidr + " overlaps network '" + o.name + "' (" + o.cidr + ")",
                        "cidr"));
    }
  }
  if (req.mode == storage::NetworkMode::uplink && req.uplink_interface.empty()) {
    return fail(error(NetworkErrc::invalid_argument,
                      "uplink_interface: an uplink network names the host interface to enslave",
                      "uplink_interface"));
  }
  if (req.mode == storage::NetworkMode::isolated && !req.uplink_interface.empty()) {
    return fail(error(NetworkErrc::invalid_argument,
                      "uplink_interface: only an uplink network has one", "uplink_interface"));
  }
  n.uplink_interface = req.uplink_interface;
  return n;
}

}  // namespace

struct NetworkManager::Impl {
  storage::StateStore& store;
  std::mutex links_mu;
  Links links;  // GUARDED_BY(links_mu)
  std::mutex lease_mu;
  DhcpServers dhcp;  // used with links_mu held

  // Expects links_mu held. The network's DHCP server with every lease on it; a failure costs
  // Linux guests their DHCP answer, not the network, so it is logged, not returned.
  void serve_dhcp(const storage::NetworkRecord& n) {
    std::vector<DhcpHost> hosts;
    if (auto vms = store.list_vms(); vms) {
      for (const auto& vm : *vms) {
        for (const auto& nic : vm.spec.nics) {
          if (nic.network_id == n.id && !nic.ip.empty()) hosts.push_back({nic.mac, nic.ip});
        }
      }
    }
    if (auto r = dhcp.ensure(n, hosts); !r) {
      spdlog::error("network {}: no DHCP: {}", n.name, r.error().message);
    }
  }

  // Expects links_mu held. The bridge with its address, and the uplink enslaved.
  NetworkResult<void> ensure(const storage::NetworkRecord& n) {
    if (auto b = links.ensure_bridge(n.bridge, host_cidr(n)); !b) return fail(from_net(b.error()));
    if (n.mode != storage::NetworkMode::uplink) return {};
    auto up = links.find(n.uplink_interface);
    if (!up) return fail(from_net(up.error()));
    if (!*up) {
      return fail(error(NetworkErrc::invalid_argument,
                        "uplink_interface: the host has no interface '" + n.uplink_interface + "'",
                        "uplink_interface"));
    }
    if (auto r = links.enslave(n.uplink_interface, n.bridge); !r) {
      return fail(from_net(r.error(), "uplink_interface"));
    }
    if (auto r = links.set_up(n.uplink_interface); !r) return fail(from_net(r.error()));
    return {};
  }

  // Expects links_mu held. Every link whose name starts with one of `prefixes`, from one listing
  // of the host's links; a link that cannot be removed is logged and the others still go.
  std::vector<std::string> remove_links_with_prefix(const std::set<std::string>& prefixes) {
    std::vector<std::string> removed;
    if (prefixes.empty()) return removed;
    auto all = links.list();
    if (!all) {
      spdlog::error("cannot list links to remove TAPs: {}", all.error().message);
      return removed;
    }
    for (const LinkInfo& l : *all) {
      const bool match = std::any_of(prefixes.begin(), prefixes.end(),
                                     [&](const std::string& p) { return l.name.rfind(p, 0) == 0; });
      if (!match) continue;
      if (auto r = links.remove(l.name); !r) {
        spdlog::error("cannot remove TAP {}: {}", l.name, r.error().message);
        continue;
      }
      removed.push_back(l.name);
    }
    return removed;
  }

  // Expects links_mu held. Every "flt-<8 hex>-*" link of the VM.
  std::vector<std::string> remove_taps(const std::string& vm_id) {
    return remove_links_with_prefix({tap_prefix(vm_id)});
  }

  // Another VM of the store whose TAP names are vm_id's (their ids share the first 8 hex digits)
  // and whose monitor may hold them: any state but stopped and crashed, as at daemon start.
  NetworkResult<std::optional<storage::VmRecord>> tap_name_holder(const std::string& vm_id) {
    auto vms = store.list_vms();
    if (!vms) return fail(from_store(vms.error()));
    const std::string prefix = tap_prefix(vm_id);
    for (auto& other : *vms) {
      if (other.id == vm_id || !may_hold_taps(other) || tap_prefix(other.id) != prefix) continue;
      return std::optional<storage::VmRecord>(std::move(other));
    }
    return std::optional<storage::VmRecord>();
  }
};

NetworkManager::NetworkManager(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
NetworkManager::~NetworkManager() = default;

NetworkResult<std::unique_ptr<NetworkManager>> NetworkManager::create(
    storage::StateStore& store, const std::string& state_dir) {
  auto links = Links::open();
  if (!links) return fail(from_net(links.error()));
  auto impl =
      std::unique_ptr<Impl>(new Impl{store, {}, std::move(*links), {}, DhcpServers(state_dir)});
  return std::unique_ptr<NetworkManager>(new NetworkManager(std::move(impl)));
}

NetworkResult<storage::NetworkRecord> NetworkManager::create_network(const NetworkRequest& req) {
  std::lock_guard lock(impl_->links_mu);
  auto others = impl_->store.list_networks();
  if (!others) return fail(from_store(others.error()));
  auto n = validate(req, *others);
  if (!n) return n;
  for (const auto& o : *others) {
    if (o.name == req.name) {
      return fail(error(NetworkErrc::conflict,
                        "name: a network named '" + req.name + "' already exists on this host",
                        "name"));
    }
  }
  n->id = make_uuid();
  n->bridge = req.bridge.empty() ? "flb-" + first_hex(n->id, 8) : req.bridge;
  if (!valid_link_name(n->bridge)) {
    return fail(error(NetworkErrc::invalid_argument,
                      "bridge: '" + n->bridge + "' is not a valid interface name", "bridge"));
  }
  auto existing = impl_->links.find(n->bridge);
  if (!existing) return fail(from_net(existing.error()));
  n->bridge_adopted = existing->has_value();
  auto undo = [&] {
    if (!n->bridge_adopted) (void)impl_->links.remove(n->bridge);
  };
  if (auto r = impl_->ensure(*n); !r) {
    undo();
    NetworkError e = r.error();
    if (e.field.empty()) e.field = "bridge";
    return fail(std::move(e));
  }
  auto rec = impl_->store.create_network(*n);
  if (!rec) {
    undo();
    return fail(from_store(rec.error()));
  }
  impl_->serve_dhcp(*rec);
  spdlog::info("network {} ({}): bridge {} {} with {}{}", rec->name, rec->id, rec->bridge,
               rec->bridge_adopted ? "adopted" : "created", rec->cidr,
               rec->host_address.empty() ? "" : ", host address " + rec->host_address);
  return std::move(rec).value();
}

NetworkResult<void> NetworkManager::delete_network(const storage::NetworkRecord& network) {
  std::lock_guard lock(impl_->links_mu);
  if (auto r = impl_->store.delete_network(network.id); !r) return fail(from_store(r.error()));
  impl_->dhcp.stop(network);
  if (!network.bridge_adopted) {
    if (auto r = impl_->links.remove(network.bridge); !r) {
      spdlog::warn("network {}: deleted, but its bridge {} stays: {}", network.name, network.bridge,
                   r.error().message);
    }
  }
  return {};
}

std::unique_lock<std::mutex> NetworkManager::lease_lock() {
  return std::unique_lock(impl_->lease_mu);
}

NetworkResult<void> NetworkManager::assign_addresses(storage::VmSpec& spec,
                                                     const storage::VmRecord* current) {
  return assign_nic_addresses(impl_->store, spec, current);
}

NetworkResult<void> NetworkManager::check_tap_names(const storage::VmRecord& vm) {
  std::lock_guard lock(impl_->links_mu);
  return check_tap_names_locked(vm);
}

NetworkResult<void> NetworkManager::check_tap_names_locked(const storage::VmRecord& vm) {
  auto holder = impl_->tap_name_holder(vm.id);
  if (!holder) return fail(holder.error());
  if (!*holder) return {};
  const storage::VmRecord& other = **holder;
  return fail(error(NetworkErrc::conflict,
                    "nics: this VM's TAP names (" + tap_prefix(vm.id) + "<n>) are those of VM '" +
                        other.spec.name + "' (" + other.id +
                        "), whose id starts with the same 8 hex digits and which is " +
                        std::string(storage::to_string(other.actual)) +
                        "; start this VM once that one is stopped",
                    "nics"));
}

NetworkResult<std::vector<PluggedNic>> NetworkManager::plug(const storage::VmRecord& vm) {
  std::lock_guard lock(impl_->links_mu);
  // Checked before anything is removed: the names and the TAPs by them are the other VM's.
  if (auto ok = check_tap_names_locked(vm); !ok) return fail(ok.error());
  std::vector<PluggedNic> out;
  auto undo = [&] { impl_->remove_taps(vm.id); };
  (void)impl_->remove_taps(vm.id);  // a TAP of an earlier run the monitor no longer holds
  for (size_t i = 0; i < vm.spec.nics.size(); ++i) {
    const auto& nic = vm.spec.nics[i];
    const std::string field = "nics[" + std::to_string(i) + "]";
    if (nic.network_id.empty() || nic.mac.empty()) {
      undo();
      return fail(error(NetworkErrc::invalid_argument,
                        field + ": network '" + nic.network +
                            "' does not exist; give the VM its NICs again (PATCH nics)",
                        field));
    }
    auto net = impl_->store.get_network(nic.network_id);
    if (!net) {
      undo();
      return fail(error(NetworkErrc::invalid_argument, field + ": " + net.error().message, field));
    }
    PluggedNic p{tap_name(vm.id, static_cast<unsigned>(i)), nic.mac, "", nic.limits};
    if (auto range = parse_cidr(net->cidr); range && !nic.ip.empty()) {
      p.ip_cidr = nic.ip + "/" + std::to_string(range->prefix);
    }
    NetworkResult<void> made = impl_->ensure(*net);
    if (made) {
      if (auto r = create_persistent_tap(p.tap); !r) made = fail(from_net(r.error()));
    }
    if (made) {
      if (auto r = impl_->links.enslave(p.tap, net->bridge); !r) made = fail(from_net(r.error()));
    }
    if (made) {
      if (auto r = impl_->links.set_up(p.tap); !r) made = fail(from_net(r.error()));
    }
    if (!made) {
      undo();
      NetworkError e = made.error();
      e.message = field + " (network '" + net->name + "'): " + e.message;
      e.field = field;
      return fail(std::move(e));
    }
    out.push_back(std::move(p));
    if (i == 0 || nic.network_id != vm.spec.nics[i - 1].network_id) impl_->serve_dhcp(*net);
  }
  return out;
}

void NetworkManager::unplug(const std::string& vm_id) {
  std::lock_guard lock(impl_->links_mu);
  if (auto holder = impl_->tap_name_holder(vm_id); holder && *holder) {
    spdlog::warn("vm {}: TAPs {}* left alone: they are VM {}'s, which shares the names", vm_id,
                 tap_prefix(vm_id), (*holder)->id);
    return;
  }
  for (const auto& tap : impl_->remove_taps(vm_id)) spdlog::debug("vm {}: removed {}", vm_id, tap);
}

std::vector<std::string> NetworkManager::restore(const std::set<std::string>& running_vm_ids) {
  std::lock_guard lock(impl_->links_mu);
  std::vector<std::string> removed;
  if (auto nets = impl_->store.list_networks(); nets) {
    for (const auto& n : *nets) {
      if (auto r = impl_->ensure(n); !r) {
        spdlog::error("network {}: bridge {} not restored: {}", n.name, n.bridge,
                      r.error().message);
        continue;
      }
      impl_->serve_dhcp(n);
    }
  }
  auto vms = impl_->store.list_vms();
  if (!vms) return removed;
  // One listing of the links for every VM; a prefix a running VM shares is never stale.
  std::set<std::string> held;
  std::set<std::string> stale;
  for (const auto& vm : *vms) {
    (running_vm_ids.contains(vm.id) ? held : stale).insert(tap_prefix(vm.id));
  }
  for (const auto& prefix : held) stale.erase(prefix);
  return impl_->remove_links_with_prefix(stale);
}

std::string guest_address_args(const std::vector<PluggedNic>& nics) {
  std::string out;
  for (size_t i = 0; i < nics.size(); ++i) {
    if (nics[i].ip_cidr.empty()) continue;
    if (!out.empty()) out += ' ';
    out += (i == 0 ? std::string("ip=") : "ip" + std::to_string(i) + "=") + nics[i].ip_cidr;
  }
  return out;
}

}  // namespace flotilla::network
