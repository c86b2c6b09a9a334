// NetworkManager: the daemon's networks. A network is a Linux bridge (created, or adopted when
// the user names an existing one) with an IPv4 range; each VM NIC on it leases a MAC (unique on
// this host, Flotilla's prefix 02:f1:0a unless the user picks one) and an IPv4 address from the
// range, both kept in the state store for the NIC's life. While a VM runs, each NIC is a
// persistent TAP "flt-<8 hex of the VM id>-<n>" enslaved to its bridge, made before the monitor
// starts and removed at any end of it; at daemon start TAPs of this store's VMs that no running
// monitor holds are removed. A network with a host address also runs a DHCP-only dnsmasq that
// hands each NIC its leased address (for Linux guests; network/dhcp.h).
//
// Thread-safe: netlink work is serialised on one socket; address leasing is serialised by
// lease_lock(), which the caller holds from assign_addresses() until its store write commits.
#pragma once

#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "common/result.h"
#include "storage/model.h"
#include "storage/state_store.h"

namespace flotilla::network {

enum class NetworkErrc {
  invalid_argument,  // 422: bad CIDR, an address outside the range, an interface that is missing
  not_found,         // 404 (no field) / 422 (a field naming it)
  conflict,          // 409: name taken, overlapping range, MAC or IP taken, range full
  invalid_state,     // 409: in use
  system,            // 500: the kernel or the store failed
};

struct NetworkError {
  NetworkErrc code = NetworkErrc::system;
  std::string message;
  std::string field;  // JSON path of the offending input, or ""
};

template <class T>
using NetworkResult = Result<T, NetworkError>;

struct NetworkRequest {
  std::string name;
  // The range with the bridge's own address: "10.0.0.1/24" (host bits set: the host gets that
  // address on the bridge) or "10.0.0.0/24" (no host address).
  std::string cidr;
  std::string bridge;  // "" → "flb-<8 hex of the id>", created; else adopted if it exists
  storage::NetworkMode mode = storage::NetworkMode::isolated;
  std::string uplink_interface;  // uplink mode: a host interface enslaved to the bridge
};

// One NIC as the monitor gets it (vm.json "nics", team/NETWORK.md).
struct PluggedNic {
  std::string tap;
  std::string mac;
  std::string ip_cidr;  // "10.0.0.5/24" for the guest's command line, or ""
  storage::NicLimits limits;
};

class NetworkManager {
 public:
  // `state_dir` holds each network's DHCP server files (network/dhcp.h).
  static NetworkResult<std::unique_ptr<NetworkManager>> create(storage::StateStore& store,
                                                               const std::string& state_dir);
  ~NetworkManager();
  NetworkManager(const NetworkManager&) = delete;
  NetworkManager& operator=(const NetworkManager&) = delete;

  // Validates (CIDR, overlap with this host's other networks, name), creates or adopts the
  // bridge with its host address, enslaves the uplink, then records it. Nothing is left behind
  // on failure.
  NetworkResult<storage::NetworkRecord> create_network(const NetworkRequest& request);
  // Refused while NICs use it; removes the bridge unless it was adopted.
  NetworkResult<void> delete_network(const storage::NetworkRecord& network);

  // Serialises leasing: hold it across assign_addresses() and the store write of the spec.
  [[nodiscard]] std::unique_lock<std::mutex> lease_lock();
  // Resolves each NIC's network (by id or name), and keeps, checks or leases its MAC and IP.
  // `current` is the VM being updated (its NICs keep their addresses by index when the spec
  // leaves them empty, and do not count as taken), or null on create.
  NetworkResult<void> assign_addresses(storage::VmSpec& spec, const storage::VmRecord* current);

  // Before a monitor starts: ensures each NIC's bridge and creates its TAP on it. On failure
  // the TAPs made so far are removed. Refused (conflict, nothing touched) while another VM of
  // the store whose id starts with the same 8 hex digits, so whose TAPs have the same names, is
  // in any state but stopped or crashed.
  NetworkResult<std::vector<PluggedNic>> plug(const storage::VmRecord& vm);
  // The same refusal as plug() makes for TAP names another VM holds, without touching anything
  // (the supervisor asks before a start so the API can answer 409).
  NetworkResult<void> check_tap_names(const storage::VmRecord& vm);
  // After a monitor ends (any way): removes the VM's TAPs. Missing TAPs are fine; TAPs by those
  // names that such another VM may hold are left alone.
  void unplug(const std::string& vm_id);
  // Daemon start: re-creates missing bridges (a host reboot drops them) and removes the TAPs of
  // this store's VMs not in `running_vm_ids` (never names a running VM shares), from one
  // listing of the host's links. Returns the TAPs removed.
  std::vector<std::string> restore(const std::set<std::string>& running_vm_ids);

 private:
  struct Impl;
  explicit NetworkManager(std::unique_ptr<Impl> impl);
  NetworkResult<void> check_tap_names_locked(const storage::VmRecord& vm);
  std::unique_ptr<Impl> impl_;
};

// The kernel command line words that tell the guest its addresses: "ip=A/N" for NIC 0,
// "ip1=A/N" for NIC 1, ... (team/NETWORK.md), space-separated; "" when no NIC has one.
std::string guest_address_args(const std::vector<PluggedNic>& nics);

}  // namespace flotilla::network
