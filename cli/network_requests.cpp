#include "cli/network_requests.h"

#include <nlohmann/json.hpp>

namespace flotilla::cli {
namespace {

using nlohmann::json;

std::string network_target(std::string_view name_or_id) {
  return "/v1/networks/" + encode_path_segment(name_or_id);
}

std::string nic_target(std::string_view vm, unsigned index) {
  return "/v1/vms/" + encode_path_segment(vm) + "/nics/" + std::to_string(index);
}

void put_rate(json& limits, const char* dir, const std::optional<std::uint64_t>& bytes,
              const std::optional<std::uint64_t>& packets) {
  if (!bytes && !packets) return;
  json& d = limits[dir];
  if (bytes) d["bytes_per_sec"] = *bytes;
  if (packets) d["packets_per_sec"] = *packets;
}

}  // namespace

HttpRequest network_create_request(const NetworkCreateArgs& a) {
  json body = {{"name", a.name}, {"cidr", a.cidr}};
  if (a.bridge) body["bridge"] = *a.bridge;
  if (a.uplink_interface) {
    body["mode"] = "uplink";
    body["uplink_interface"] = *a.uplink_interface;
  }
  return make_request("POST", "/v1/networks", body.dump());
}

HttpRequest network_list_request() {
  return make_request("GET", "/v1/networks");
}
HttpRequest network_show_request(std::string_view name_or_id) {
  return make_request("GET", network_target(name_or_id));
}
HttpRequest network_delete_request(std::string_view name_or_id) {
  return make_request("DELETE", network_target(name_or_id));
}

HttpRequest vm_nic_attach_request(const NicAttachArgs& a) {
  json body = {{"network", a.network}};
  if (a.mac) body["mac"] = *a.mac;
  if (a.ip) body["ip"] = *a.ip;
  return make_request("POST", "/v1/vms/" + encode_path_segment(a.vm) + "/nics", body.dump());
}

HttpRequest vm_nic_detach_request(std::string_view vm, unsigned index) {
  return make_request("DELETE", nic_target(vm, index));
}

HttpRequest vm_nic_limits_request(std::string_view vm, unsigned index, const NicLimitArgs& a) {
  json limits = json::object();
  put_rate(limits, "rx", a.rx_bytes, a.rx_packets);
  put_rate(limits, "tx", a.tx_bytes, a.tx_packets);
  return make_request("PATCH", nic_target(vm, index), json{{"limits", limits}}.dump());
}

}  // namespace flotilla::cli
