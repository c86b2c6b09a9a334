// /v1/disks (create, list, get, grow, delete), /v1/disks/import (an operation with progress)
// and /v1/vms/{id}/disks (attach, detach a pool disk while the VM is stopped or crashed).
#include <algorithm>

#include "api/request_parsing.h"
#include "api/routes/route_table.h"
#include "common/uuid.h"
#include "storage/pools/pools.h"

namespace flotilla::api::routes {

using nlohmann::json;

namespace {

ApiResult<storage::DiskRecord> resolve_disk(RequestContext& ctx, const std::string& ref,
                                            const std::string& field) {
  auto& store = *ctx.deps.store;
  auto disk = is_uuid(ref)         ? store.get_disk(ref)
              : is_valid_name(ref) ? store.get_disk_by_name(ref)
                                   : storage::StoreResult<storage::DiskRecord>(fail(
                                         storage::StoreError{storage::StoreErrc::not_found, ""}));
  if (!disk) {
    if (disk.error().code != storage::StoreErrc::not_found) return fail(from_store(disk.error()));
    const std::string msg = "no disk with id or name '" + ref + "'";
    if (field.empty()) return fail(api_error(ApiErrc::not_found, msg));
    return fail(api_error(ApiErrc::validation_failed, field + ": " + msg, field));
  }
  return std::move(disk).value();
}

json disk_to_json(RequestContext& ctx, const storage::DiskRecord& d) {
  json extents = json::array();
  for (const auto& e : d.extents) {
    extents.push_back({{"host_offset", e.host_offset}, {"length", e.length}});
  }
  std::string pool_name;
  if (auto p = ctx.deps.store->get_pool(d.pool_id); p) pool_name = p->name;
  return {{"id", d.id},
          {"name", d.name},
          {"pool", d.pool_id},
          {"pool_name", pool_name},
          {"format", d.format},
          {"size_bytes", d.size_bytes},
          {"allocated_bytes", ctx.deps.pools ? ctx.deps.pools->allocated_bytes(d) : 0},
          {"path", d.path},
          {"backing", d.backing_disk_id.empty() ? json(nullptr) : json(d.backing_disk_id)},
          {"attached_to", d.attached_to.empty() ? json(nullptr) : json(d.attached_to)},
          {"extents", extents},
          {"created_at", rfc3339(d.created_at)},
          {"updated_at", rfc3339(d.updated_at)},
          {"generation", d.generation}};
}

ApiResponse disk_response(RequestContext& ctx, int status, const storage::DiskRecord& d) {
  ApiResponse r = json_response(status, disk_to_json(ctx, d));
  r.headers.emplace_back("ETag", "\"" + std::to_string(d.generation) + "\"");
  return r;
}

ApiResult<ApiResponse> create_disk(RequestContext& ctx) {
  auto pools = pool_manager(ctx);
  if (!pools) return fail(pools.error());
  auto req = parse_disk_create(ctx.request.body);
  if (!req) return fail(req.error());
  ctx.audit_target = req->name;
  auto pool = resolve_pool(ctx, req->pool, "pool");
  if (!pool) return fail(pool.error());
  std::string backing_id;
  if (!req->backing.empty()) {
    auto base = resolve_disk(ctx, req->backing, "backing");
    if (!base) return fail(base.error());
    backing_id = base->id;
  }
  auto d = (*pools)->create_disk(*pool, {req->name, req->format, req->size_bytes, backing_id});
  if (!d) return fail(from_pool(d.error()));
  ctx.audit_target = d->id;
  ApiResponse r = disk_response(ctx, 201, *d);
  r.headers.emplace_back("Location", "/v1/disks/" + d->id);
  return r;
}

ApiResult<ApiResponse> list_disks(RequestContext& ctx) {
  auto disks = ctx.deps.store->list_disks("");
  if (!disks) return fail(from_store(disks.error()));
  json items = json::array();
  for (const auto& d : *disks) items.push_back(disk_to_json(ctx, d));
  return json_response(200, {{"items", items}});
}

ApiResult<ApiResponse> get_disk(RequestContext& ctx) {
  auto d = resolve_disk(ctx, ctx.params[0], "");
  if (!d) return fail(d.error());
  return disk_response(ctx, 200, *d);
}

ApiResult<ApiResponse> resize_disk(RequestContext& ctx) {
  auto pools = pool_manager(ctx);
  if (!pools) return fail(pools.error());
  auto d = resolve_disk(ctx, ctx.params[0], "");
  if (!d) return fail(d.error());
  ctx.audit_target = d->id;
  auto size = parse_disk_patch(ctx.request.body);
  if (!size) return fail(size.error());
  auto r = (*pools)->resize_disk(*d, *size);
  if (!r) return fail(from_pool(r.error()));
  return disk_response(ctx, 200, *r);
}

ApiResult<ApiResponse> delete_disk(RequestContext& ctx) {
  auto pools = pool_manager(ctx);
  if (!pools) return fail(pools.error());
  auto d = resolve_disk(ctx, ctx.params[0], "");
  if (!d) return fail(d.error());
  ctx.audit_target = d->id;
  if (auto r = (*pools)->delete_disk(*d); !r) return fail(from_pool(r.error()));
  return no_content();
}

ApiResult<ApiResponse> import_disk(RequestContext& ctx) {
  auto pools = pool_manager(ctx);
  if (!pools) return fail(pools.error());
  if (!ctx.deps.submit_operation) {
    return fail(api_error(ApiErrc::unavailable, "this server does not run operations"));
  }
  auto req = parse_disk_import(ctx.request.body);
  if (!req) return fail(req.error());
  ctx.audit_target = req->name;
  auto pool = resolve_pool(ctx, req->pool, "pool");
  if (!pool) return fail(pool.error());
  storage::pools::ImportRequest ir{req->name, req->source_path, req->format, make_uuid()};
  if (auto r = (*pools)->check_import(*pool, ir); !r) return fail(from_pool(r.error()));
  ctx.audit_target = ir.id;
  storage::pools::PoolManager* manager = *pools;
  auto op = ctx.deps.submit_operation(
      "disk.import", ir.id,
      [manager, pool = *pool, ir](const std::function<void(int)>& progress) -> std::string {
        int last = -1;
        auto d = manager->import_disk(pool, ir, [&](uint64_t done, uint64_t total) {
          // 99 at most until the disk is recorded; the runner reports 100 on success.
          const int pct =
              total == 0 ? 99 : static_cast<int>(std::min<uint64_t>(99, done * 100 / total));
          if (pct != last) progress(last = pct);
        });
        return d ? std::string() : d.error().message;
      });
  if (!op) return fail(from_store(op.error()));
  ApiResponse r = json_response(202, operation_to_json(*op));
  r.headers.emplace_back("Location", "/v1/operations/" + op->id);
  return r;
}

ApiResponse vm_response(const storage::VmRecord& vm) {
  ApiResponse r = json_response(200, vm_to_json(vm));
  r.headers.emplace_back("ETag", "\"" + std::to_string(vm.generation) + "\"");
  return r;
}

ApiResult<ApiResponse> attach(RequestContext& ctx) {
  auto pools = pool_manager(ctx);
  if (!pools) return fail(pools.error());
  auto vm = resolve_vm(ctx, ctx.params[0]);
  if (!vm) return fail(vm.error());
  ctx.audit_target = vm->id;
  auto req = parse_disk_attach(ctx.request.body);
  if (!req) return fail(req.error());
  auto d = resolve_disk(ctx, req->disk, "disk");
  if (!d) return fail(d.error());
  auto updated = (*pools)->attach_disk(vm->id, *d, req->read_only);
  if (!updated) return fail(from_pool(updated.error()));
  return vm_response(*updated);
}

ApiResult<ApiResponse> detach(RequestContext& ctx) {
  auto pools = pool_manager(ctx);
  if (!pools) return fail(pools.error());
  auto vm = resolve_vm(ctx, ctx.params[0]);
  if (!vm) return fail(vm.error());
  ctx.audit_target = vm->id;
  auto d = resolve_disk(ctx, ctx.params[1], "");
  if (!d) return fail(d.error());
  auto updated = (*pools)->detach_disk(vm->id, *d);
  if (!updated) return fail(from_pool(updated.error()));
  return vm_response(*updated);
}

}  // namespace

void add_disk_routes(RouteTable& t) {
  t.push_back({{"GET", "/v1/disks", RouteClass::read}, "", false, list_disks});
  t.push_back({{"POST", "/v1/disks", RouteClass::manage}, "disk.create", true, create_disk});
  t.push_back({{"POST", "/v1/disks/import", RouteClass::manage}, "disk.import", true, import_disk});
  t.push_back({{"GET", "/v1/disks/{id}", RouteClass::read}, "", false, get_disk});
  t.push_back({{"PATCH", "/v1/disks/{id}", RouteClass::manage}, "disk.resize", true, resize_disk});
  t.push_back(
      {{"DELETE", "/v1/disks/{id}", RouteClass::manage}, "disk.delete", false, delete_disk});
  t.push_back({{"POST", "/v1/vms/{id}/disks", RouteClass::manage}, "vm.disk.attach", true, attach});
  t.push_back({{"DELETE", "/v1/vms/{id}/disks/{disk}", RouteClass::manage},
               "vm.disk.detach",
               false,
               detach});
}

}  // namespace flotilla::api::routes
