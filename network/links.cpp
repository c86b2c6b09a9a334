#include "network/links.h"

#include <fcntl.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <netlink/netlink.h>
#include <netlink/route/addr.h>
#include <netlink/route/link.h>
#include <netlink/route/link/bridge.h>
#include <netlink/route/link/veth.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include <unistd.h>
#include <algorithm>

#include <cerrno>
#include <cstring>

namespace flotilla::network {
namespace {

struct LinkDeleter {
  void operator()(rtnl_link* link) const { rtnl_link_put(link); }
};
using LinkPtr = std::unique_ptr<rtnl_link, LinkDeleter>;

Unexpected<NetError> nl_failure(const std::string& what, int err) {
  return net_error(NetErrc::kSystem, what + ": " + nl_geterror(err));
}

LinkInfo info_of(rtnl_link* link) {
  LinkInfo info;
  info.name = rtnl_link_get_name(link);
  info.index = rtnl_link_get_ifindex(link);
  info.up = (rtnl_link_get_flags(link) & IFF_UP) != 0;
  const char* type = rtnl_link_get_type(link);
  info.bridge = type != nullptr && std::strcmp(type, "bridge") == 0;
  info.master_index = rtnl_link_get_master(link);
  return info;
}

NetResult<LinkPtr> get_link(nl_sock* sock, const std::string& name) {
  rtnl_link* link = nullptr;
  const int err = rtnl_link_get_kernel(sock, 0, name.c_str(), &link);
  if (err == -NLE_OBJ_NOTFOUND || err == -NLE_NODEV) {
    return net_error(NetErrc::kNotFound, "no network link named " + name);
  }
  if (err < 0) return nl_failure("looking up link " + name, err);
  return LinkPtr(link);
}

NetResult<void> add_address(nl_sock* sock, int ifindex, const Ipv4Cidr& cidr) {
  nl_addr* local = nullptr;
  if (int err = nl_addr_parse(cidr.to_string().c_str(), AF_INET, &local); err < 0) {
    return nl_failure("parsing " + cidr.to_string(), err);
  }
  rtnl_addr* addr = rtnl_addr_alloc();
  rtnl_addr_set_ifindex(addr, ifindex);
  rtnl_addr_set_local(addr, local);
  const int err = rtnl_addr_add(sock, addr, 0);
  rtnl_addr_put(addr);
  nl_addr_put(local);
  if (err < 0 && err != -NLE_EXIST) return nl_failure("adding address " + cidr.to_string(), err);
  return {};
}

}  // namespace

bool valid_link_name(const std::string& name) {
  if (name.empty() || name.size() > IFNAMSIZ - 1 || name == "." || name == "..") return false;
  for (char c : name) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '_' || c == '.' || c == '-';
    if (!ok) return false;
  }
  return true;
}

void Links::SockDeleter::operator()(nl_sock* sock) const {
  nl_socket_free(sock);
}

Links::Links(Links&&) noexcept = default;
Links& Links::operator=(Links&&) noexcept = default;
Links::~Links() = default;

NetResult<Links> Links::open() {
  std::unique_ptr<nl_sock, SockDeleter> sock(nl_socket_alloc());
  if (!sock) return net_error(NetErrc::kSystem, "cannot allocate a netlink socket");
  if (int err = nl_connect(sock.get(), NETLINK_ROUTE); err < 0) {
    return nl_failure("connecting to rtnetlink", err);
  }
  return Links(std::move(sock));
}

NetResult<std::optional<LinkInfo>> Links::find(const std::string& name) {
  auto link = get_link(sock_.get(), name);
  if (!link) {
    if (link.error().code == NetErrc::kNotFound) return std::optional<LinkInfo>{};
    return fail(link.error());
  }
  return std::optional<LinkInfo>(info_of(link->get()));
}

NetResult<std::vector<LinkInfo>> Links::list() {
  nl_cache* cache = nullptr;
  if (int err = rtnl_link_alloc_cache(sock_.get(), AF_UNSPEC, &cache); err < 0) {
    return nl_failure("listing links", err);
  }
  std::vector<LinkInfo> out;
  for (nl_object* o = nl_cache_get_first(cache); o != nullptr; o = nl_cache_get_next(o)) {
    out.push_back(info_of(reinterpret_cast<rtnl_link*>(o)));
  }
  nl_cache_free(cache);
  return out;
}

NetResult<LinkInfo> Links::ensure_bridge(const std::string& name,
                                         const std::optional<Ipv4Cidr>& host_address) {
  if (!valid_link_name(name)) {
    return net_error(NetErrc::kInvalid, "\"" + name + "\" is not a valid interface name");
  }
  auto existing = find(name);
  if (!existing) return fail(existing.error());
  if (*existing && !(*existing)->bridge) {
    return net_error(NetErrc::kExists, "link " + name + " exists and is not a bridge");
  }
  if (!*existing) {
    LinkPtr bridge(rtnl_link_bridge_alloc());
    rtnl_link_set_name(bridge.get(), name.c_str());
    if (int err = rtnl_link_add(sock_.get(), bridge.get(), NLM_F_CREATE | NLM_F_EXCL); err < 0) {
      return nl_failure("creating bridge " + name, err);
    }
  }
  if (auto up = set_up(name); !up) return fail(up.error());
  auto link = get_link(sock_.get(), name);
  if (!link) return fail(link.error());
  if (host_address) {
    if (auto added = add_address(sock_.get(), rtnl_link_get_ifindex(link->get()), *host_address);
        !added) {
      return fail(added.error());
    }
  }
  return info_of(link->get());
}

NetResult<void> Links::set_up(const std::string& name) {
  auto link = get_link(sock_.get(), name);
  if (!link) return fail(link.error());
  LinkPtr change(rtnl_link_alloc());
  rtnl_link_set_flags(change.get(), IFF_UP);
  if (int err = rtnl_link_change(sock_.get(), link->get(), change.get(), 0); err < 0) {
    return nl_failure("bringing " + name + " up", err);
  }
  return {};
}

NetResult<void> Links::enslave(const std::string& name, const std::string& bridge) {
  auto link = get_link(sock_.get(), name);
  if (!link) return fail(link.error());
  auto master = get_link(sock_.get(), bridge);
  if (!master) return fail(master.error());
  if (int err = rtnl_link_enslave(sock_.get(), master->get(), link->get()); err < 0) {
    return nl_failure("attaching " + name + " to " + bridge, err);
  }
  return set_up(name);
}

NetResult<void> Links::create_veth(const std::string& a, const std::string& b) {
  if (!valid_link_name(a) || !valid_link_name(b)) {
    return net_error(NetErrc::kInvalid,
                     "\"" + a + "\"/\"" + b + "\" are not valid interface names");
  }
  if (int err = rtnl_link_veth_add(sock_.get(), a.c_str(), b.c_str(), ::getpid()); err < 0) {
    return nl_failure("creating veth " + a + "/" + b, err);
  }
  if (auto up = set_up(a); !up) return up;
  return set_up(b);
}

NetResult<void> Links::remove(const std::string& name) {
  auto link = get_link(sock_.get(), name);
  if (!link)
    return link.error().code == NetErrc::kNotFound ? NetResult<void>{} : fail(link.error());
  const int err = rtnl_link_delete(sock_.get(), link->get());
  if (err < 0 && err != -NLE_OBJ_NOTFOUND && err != -NLE_NODEV) {
    return nl_failure("deleting link " + name, err);
  }
  return {};
}

NetResult<LinkCounters> Links::counters(const std::string& name) {
  auto link = get_link(sock_.get(), name);
  if (!link) return fail(link.error());
  rtnl_link* l = link->get();
  LinkCounters c;
  c.rx_packets = rtnl_link_get_stat(l, RTNL_LINK_RX_PACKETS);
  c.rx_bytes = rtnl_link_get_stat(l, RTNL_LINK_RX_BYTES);
  c.rx_dropped = rtnl_link_get_stat(l, RTNL_LINK_RX_DROPPED);
  c.tx_packets = rtnl_link_get_stat(l, RTNL_LINK_TX_PACKETS);
  c.tx_bytes = rtnl_link_get_stat(l, RTNL_LINK_TX_BYTES);
  c.tx_dropped = rtnl_link_get_stat(l, RTNL_LINK_TX_DROPPED);
  return c;
}

namespace {

NetResult<UniqueFd> tun_set(const std::string& name, bool persist) {
  if (!valid_link_name(name)) {
    return net_error(NetErrc::kInvalid, "\"" + name + "\" is not a valid interface name");
  }
  UniqueFd fd(::open("/dev/net/tun", O_RDWR | O_CLOEXEC | O_NONBLOCK));
  if (!fd) {
    return net_error(NetErrc::kSystem, std::string("/dev/net/tun: ") + std::strerror(errno));
  }
  ifreq req{};
  std::strncpy(req.ifr_name, name.c_str(), IFNAMSIZ - 1);
  req.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR;
  if (::ioctl(fd.get(), TUNSETIFF, &req) != 0) {
    return net_error(NetErrc::kSystem, "TUNSETIFF " + name + ": " + std::strerror(errno));
  }
  if (persist && ::ioctl(fd.get(), TUNSETPERSIST, 1) != 0) {
    return net_error(NetErrc::kSystem, "TUNSETPERSIST " + name + ": " + std::strerror(errno));
  }
  return fd;
}

}  // namespace

std::string tap_prefix(const std::string& vm_id) {
  std::string hex;
  for (char c : vm_id) {
    if (hex.size() == 8) break;
    if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')) hex.push_back(c);
  }
  return std::string(kTapPrefix) + hex + "-";
}

std::string tap_name(const std::string& vm_id, unsigned nic_index) {
  return tap_prefix(vm_id) + std::to_string(nic_index % 100);
}

NetResult<std::vector<std::string>> remove_stale_taps(Links& links,
                                                      const std::vector<std::string>& keep) {
  auto all = links.list();
  if (!all) return fail(all.error());
  std::vector<std::string> removed;
  for (const LinkInfo& l : *all) {
    if (l.name.rfind(kTapPrefix, 0) != 0) continue;
    if (std::find(keep.begin(), keep.end(), l.name) != keep.end()) continue;
    if (auto r = links.remove(l.name); !r) return fail(r.error());
    removed.push_back(l.name);
  }
  return removed;
}

NetResult<void> create_persistent_tap(const std::string& name) {
  auto fd = tun_set(name, true);
  if (!fd) return fail(fd.error());
  // Frames for the guest wait in this queue while its monitor is not scheduled; the kernel's
  // default (500) is 6 ms at 1 Gbit/s, shorter than a busy host's scheduling hiccups.
  UniqueFd sock(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  ifreq req{};
  std::strncpy(req.ifr_name, name.c_str(), IFNAMSIZ - 1);
  req.ifr_qlen = kTapQueueLength;
  if (!sock || ::ioctl(sock.get(), SIOCSIFTXQLEN, &req) != 0) {
    return net_error(NetErrc::kSystem, "SIOCSIFTXQLEN " + name + ": " + std::strerror(errno));
  }
  return {};
}

NetResult<UniqueFd> open_tap(const std::string& name) {
  // TUNSETIFF would quietly create a missing TAP, one no bridge knows about: refuse instead.
  if (valid_link_name(name) && ::if_nametoindex(name.c_str()) == 0) {
    return net_error(NetErrc::kNotFound, "no TAP named " + name);
  }
  auto fd = tun_set(name, false);
  if (!fd) return fd;
  int header = 12;  // struct virtio_net_hdr_v1 (num_buffers included), as virtio 1.x uses
  if (::ioctl(fd->get(), TUNSETVNETHDRSZ, &header) != 0) {
    return net_error(NetErrc::kSystem, "TUNSETVNETHDRSZ " + name + ": " + std::strerror(errno));
  }
  return fd;
}

}  // namespace flotilla::network
