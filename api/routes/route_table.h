// Internal to api/: the route table the resource files fill, and the context a handler gets.
// Handlers see a parsed request (path parameters, body, token), never a socket.
#pragma once

#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "api/api.h"
#include "api/metrics.h"
#include "network/networks.h"
#include "storage/model.h"
#include "storage/pools/pools.h"
#include "storage/state_store.h"

namespace flotilla::api::routes {

struct RequestContext {
  const ApiRequest& request;
  ApiDeps& deps;
  Metrics& metrics;
  std::vector<std::string> params;            // path parameters in pattern order
  std::optional<storage::TokenRecord> token;  // set for every route but open ones
  std::string audit_target;                   // mutating handlers name what they touched
  std::string request_id;
  int64_t now_ms = 0;
};

using Handler = std::function<ApiResult<ApiResponse>(RequestContext&)>;

struct Route {
  RouteInfo info;
  std::string action;     // audit action for mutating routes ("vm.create"), "" for reads
  bool has_body = false;  // a JSON body is expected (Content-Type checked → 415)
  Handler handler;
};

using RouteTable = std::vector<Route>;

void add_system_routes(RouteTable& table);
void add_host_routes(RouteTable& table);
void add_vm_routes(RouteTable& table);
void add_vm_action_routes(RouteTable& table);
void add_operation_routes(RouteTable& table);
void add_token_routes(RouteTable& table);
void add_console_routes(RouteTable& table);  // console.cpp
void add_pool_routes(RouteTable& table);     // pools.cpp
void add_disk_routes(RouteTable& table);     // disks.cpp: disks, import, VM attach/detach
void add_network_routes(RouteTable& table);  // networks.cpp: networks, VM NICs

// The console routes (console.cpp); the WebSocket one also takes ?access_token= (api.cpp).
inline constexpr std::string_view kConsoleRoute = "/v1/vms/{id}/console";
inline constexpr std::string_view kConsoleWsRoute = "/v1/vms/{id}/console/ws";

// Helpers shared by the route files.
ApiResponse json_response(int status, const nlohmann::json& body);
ApiResponse no_content();
ApiError from_store(const storage::StoreError& e, std::string field = {});
std::string rfc3339(int64_t unix_ms);
nlohmann::json vm_to_json(const storage::VmRecord& vm);
nlohmann::json nic_to_json(const storage::NicAttachment& nic);
nlohmann::json nic_limits_to_json(const storage::NicLimits& limits);
nlohmann::json operation_to_json(const storage::OperationRecord& op);
nlohmann::json token_to_json(const storage::TokenRecord& t);
// Pools and disks (pools.cpp, disks.cpp).
ApiError from_pool(const storage::pools::PoolError& e);
ApiResult<storage::pools::PoolManager*> pool_manager(RequestContext& ctx);
// The pool `ref` names (id or name): 404 without a field, 422 naming `field` with one.
ApiResult<storage::PoolRecord> resolve_pool(RequestContext& ctx, const std::string& ref,
                                            const std::string& field);
nlohmann::json pool_to_json(RequestContext& ctx, const storage::PoolRecord& p);

// Networks (networks.cpp). lease_nics fills the NICs' network ids, MACs and IPs of `spec`
// (keeping those of `current`'s NICs, null on create) and returns the lease lock to hold until
// the spec is stored; a spec without NICs needs no lock and no network manager.
ApiError from_network(const network::NetworkError& e);
ApiResult<std::unique_lock<std::mutex>> lease_nics(RequestContext& ctx, storage::VmSpec& spec,
                                                   const storage::VmRecord* current);

// The VM a path parameter names (a UUID or a name), 404 when there is none.
ApiResult<storage::VmRecord> resolve_vm(RequestContext& ctx, const std::string& id_or_name);

}  // namespace flotilla::api::routes
