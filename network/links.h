// Links: the Linux bridges and TAP devices a host's networks are made of, managed over
// rtnetlink (libnl-route). One Links object owns one netlink socket; it is not thread-safe (the
// daemon uses it from one thread, or one per thread).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/unique_fd.h"
#include "network/addresses.h"
#include "network/error.h"

struct nl_sock;

namespace flotilla::network {

struct LinkCounters {
  uint64_t rx_packets = 0, rx_bytes = 0, rx_dropped = 0;
  uint64_t tx_packets = 0, tx_bytes = 0, tx_dropped = 0;
};

struct LinkInfo {
  std::string name;
  int index = 0;
  bool up = false;
  bool bridge = false;
  int master_index = 0;  // 0 = not enslaved
};

// Interface names: 1..15 bytes of [a-zA-Z0-9_.-], not "." or "..".
bool valid_link_name(const std::string& name);

class Links {
 public:
  static NetResult<Links> open();
  Links(Links&&) noexcept;
  Links& operator=(Links&&) noexcept;
  ~Links();

  // Creates the bridge, or adopts an existing one (another kind of link by that name is
  // kExists); brings it up and gives it host_address when set (an address already there is
  // kept).
  NetResult<LinkInfo> ensure_bridge(const std::string& name,
                                    const std::optional<Ipv4Cidr>& host_address);
  NetResult<std::optional<LinkInfo>> find(const std::string& name);
  NetResult<std::vector<LinkInfo>> list();
  NetResult<void> enslave(const std::string& link, const std::string& bridge);
  // A veth pair a <-> b, both brought up (benchmarks and tests).
  NetResult<void> create_veth(const std::string& a, const std::string& b);
  NetResult<void> set_up(const std::string& name);
  // Deleting a link that is already gone succeeds.
  NetResult<void> remove(const std::string& name);
  NetResult<LinkCounters> counters(const std::string& name);

 private:
  struct SockDeleter {
    void operator()(nl_sock* sock) const;
  };
  explicit Links(std::unique_ptr<nl_sock, SockDeleter> sock) : sock_(std::move(sock)) {}
  std::unique_ptr<nl_sock, SockDeleter> sock_;
};

// The TAP name of a VM's NIC: "flt-" + the first 8 hex digits of the VM id + "-" + NIC index
// (at most 15 bytes, IFNAMSIZ). The prefix marks the TAPs this host's daemon owns.
inline constexpr const char* kTapPrefix = "flt-";
std::string tap_name(const std::string& vm_id, unsigned nic_index);
// What every TAP name of that VM starts with: "flt-" + the first 8 hex digits of its id + "-".
// Two VMs whose ids share those digits share their TAP names.
std::string tap_prefix(const std::string& vm_id);

// Removes every link named kTapPrefix* that is not in `keep` (TAPs left behind by guests that
// died while the daemon was down). Returns the names removed.
NetResult<std::vector<std::string>> remove_stale_taps(Links& links,
                                                      const std::vector<std::string>& keep);

// A TAP device (IFF_TAP | IFF_NO_PI | IFF_VNET_HDR) made persistent so it outlives the fd that
// created it: the daemon creates it and attaches it to the bridge, the monitor opens it by name
// (open_tap) for the guest's lifetime, and the daemon removes it when the guest stops.
// Its transmit queue (frames waiting for the guest) holds kTapQueueLength frames.
inline constexpr int kTapQueueLength = 4096;
NetResult<void> create_persistent_tap(const std::string& name);
// Opens an existing TAP for I/O, with the 12-byte virtio-net header (virtio 1.x layout). A TAP
// that does not exist is kNotFound (it is never created here); one another process holds is
// kSystem (EBUSY).
NetResult<UniqueFd> open_tap(const std::string& name);

}  // namespace flotilla::network
