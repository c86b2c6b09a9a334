// /v1/vms/{id}/{start,stop,force-stop,pause,resume,reboot} and /v1/vms/{id}/stats: the lifecycle
// through the supervisor (api/vm_control.h). Work that takes time answers 202 with an operation.
#include "api/request_parsing.h"
#include "api/routes/route_table.h"

namespace flotilla::api::routes {

namespace {

constexpr int64_t kMaxStopTimeoutSeconds = 3600;

ApiResult<VmControl*> control(RequestContext& ctx) {
  if (!ctx.deps.vms) {
    return fail(api_error(ApiErrc::unavailable, "this server does not run guests"));
  }
  return ctx.deps.vms;
}

ApiResult<ApiResponse> act(RequestContext& ctx, VmAction action) {
  auto vms = control(ctx);
  if (!vms) return fail(vms.error());
  ActionOptions options;
  if (action == VmAction::stop) {
    auto t = query_int(ctx.request.target, "timeout_seconds", 1, kMaxStopTimeoutSeconds);
    if (!t) return fail(t.error());
    if (*t) options.stop_timeout_seconds = static_cast<int>(**t);
  }
  auto vm = resolve_vm(ctx, ctx.params[0]);
  if (!vm) return fail(vm.error());
  ctx.audit_target = vm->id;
  auto outcome = (*vms)->act(*vm, action, options);
  if (!outcome) return fail(outcome.error());
  if (outcome->operation) {
    ApiResponse r = json_response(202, operation_to_json(*outcome->operation));
    r.headers.emplace_back("Location", "/v1/operations/" + outcome->operation->id);
    return r;
  }
  ApiResponse r = json_response(200, vm_to_json(outcome->vm));
  r.headers.emplace_back("ETag", "\"" + std::to_string(outcome->vm.generation) + "\"");
  return r;
}

ApiResult<ApiResponse> stats(RequestContext& ctx) {
  auto vms = control(ctx);
  if (!vms) return fail(vms.error());
  auto vm = resolve_vm(ctx, ctx.params[0]);
  if (!vm) return fail(vm.error());
  auto s = (*vms)->stats(*vm);
  if (!s) return fail(s.error());
  return json_response(200, {{"id", vm->id},
                             {"name", vm->spec.name},
                             {"state", storage::to_string(vm->actual)},
                             {"monitor", std::move(s).value()}});
}

void add_action(RouteTable& t, const char* path, const char* audit, VmAction action) {
  t.push_back({{"POST", std::string("/v1/vms/{id}/") + path, RouteClass::manage},
               audit,
               false,
               [action](RequestContext& ctx) { return act(ctx, action); }});
}

}  // namespace

void add_vm_action_routes(RouteTable& t) {
  add_action(t, "start", "vm.start", VmAction::start);
  add_action(t, "stop", "vm.stop", VmAction::stop);
  add_action(t, "force-stop", "vm.force-stop", VmAction::force_stop);
  add_action(t, "pause", "vm.pause", VmAction::pause);
  add_action(t, "resume", "vm.resume", VmAction::resume);
  add_action(t, "reboot", "vm.reboot", VmAction::reboot);
  t.push_back({{"GET", "/v1/vms/{id}/stats", RouteClass::read}, "", false, stats});
}

}  // namespace flotilla::api::routes
