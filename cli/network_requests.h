// Networks and VM NICs: command arguments → REST requests (team/NETWORK.md). Pure functions.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "cli/http_client.h"

namespace flotilla::cli {

struct NetworkCreateArgs {
  std::string name;
  std::string cidr;  // "10.0.0.1/24": the host gets .1 on the bridge
  std::optional<std::string> bridge;
  std::optional<std::string> uplink_interface;  // given: an uplink network
};
HttpRequest network_create_request(const NetworkCreateArgs& args);
HttpRequest network_list_request();
HttpRequest network_show_request(std::string_view name_or_id);
HttpRequest network_delete_request(std::string_view name_or_id);

struct NicAttachArgs {
  std::string vm;
  std::string network;
  std::optional<std::string> mac;
  std::optional<std::string> ip;
};
HttpRequest vm_nic_attach_request(const NicAttachArgs& args);
HttpRequest vm_nic_detach_request(std::string_view vm, unsigned index);

// Only the limits given change (per second; 0 = unlimited).
struct NicLimitArgs {
  std::optional<std::uint64_t> rx_bytes, rx_packets, tx_bytes, tx_packets;
};
HttpRequest vm_nic_limits_request(std::string_view vm, unsigned index, const NicLimitArgs& args);

}  // namespace flotilla::cli
