// /v1/pools: create (admin), list, get, delete (admin). Usage comes from the pool manager.
#include "storage/pools/pools.h"
#include "api/request_parsing.h"
#include "api/routes/route_table.h"
#include "common/uuid.h"

namespace flotilla::api::routes {

using nlohmann::json;
using storage::pools::PoolErrc;

ApiError from_pool(const storage::pools::PoolError& e) {
  switch (e.code) {
    case PoolErrc::invalid_argument:
    case PoolErrc::no_space:
      return api_error(ApiErrc::validation_failed, e.message, e.field);
    case PoolErrc::not_found:
      return api_error(e.field.empty() ? ApiErrc::not_found : ApiErrc::validation_failed, e.message,
                       e.field);
    case PoolErrc::conflict:
      return api_error(ApiErrc::conflict, e.message, e.field);
    case PoolErrc::invalid_state:
      return api_error(ApiErrc::invalid_state, e.message, e.field);
    case PoolErrc::io:
    case PoolErrc::corrupt:
      break;
  }
  return api_error(ApiErrc::internal, e.message);
}

ApiResult<storage::pools::PoolManager*> pool_manager(RequestContext& ctx) {
  if (!ctx.deps.pools) {
    return fail(api_error(ApiErrc::unavailable, "this server does not manage disk pools"));
  }
  return ctx.deps.pools;
}

ApiResult<storage::PoolRecord> resolve_pool(RequestContext& ctx, const std::string& ref,
                                            const std::string& field) {
  auto& store = *ctx.deps.store;
  auto pool = is_uuid(ref)         ? store.get_pool(ref)
              : is_valid_name(ref) ? store.get_pool_by_name(ref)
                                   : storage::StoreResult<storage::PoolRecord>(fail(
                                         storage::StoreError{storage::StoreErrc::not_found, ""}));
  if (!pool) {
    if (pool.error().code != storage::StoreErrc::not_found) return fail(from_store(pool.error()));
    const std::string msg = "no pool with id or name '" + ref + "'";
    if (field.empty()) return fail(api_error(ApiErrc::not_found, msg));
    return fail(api_error(ApiErrc::validation_failed, field + ": " + msg, field));
  }
  return std::move(pool).value();
}

json pool_to_json(RequestContext& ctx, const storage::PoolRecord& p) {
  json j = {{"id", p.id},     {"name", p.name}, {"type", storage::to_string(p.type)},
            {"path", p.path}, {"host", p.host}, {"created_at", rfc3339(p.created_at)}};
  storage::pools::PoolUsage u;
  if (ctx.deps.pools) {
    if (auto r = ctx.deps.pools->usage(p); r) u = *r;
  }
  j["capacity_bytes"] = u.capacity_bytes;
  j["allocated_bytes"] = u.allocated_bytes;
  j["free_bytes"] = u.free_bytes;
  j["largest_free_bytes"] = u.largest_free_bytes;
  j["fragmentation"] = u.fragmentation;
  j["disk_count"] = u.disk_count;
  return j;
}

namespace {

ApiResult<ApiResponse> create_pool(RequestContext& ctx) {
  auto pools = pool_manager(ctx);
  if (!pools) return fail(pools.error());
  auto req = parse_pool_create(ctx.request.body);
  if (!req) return fail(req.error());
  ctx.audit_target = req->name;
  auto pool = (*pools)->create_pool({req->name, req->type, req->path, req->size_bytes});
  if (!pool) return fail(from_pool(pool.error()));
  ctx.audit_target = pool->id;
  ApiResponse r = json_response(201, pool_to_json(ctx, *pool));
  r.headers.emplace_back("Location", "/v1/pools/" + pool->id);
  return r;
}

ApiResult<ApiResponse> list_pools(RequestContext& ctx) {
  auto pools = ctx.deps.store->list_pools();
  if (!pools) return fail(from_store(pools.error()));
  json items = json::array();
  for (const auto& p : *pools) items.push_back(pool_to_json(ctx, p));
  return json_response(200, {{"items", items}});
}

ApiResult<ApiResponse> get_pool(RequestContext& ctx) {
  auto pool = resolve_pool(ctx, ctx.params[0], "");
  if (!pool) return fail(pool.error());
  return json_response(200, pool_to_json(ctx, *pool));
}

ApiResult<ApiResponse> delete_pool(RequestContext& ctx) {
  auto pools = pool_manager(ctx);
  if (!pools) return fail(pools.error());
  auto pool = resolve_pool(ctx, ctx.params[0], "");
  if (!pool) return fail(pool.error());
  ctx.audit_target = pool->id;
  if (auto r = (*pools)->delete_pool(*pool); !r) return fail(from_pool(r.error()));
  return no_content();
}

}  // namespace

void add_pool_routes(RouteTable& t) {
  t.push_back({{"GET", "/v1/pools", RouteClass::read}, "", false, list_pools});
  t.push_back({{"POST", "/v1/pools", RouteClass::admin}, "pool.create", true, create_pool});
  t.push_back({{"GET", "/v1/pools/{id}", RouteClass::read}, "", false, get_pool});
  t.push_back({{"DELETE", "/v1/pools/{id}", RouteClass::admin}, "pool.delete", false, delete_pool});
}

}  // namespace flotilla::api::routes
