// /v1/networks (create and delete: admin) and a VM's NICs: attach and detach while the VM is
// stopped or crashed, and rate limits changed at any time (live when the VM runs).
#include "network/networks.h"

#include "api/request_parsing.h"
#include "api/routes/route_table.h"
#include "common/uuid.h"

namespace flotilla::api::routes {

using network::NetworkErrc;
using nlohmann::json;

ApiError from_network(const network::NetworkError& e) {
  switch (e.code) {
    case NetworkErrc::invalid_argument:
      return api_error(ApiErrc::validation_failed, e.message, e.field);
    case NetworkErrc::not_found:
      return api_error(e.field.empty() ? ApiErrc::not_found : ApiErrc::validation_failed, e.message,
                       e.field);
    case NetworkErrc::conflict:
      return api_error(ApiErrc::conflict, e.message, e.field);
    case NetworkErrc::invalid_state:
      return api_error(ApiErrc::invalid_state, e.message, e.field);
    case NetworkErrc::system:
      break;
  }
  return api_error(ApiErrc::internal, e.message);
}

ApiResult<std::unique_lock<std::mutex>> lease_nics(RequestContext& ctx, storage::VmSpec& spec,
                                                   const storage::VmRecord* current) {
  if (spec.nics.empty()) return std::unique_lock<std::mutex>();
  if (!ctx.deps.networks) {
    return fail(api_error(ApiErrc::unavailable, "this server does not manage networks"));
  }
  auto lock = ctx.deps.networks->lease_lock();
  if (auto r = ctx.deps.networks->assign_addresses(spec, current); !r) {
    return fail(from_network(r.error()));
  }
  return lock;
}

namespace {

ApiResult<network::NetworkManager*> manager(RequestContext& ctx) {
  if (!ctx.deps.networks) {
    return fail(api_error(ApiErrc::unavailable, "this server does not manage networks"));
  }
  return ctx.deps.networks;
}

json network_to_json(const storage::NetworkRecord& n) {
  return {
      {"id", n.id},
      {"name", n.name},
      {"host", n.host},
      {"bridge", n.bridge},
      {"bridge_adopted", n.bridge_adopted},
      {"cidr", n.cidr},
      {"host_address", n.host_address.empty() ? json(nullptr) : json(n.host_address)},
      {"mode", storage::to_string(n.mode)},
      {"uplink_interface", n.uplink_interface.empty() ? json(nullptr) : json(n.uplink_interface)},
      {"nic_count", n.nic_count},
      {"created_at", rfc3339(n.created_at)}};
}

ApiResult<storage::NetworkRecord> resolve_network(RequestContext& ctx, const std::string& ref) {
  auto& store = *ctx.deps.store;
  auto n = is_uuid(ref)         ? store.get_network(ref)
           : is_valid_name(ref) ? store.get_network_by_name(ref)
                                : storage::StoreResult<storage::NetworkRecord>(
                                      fail(storage::StoreError{storage::StoreErrc::not_found, ""}));
  if (n) return std::move(n).value();
  if (n.error().code != storage::StoreErrc::not_found) return fail(from_store(n.error()));
  return fail(api_error(ApiErrc::not_found, "no network with id or name '" + ref + "'"));
}

ApiResult<ApiResponse> list_networks(RequestContext& ctx) {
  auto nets = ctx.deps.store->list_networks();
  if (!nets) return fail(from_store(nets.error()));
  json items = json::array();
  for (const auto& n : *nets) items.push_back(network_to_json(n));
  return json_response(200, {{"items", items}});
}

ApiResult<ApiResponse> get_network(RequestContext& ctx) {
  auto n = resolve_network(ctx, ctx.params[0]);
  if (!n) return fail(n.error());
  return json_response(200, network_to_json(*n));
}

ApiResult<ApiResponse> create_network(RequestContext& ctx) {
  auto networks = manager(ctx);
  if (!networks) return fail(networks.error());
  auto req = parse_network_create(ctx.request.body);
  if (!req) return fail(req.error());
  ctx.audit_target = req->name;
  auto n = (*networks)->create_network(
      {req->name, req->cidr, req->bridge, req->mode, req->uplink_interface});
  if (!n) return fail(from_network(n.error()));
  ctx.audit_target = n->id;
  ApiResponse r = json_response(201, network_to_json(*n));
  r.headers.emplace_back("Location", "/v1/networks/" + n->id);
  return r;
}

ApiResult<ApiResponse> delete_network(RequestContext& ctx) {
  auto networks = manager(ctx);
  if (!networks) return fail(networks.error());
  auto n = resolve_network(ctx, ctx.params[0]);
  if (!n) return fail(n.error());
  ctx.audit_target = n->id;
  if (auto r = (*networks)->delete_network(*n); !r) return fail(from_network(r.error()));
  return no_content();
}

ApiResult<size_t> nic_index(const storage::VmRecord& vm, const std::string& text) {
  size_t index = 0;
  bool ok = !text.empty() && text.size() <= 2;
  for (char c : text) {
    ok = ok && c >= '0' && c <= '9';
    index = index * 10 + static_cast<size_t>(c - '0');
  }
  if (!ok || index >= vm.spec.nics.size()) {
    return fail(api_error(ApiErrc::not_found,
                          "VM '" + vm.spec.name + "' has no NIC '" + text + "' (it has " +
                              std::to_string(vm.spec.nics.size()) + ", numbered from 0)"));
  }
  return index;
}

ApiResult<ApiResponse> vm_json(const storage::VmRecord& vm) {
  ApiResponse r = json_response(200, vm_to_json(vm));
  r.headers.emplace_back("ETag", "\"" + std::to_string(vm.generation) + "\"");
  return r;
}

// Stores a new NIC list (stopped or crashed VMs only: the store refuses otherwise).
ApiResult<ApiResponse> store_nics(RequestContext& ctx, const storage::VmRecord& vm,
                                  storage::VmSpec spec) {
  auto lock = lease_nics(ctx, spec, &vm);
  if (!lock) return fail(lock.error());
  auto updated = ctx.deps.store->update_vm(vm.id, spec, vm.generation);
  if (!updated) return fail(from_store(updated.error()));
  return vm_json(*updated);
}

ApiResult<ApiResponse> attach_nic(RequestContext& ctx) {
  auto vm = resolve_vm(ctx, ctx.params[0]);
  if (!vm) return fail(vm.error());
  ctx.audit_target = vm->id;
  auto nic = parse_nic_attach(ctx.request.body);
  if (!nic) return fail(nic.error());
  if (vm->spec.nics.size() >= kMaxNics) {
    return fail(api_error(
        ApiErrc::validation_failed,
        "nics: VM '" + vm->spec.name + "' already has " + std::to_string(kMaxNics) + " NICs",
        "nics"));
  }
  storage::VmSpec spec = vm->spec;
  spec.nics.push_back(std::move(*nic));
  return store_nics(ctx, *vm, std::move(spec));
}

ApiResult<ApiResponse> detach_nic(RequestContext& ctx) {
  auto vm = resolve_vm(ctx, ctx.params[0]);
  if (!vm) return fail(vm.error());
  ctx.audit_target = vm->id;
  auto index = nic_index(*vm, ctx.params[1]);
  if (!index) return fail(index.error());
  storage::VmSpec spec = vm->spec;
  spec.nics.erase(spec.nics.begin() + static_cast<std::ptrdiff_t>(*index));
  // The NICs after it move down one index and keep their addresses: nothing is re-leased.
  auto updated = ctx.deps.store->update_vm(vm->id, spec, vm->generation);
  if (!updated) return fail(from_store(updated.error()));
  return vm_json(*updated);
}

ApiResult<ApiResponse> patch_nic(RequestContext& ctx) {
  auto vm = resolve_vm(ctx, ctx.params[0]);
  if (!vm) return fail(vm.error());
  ctx.audit_target = vm->id;
  auto index = nic_index(*vm, ctx.params[1]);
  if (!index) return fail(index.error());
  auto limits = parse_nic_patch(vm->spec.nics[*index].limits, ctx.request.body);
  if (!limits) return fail(limits.error());
  auto updated = ctx.deps.store->set_nic_limits(vm->id, *index, *limits);
  if (!updated) return fail(from_store(updated.error()));
  if (ctx.deps.vms) {
    if (auto r = ctx.deps.vms->apply_nic_limits(*updated, *index, *limits); !r) {
      return fail(r.error());
    }
  }
  return vm_json(*updated);
}

}  // namespace

void add_network_routes(RouteTable& t) {
  t.push_back({{"GET", "/v1/networks", RouteClass::read}, "", false, list_networks});
  t.push_back(
      {{"POST", "/v1/networks", RouteClass::admin}, "network.create", true, create_network});
  t.push_back({{"GET", "/v1/networks/{id}", RouteClass::read}, "", false, get_network});
  t.push_back({{"DELETE", "/v1/networks/{id}", RouteClass::admin},
               "network.delete",
               false,
               delete_network});
  t.push_back(
      {{"POST", "/v1/vms/{id}/nics", RouteClass::manage}, "vm.nic.attach", true, attach_nic});
  t.push_back({{"DELETE", "/v1/vms/{id}/nics/{index}", RouteClass::manage},
               "vm.nic.detach",
               false,
               detach_nic});
  t.push_back({{"PATCH", "/v1/vms/{id}/nics/{index}", RouteClass::manage},
               "vm.nic.limits",
               true,
               patch_nic});
}

}  // namespace flotilla::api::routes
