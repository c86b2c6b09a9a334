// /v1/operations: the async tasks (lifecycle operations arrive with a later issue).
#include "api/routes/route_table.h"
#include "common/uuid.h"

namespace flotilla::api::routes {

namespace {

constexpr int kListLimit = 1000;

ApiResult<ApiResponse> list_operations(RequestContext& ctx) {
  auto ops = ctx.deps.store->list_operations(kListLimit);
  if (!ops) return fail(from_store(ops.error()));
  nlohmann::json items = nlohmann::json::array();
  for (const auto& op : *ops) items.push_back(operation_to_json(op));
  return json_response(200, {{"items", std::move(items)}});
}

ApiResult<ApiResponse> get_operation(RequestContext& ctx) {
  const std::string& id = ctx.params[0];
  if (!is_uuid(id)) return fail(api_error(ApiErrc::not_found, "no operation '" + id + "'"));
  auto op = ctx.deps.store->get_operation(id);
  if (!op) {
    if (op.error().code == storage::StoreErrc::not_found) {
      return fail(api_error(ApiErrc::not_found, "no operation '" + id + "'"));
    }
    return fail(from_store(op.error()));
  }
  return json_response(200, operation_to_json(*op));
}

}  // namespace

void add_operation_routes(RouteTable& t) {
  t.push_back({{"GET", "/v1/operations", RouteClass::read}, "", false, list_operations});
  t.push_back({{"GET", "/v1/operations/{id}", RouteClass::read}, "", false, get_operation});
}

}  // namespace flotilla::api::routes
