// The body of POST /v1/networks.
#include "api/parsing/field_reader.h"
#include "api/request_parsing.h"

namespace flotilla::api {

using namespace parsing;  // NOLINT: the readers are this file's vocabulary

namespace {

Status apply_network(const Json& j, NetworkCreateRequest& r) {
  FLT_RETURN_IF_ERROR(expect_object(j, ""));
  FLT_RETURN_IF_ERROR(check_keys(j, "", {"name", "cidr", "bridge", "mode", "uplink_interface"}));
  if (!j.contains("name")) return invalid("name", "is required");
  FLT_RETURN_IF_ERROR(read_name(j["name"], "name", r.name));
  if (!j.contains("cidr")) return invalid("cidr", "is required, like 10.0.0.1/24");
  FLT_RETURN_IF_ERROR(read_string(j["cidr"], "cidr", 18, r.cidr));
  if (auto it = j.find("bridge"); it != j.end() && !it->is_null()) {
    FLT_RETURN_IF_ERROR(read_string(*it, "bridge", 15, r.bridge));
  }
  if (auto it = j.find("mode"); it != j.end()) {
    const auto mode = it->is_string()
                          ? storage::network_mode_from_string(it->get_ref<const std::string&>())
                          : std::nullopt;
    if (!mode) return invalid("mode", "must be one of isolated, uplink");
    r.mode = *mode;
  }
  if (auto it = j.find("uplink_interface"); it != j.end() && !it->is_null()) {
    FLT_RETURN_IF_ERROR(read_string(*it, "uplink_interface", 15, r.uplink_interface));
  }
  return std::nullopt;
}

}  // namespace

ApiResult<NetworkCreateRequest> parse_network_create(std::string_view body) {
  auto json = parse_json_body(body);
  if (!json) return fail(json.error());
  NetworkCreateRequest r;
  if (auto s = apply_network(*json, r)) return fail(std::move(*s));
  return r;
}

}  // namespace flotilla::api
