// Api::handle: request id → route match (404/405) → auth (401/403) → content type (415) →
// handler → audit log, metrics, access log. Exceptions never leave this file.
#include "api/api.h"

#include <openssl/rand.h>
#include <spdlog/spdlog.h>

#include <chrono>
#include <cstdlib>

#include "api/auth.h"
#include "api/request_parsing.h"
#include "api/routes/route_table.h"
#include "api/routing.h"

namespace flotilla::api {

using routes::RequestContext;
using routes::Route;

struct Api::Impl {
  ApiDeps deps;
  Metrics metrics;
  TokenCache tokens;
  routes::RouteTable table;
  std::vector<RouteInfo> infos;

  ApiResponse dispatch(const ApiRequest& req, const std::string& id, std::string& route_name);
  ApiResponse run(const Route& route, RequestContext& ctx);
  void audit(const Route& route, const RequestContext& ctx, const ApiResponse& resp);
  void finish(ApiResponse& resp, std::string_view method, std::string route,
              std::chrono::steady_clock::time_point t0);
};

namespace {

// Unique, not secret: splitmix64 over a per-thread counter seeded once from the OS (a DRBG
// call per request showed in the profile).
std::string new_request_id() {
  thread_local uint64_t state = [] {
    uint64_t seed = 0;
    if (RAND_bytes(reinterpret_cast<unsigned char*>(&seed), sizeof seed) != 1) {
      std::abort();  // no randomness: a broken host
    }
    return seed;
  }();
  uint64_t z = (state += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  z ^= z >> 31;
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out(16, '0');
  for (int i = 15; i >= 0; --i, z >>= 4) out[static_cast<size_t>(i)] = kHex[z & 0xf];
  return out;
}

std::string_view method_label(std::string_view m) {
  for (std::string_view known : {"GET", "POST", "PATCH", "PUT", "DELETE", "HEAD", "OPTIONS"}) {
    if (m == known) return known;
  }
  return "other";
}

int64_t system_now_ms() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

}  // namespace

ApiResponse Api::Impl::run(const Route& route, RequestContext& ctx) {
  try {
    auto r = route.handler(ctx);
    if (!r) return error_response(r.error());
    return std::move(r).value();
  } catch (const std::exception& e) {
    spdlog::error("handler {} {} threw: {}", route.info.method, route.info.pattern, e.what());
  } catch (...) {
    spdlog::error("handler {} {} threw", route.info.method, route.info.pattern);
  }
  return error_response(api_error(ApiErrc::internal, "internal error"));
}

ApiResponse Api::Impl::dispatch(const ApiRequest& req, const std::string& id,
                                std::string& route_name) {
  auto match = match_route(table, req.method, req.target);
  if (!match.route) {
    ApiResponse r = error_response(match.error);
    if (!match.allow.empty()) r.headers.emplace_back("Allow", match.allow);
    return r;
  }
  const Route& route = *match.route;
  route_name = route.info.pattern;
  RequestContext ctx{req,          deps, metrics, std::move(match.params),
                     std::nullopt, {},   id,      deps.now_ms()};
  ApiResponse resp;
  if (route.info.route_class != RouteClass::open) {
    // Browsers cannot set headers on a WebSocket: the console socket also takes the token as
    // ?access_token= (only there, and only without an Authorization header).
    std::string authorization(req.header("authorization"));
    if (authorization.empty() && route.info.pattern == routes::kConsoleWsRoute) {
      auto t = query_param(req.target, "access_token");
      if (t && *t) authorization = "Bearer " + **t;
    }
    auto token = authenticate(*deps.store, tokens, authorization, ctx.now_ms);
    if (!token) {
      resp = error_response(token.error());
      resp.headers.emplace_back("WWW-Authenticate", "Bearer");
    } else if (ctx.token = std::move(token).value();
               !role_allows(ctx.token->role, route.info.route_class)) {
      resp = error_response(api_error(
          ApiErrc::forbidden, "role '" + std::string(storage::to_string(ctx.token->role)) +
                                  "' may not " + route.info.method + " " + route.info.pattern +
                                  " (needs " + std::string(to_string(route.info.route_class)) +
                                  ")"));
    }
  }
  if (resp.status == 200 && route.has_body && !is_json_content_type(req.header("content-type"))) {
    resp = error_response(api_error(ApiErrc::unsupported_media_type,
                                    "Content-Type must be application/json", "Content-Type"));
  }
  if (resp.status == 200) resp = run(route, ctx);
  if (!route.action.empty()) audit(route, ctx, resp);
  return resp;
}

void Api::Impl::audit(const Route& route, const RequestContext& ctx, const ApiResponse& resp) {
  storage::AuditEntry e;
  e.at = ctx.now_ms;
  e.actor = ctx.token ? ctx.token->name : "anonymous";
  e.action = route.action;
  e.target = !ctx.audit_target.empty() ? ctx.audit_target
             : ctx.params.empty()      ? std::string()
                                       : ctx.params[0];
  e.result = resp.status < 400 ? "ok" : std::to_string(resp.status);
  e.request_id = ctx.request_id;
  if (auto r = deps.store->append_audit(e); !r) {
    spdlog::error("audit log append failed: {}", r.error().message);
  }
}

void Api::Impl::finish(ApiResponse& resp, std::string_view method, std::string route,
                       std::chrono::steady_clock::time_point t0) {
  const auto us =
      std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - t0);
  resp.route = route;
  metrics.record_request(route, method_label(method), resp.status, us);
  spdlog::info("access id={} method={} route={} status={} latency_us={}", resp.request_id,
               method_label(method), route, resp.status, us.count());
}

Api::Api(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Api::~Api() = default;

std::unique_ptr<Api> Api::create(ApiDeps deps) {
  auto impl = std::make_unique<Impl>();
  if (!deps.now_ms) deps.now_ms = system_now_ms;
  impl->deps = std::move(deps);
  routes::add_system_routes(impl->table);
  routes::add_host_routes(impl->table);
  routes::add_vm_routes(impl->table);
  routes::add_vm_action_routes(impl->table);
  routes::add_operation_routes(impl->table);
  routes::add_token_routes(impl->table);
  routes::add_console_routes(impl->table);
  routes::add_pool_routes(impl->table);
  routes::add_disk_routes(impl->table);
  routes::add_network_routes(impl->table);
  for (const auto& r : impl->table) impl->infos.push_back(r.info);
  return std::unique_ptr<Api>(new Api(std::move(impl)));
}

ApiResponse Api::handle(const ApiRequest& request) {
  const auto t0 = std::chrono::steady_clock::now();
  std::string route = "unmatched";
  const std::string id = new_request_id();
  ApiResponse resp;
  try {
    resp = impl_->dispatch(request, id, route);
  } catch (...) {
    resp = error_response(api_error(ApiErrc::internal, "internal error"));
  }
  resp.request_id = id;
  impl_->finish(resp, request.method, route, t0);
  return resp;
}

ApiResponse Api::transport_error(std::string_view method, const ApiError& error) {
  const auto t0 = std::chrono::steady_clock::now();
  ApiResponse resp = error_response(error);
  resp.request_id = new_request_id();
  resp.close = true;
  impl_->finish(resp, method, "unmatched", t0);
  return resp;
}

const std::vector<RouteInfo>& Api::routes() const {
  return impl_->infos;
}
Metrics& Api::metrics() {
  return impl_->metrics;
}

ApiResponse handle_for_test(Api& api, std::string_view method, std::string_view target,
                            std::string_view body, std::string_view content_type,
                            std::string_view authorization) {
  ApiRequest req;
  req.method = method;
  req.target = target;
  req.body = body;
  if (!content_type.empty()) req.headers.emplace_back("content-type", content_type);
  if (!authorization.empty()) req.headers.emplace_back("authorization", authorization);
  return api.handle(req);
}

}  // namespace flotilla::api
