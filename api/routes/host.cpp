// /v1/host: what this host offers (the daemon supplies the facts, KVM from the host probe).
#include "api/routes/route_table.h"

namespace flotilla::api::routes {

namespace {

nlohmann::json kvm_to_json(const KvmInfo& k) {
  nlohmann::json caps = nlohmann::json::object();
  for (const auto& [name, value] : k.capabilities) {
    if (const bool* b = std::get_if<bool>(&value)) {
      caps[name] = *b;
    } else {
      caps[name] = std::get<int64_t>(value);
    }
  }
  return {{"available", k.available},
          {"api_version", k.api_version},
          {"flavour", k.flavour},
          {"capabilities", caps},
          {"error", k.error}};
}

ApiResult<ApiResponse> get_host(RequestContext& ctx) {
  if (!ctx.deps.host_info) return fail(api_error(ApiErrc::unavailable, "host facts not wired"));
  const HostInfo h = ctx.deps.host_info();
  return json_response(200, {{"hostname", h.hostname},
                             {"host_id", h.host_id},
                             {"cores", h.cores},
                             {"memory_bytes", h.memory_bytes},
                             {"cgroup_version", h.cgroup_version},
                             {"kvm", kvm_to_json(h.kvm)},
                             {"scheduler", h.scheduler}});
}

}  // namespace

void add_host_routes(RouteTable& t) {
  t.push_back({{"GET", "/v1/host", RouteClass::read}, "", false, get_host});
}

}  // namespace flotilla::api::routes
