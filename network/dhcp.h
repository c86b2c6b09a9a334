// Internal to network/: one dnsmasq per network that has a host address, serving DHCP only (DNS
// off) with a static lease per NIC (MAC → its leased IPv4 address), as libvirt does. Linux
// guests get their address this way; the probe guest reads it from its command line instead.
//
// dnsmasq daemonises itself (so it outlives flotillad, like the monitors, and a restarted
// flotillad adopts it through its pid file). Files: <dir>/<network id>/{hosts, leases,
// dnsmasq.pid, dnsmasq.log}.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "network/networks.h"

namespace flotilla::network {

struct DhcpHost {
  std::string mac;
  std::string ip;
};

class DhcpServers {
 public:
  explicit DhcpServers(std::string dir) : dir_(std::move(dir)) {}

  // Writes the network's hosts file and starts its dnsmasq, or makes the running one re-read
  // it (SIGHUP). A network without a host address has no DHCP server (nothing to do).
  NetworkResult<void> ensure(const storage::NetworkRecord& network,
                             const std::vector<DhcpHost>& hosts) const;
  // Stops the network's dnsmasq and removes its files.
  void stop(const storage::NetworkRecord& network) const;

 private:
  std::string dir_;
};

}  // namespace flotilla::network
