// Api: the whole request path without a socket — request id, routing, auth, validation, the
// handlers, the audit log, metrics and the access log. The HTTP server (api/server.h) feeds it
// requests; tests and the fuzz target call it directly (handle_for_test).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "api/api_types.h"
#include "api/vm_control.h"
#include "storage/model.h"
#include "storage/state_store.h"

namespace flotilla::storage {
class StateStore;
namespace pools {
class PoolManager;
}
}  // namespace flotilla::storage

namespace flotilla::network {
class NetworkManager;
}  // namespace flotilla::network

namespace flotilla::api {

// KVM facts for /v1/host, as the host probe reports them.
struct KvmInfo {
  bool available = false;
  int api_version = 0;
  std::string flavour = "none";  // vmx | svm | pvm | unknown | none
  std::vector<std::pair<std::string, std::variant<bool, int64_t>>> capabilities;
  std::string error;  // why not available, or ""
};

struct HostInfo {
  std::string hostname;
  std::string host_id;
  int64_t cores = 0;
  int64_t memory_bytes = 0;
  int cgroup_version = 0;  // 1, 2, or 0 when unknown
  KvmInfo kvm;
  // The scheduler's inventory (cores dedicated or shared, memory reserved, shared and
  // overcommitted, per VM); null when the daemon has no scheduler.
  nlohmann::json scheduler;
};

// Who may call a route. Each role includes the ones before it.
enum class RouteClass {
  open,     // no token (healthz, openapi)
  read,     // viewer+
  console,  // helpdesk+
  manage,   // operator+
  admin,    // admin
};
std::string_view to_string(RouteClass c);
// The least role a route class needs (open: none; callers check open first).
storage::Role min_role(RouteClass c);
bool role_allows(storage::Role role, RouteClass c);

// One entry of the route table (exposed for the OpenAPI conformance test).
struct RouteInfo {
  std::string method;
  std::string pattern;  // "/v1/vms/{id}"
  RouteClass route_class;
};

struct ApiDeps {
  storage::StateStore* store = nullptr;  // not owned; outlives the Api
  std::function<HostInfo()> host_info;   // called per GET /v1/host
  std::function<int64_t()> now_ms;       // injected clock (unix ms); default: system clock
  VmControl* vms = nullptr;  // not owned; null: lifecycle, console and stats routes answer 503
  // Disk pools (not owned); null: pool and disk changes answer 503.
  storage::pools::PoolManager* pools = nullptr;
  // Networks and NIC leases (not owned); null: network changes and VMs with NICs answer 503.
  network::NetworkManager* networks = nullptr;
  // Queues an asynchronous operation (the daemon's OperationRunner); null: imports answer 503.
  // work(progress) returns "" on success or the error text.
  using OperationWork = std::function<std::string(const std::function<void(int)>& progress)>;
  std::function<storage::StoreResult<storage::OperationRecord>(
      const std::string& kind, const std::string& target, OperationWork work)>
      submit_operation = {};
};

class Metrics;

class Api {
 public:
  static std::unique_ptr<Api> create(ApiDeps deps);
  ~Api();
  Api(const Api&) = delete;
  Api& operator=(const Api&) = delete;

  // Handles one request. Never throws; bad input is a 4xx, host faults a 5xx.
  ApiResponse handle(const ApiRequest& request);

  // Responses the transport makes itself (413 over the body limit, 503 over the connection
  // cap, ...) go through here so they get a request id, a metric and an access log line.
  ApiResponse transport_error(std::string_view method, const ApiError& error);

  const std::vector<RouteInfo>& routes() const;
  Metrics& metrics();

 private:
  struct Impl;
  explicit Api(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// The routing entry for tests and the fuzzer: builds an ApiRequest and calls api.handle().
ApiResponse handle_for_test(Api& api, std::string_view method, std::string_view target,
                            std::string_view body = {},
                            std::string_view content_type = "application/json",
                            std::string_view authorization = {});

// A new random bearer token: "flt_" + base64url(32 random bytes), 47 characters.
std::string generate_token();
// Lower-case hex SHA-256 of a token (what the store keeps).
std::string token_sha256_hex(std::string_view token);

}  // namespace flotilla::api
