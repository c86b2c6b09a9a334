// /healthz, /metrics, /v1/openapi.json.
#include "api/openapi_document.h"
#include "api/routes/route_table.h"

namespace flotilla::api::routes {

namespace {

ApiResult<ApiResponse> healthz(RequestContext&) {
  return json_response(200, {{"status", "ok"}});
}

ApiResult<ApiResponse> metrics(RequestContext& ctx) {
  std::map<std::string, int64_t> counts;
  for (auto s : {storage::VmState::stopped, storage::VmState::starting, storage::VmState::running,
                 storage::VmState::paused, storage::VmState::stopping, storage::VmState::crashed}) {
    counts[std::string(storage::to_string(s))] = 0;
  }
  auto vms = ctx.deps.store->list_vms();
  if (!vms) return fail(from_store(vms.error()));
  for (const auto& vm : *vms) ++counts[std::string(storage::to_string(vm.actual))];
  ApiResponse r;
  r.status = 200;
  r.content_type = "text/plain; version=0.0.4; charset=utf-8";
  r.body = ctx.metrics.render(counts);
  if (ctx.deps.vms) r.body += ctx.deps.vms->metrics_text();
  return r;
}

ApiResult<ApiResponse> openapi(RequestContext&) {
  ApiResponse r;
  r.status = 200;
  r.body = std::string(openapi_document());
  return r;
}

}  // namespace

void add_system_routes(RouteTable& t) {
  t.push_back({{"GET", "/healthz", RouteClass::open}, "", false, healthz});
  t.push_back({{"GET", "/metrics", RouteClass::read}, "", false, metrics});
  t.push_back({{"GET", "/v1/openapi.json", RouteClass::open}, "", false, openapi});
}

}  // namespace flotilla::api::routes
