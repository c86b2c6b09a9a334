// One virtio-net NIC of the monitor's definition (team/NETWORK.md): the TAP it is attached to
// (created and bridged by flotillad, opened here by name), its MAC, and its rate limits.
// Slot order: rng, disks, then NICs.
#pragma once

#include <nlohmann/json_fwd.hpp>
#include <string>
#include <vector>

#include "network/addresses.h"
#include "vmm/devices/virtio/net/rate_limiter.h"
#include "vmm/kvm/error.h"

namespace flotilla::vmm {

struct NicConfig {
  std::string tap;
  network::MacAddress mac;
  virtio::RateLimit rx;  // host → guest
  virtio::RateLimit tx;  // guest → host
};

// Interrupts reach only virtio slots 0-7 (GSI 16-23); NICs need them for Linux guests.
inline constexpr size_t kMaxNics = 8;

// vm.json: {"tap":"flt-..","mac":"02:..","rx":{"bytes_per_sec":N,"packets_per_sec":N},"tx":{..}}
VmmResult<NicConfig> parse_nic_json(const nlohmann::json& j, size_t index);
// --nic TAP,mac=MAC[,rx_bytes=N][,rx_packets=N][,tx_bytes=N][,tx_packets=N]
VmmResult<NicConfig> parse_nic_flag(const std::string& text);
// {"bytes_per_sec":N,"packets_per_sec":N}; `where` names it in errors.
VmmResult<virtio::RateLimit> parse_rate_limit_json(const nlohmann::json& j,
                                                   const std::string& where);
nlohmann::json rate_limit_json(const virtio::RateLimit& limit);
// Unique MACs and TAP names, at most kMaxNics, and every TAP opens (it exists and is free).
VmmResult<void> validate_nics(const std::vector<NicConfig>& nics);

}  // namespace flotilla::vmm
