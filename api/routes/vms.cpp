// /v1/vms: create, list, get, update, delete.
#include <memory>

#include "api/request_parsing.h"
#include "api/routes/route_table.h"
#include "api/routes/vm_json_cache.h"
#include "common/uuid.h"

namespace flotilla::api::routes {

namespace {

ApiResponse vm_response(int status, const storage::VmRecord& vm) {
  ApiResponse r = json_response(status, vm_to_json(vm));
  r.headers.emplace_back("ETag", "\"" + std::to_string(vm.generation) + "\"");
  return r;
}

// The store's conflict for a MAC or IP another NIC holds (its message names nics[i]).
bool is_nic_conflict(const storage::StoreError& e) {
  return e.message.rfind("nics[", 0) == 0;
}

// Reads no row while no VM was written since the cached body was built (vm_json_cache.h).
ApiResult<ApiResponse> list_vms(VmJsonCache& cache, RequestContext& ctx) {
  const uint64_t counter = ctx.deps.store->vm_change_counter();  // before any row is read
  VmJsonCache::Body body = cache.cached(counter);
  if (!body) {
    auto vms = ctx.deps.store->list_vms();
    if (!vms) return fail(from_store(vms.error()));
    body = cache.build(counter, *vms);
  }
  ApiResponse r;
  r.status = 200;
  r.shared_body = std::move(body);  // written from the cache without a copy
  return r;
}

ApiResult<ApiResponse> create_vm(RequestContext& ctx) {
  auto spec = parse_vm_create(ctx.request.body);
  if (!spec) return fail(spec.error());
  ctx.audit_target = spec->name;
  if (ctx.deps.vms) {
    if (auto ok = ctx.deps.vms->check_policy(*spec, nullptr); !ok) return fail(ok.error());
  }
  auto lease = lease_nics(ctx, *spec, nullptr);
  if (!lease) return fail(lease.error());
  auto vm = ctx.deps.store->create_vm(*spec);
  if (!vm) {
    if (vm.error().code == storage::StoreErrc::conflict && !is_nic_conflict(vm.error())) {
      return fail(api_error(ApiErrc::conflict, "name: '" + spec->name + "' is taken", "name"));
    }
    return fail(from_store(vm.error()));
  }
  ctx.audit_target = vm->id;
  ApiResponse r = vm_response(201, *vm);
  r.headers.emplace_back("Location", "/v1/vms/" + vm->id);
  return r;
}

ApiResult<ApiResponse> get_vm(RequestContext& ctx) {
  auto vm = resolve_vm(ctx, ctx.params[0]);
  if (!vm) return fail(vm.error());
  return vm_response(200, *vm);
}

ApiResult<ApiResponse> update_vm(RequestContext& ctx) {
  auto generation = parse_if_match(ctx.request.header("if-match"));
  if (!generation) return fail(generation.error());
  auto vm = resolve_vm(ctx, ctx.params[0]);
  if (!vm) return fail(vm.error());
  ctx.audit_target = vm->id;
  auto spec = apply_vm_patch(vm->spec, ctx.request.body);
  if (!spec) return fail(spec.error());
  if (ctx.deps.vms) {
    if (auto ok = ctx.deps.vms->check_policy(*spec, &*vm); !ok) return fail(ok.error());
  }
  auto lease = lease_nics(ctx, *spec, &*vm);
  if (!lease) return fail(lease.error());
  auto updated = ctx.deps.store->update_vm(vm->id, *spec, *generation);
  if (!updated) {
    const bool name_changed = spec->name != vm->spec.name;
    if (updated.error().code == storage::StoreErrc::conflict && name_changed &&
        !is_nic_conflict(updated.error()) && !(*generation && **generation != vm->generation)) {
      return fail(api_error(ApiErrc::conflict, "name: '" + spec->name + "' is taken", "name"));
    }
    return fail(from_store(updated.error()));
  }
  if (ctx.deps.vms && spec->cpu != vm->spec.cpu) {
    // Checked above; refused here only if another VM took the cores in between.
    if (auto ok = ctx.deps.vms->apply_policy(*updated); !ok) {
      auto e = ok.error();
      e.message = "stored, but the running VM keeps its previous CPU policy: " + e.message;
      return fail(std::move(e));
    }
  }
  return vm_response(200, *updated);
}

ApiResult<ApiResponse> delete_vm(RequestContext& ctx) {
  auto vm = resolve_vm(ctx, ctx.params[0]);
  if (!vm) return fail(vm.error());
  ctx.audit_target = vm->id;
  if (auto r = ctx.deps.store->delete_vm(vm->id); !r) return fail(from_store(r.error()));
  return no_content();
}

}  // namespace

void add_vm_routes(RouteTable& t) {
  auto cache = std::make_shared<VmJsonCache>();
  t.push_back({{"GET", "/v1/vms", RouteClass::read}, "", false, [cache](RequestContext& ctx) {
                 return list_vms(*cache, ctx);
               }});
  t.push_back({{"POST", "/v1/vms", RouteClass::manage}, "vm.create", true, create_vm});
  t.push_back({{"GET", "/v1/vms/{id}", RouteClass::read}, "", false, get_vm});
  t.push_back({{"PATCH", "/v1/vms/{id}", RouteClass::manage}, "vm.update", true, update_vm});
  t.push_back({{"DELETE", "/v1/vms/{id}", RouteClass::manage}, "vm.delete", false, delete_vm});
}

}  // namespace flotilla::api::routes
