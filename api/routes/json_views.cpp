// JSON views of the store's records, and the response helpers the route files share.
#include <ctime>

#include "api/request_parsing.h"
#include "api/routes/route_table.h"
#include "common/uuid.h"

namespace flotilla::api::routes {

using nlohmann::json;

ApiResponse json_response(int status, const json& body) {
  ApiResponse r;
  r.status = status;
  r.body = body.dump(-1, ' ', false, json::error_handler_t::replace);
  return r;
}

ApiResponse no_content() {
  ApiResponse r;
  r.status = 204;
  r.content_type.clear();
  return r;
}

ApiError from_store(const storage::StoreError& e, std::string field) {
  switch (e.code) {
    case storage::StoreErrc::not_found:
      return api_error(ApiErrc::not_found, e.message, std::move(field));
    case storage::StoreErrc::conflict:
      return api_error(ApiErrc::conflict, e.message, std::move(field));
    case storage::StoreErrc::invalid_state:
      return api_error(ApiErrc::invalid_state, e.message, std::move(field));
    case storage::StoreErrc::io:
      return api_error(ApiErrc::unavailable, "state store unavailable: " + e.message);
    case storage::StoreErrc::corrupt:
      return api_error(ApiErrc::internal, "state store corrupt: " + e.message);
  }
  return api_error(ApiErrc::internal, e.message);
}

std::string rfc3339(int64_t unix_ms) {
  const time_t secs = static_cast<time_t>(unix_ms / 1000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[40];
  const size_t n = std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  char frac[8];
  std::snprintf(frac, sizeof frac, ".%03dZ", static_cast<int>(unix_ms % 1000));
  return std::string(buf, n) + frac;
}

namespace {

std::string_view cpu_mode(storage::CpuMode m) {
  return m == storage::CpuMode::partition ? "partition" : "timeshare";
}
std::string_view memory_mode(storage::MemoryMode m) {
  return m == storage::MemoryMode::reserved ? "reserved" : "shared";
}
std::string_view restart(storage::RestartPolicy p) {
  switch (p) {
    case storage::RestartPolicy::never:
      return "never";
    case storage::RestartPolicy::on_crash:
      return "on-crash";
    case storage::RestartPolicy::always:
      return "always";
  }
  return "never";
}

}  // namespace

json nic_limits_to_json(const storage::NicLimits& l) {
  return {
      {"rx", {{"bytes_per_sec", l.rx_bytes_per_sec}, {"packets_per_sec", l.rx_packets_per_sec}}},
      {"tx", {{"bytes_per_sec", l.tx_bytes_per_sec}, {"packets_per_sec", l.tx_packets_per_sec}}}};
}

json nic_to_json(const storage::NicAttachment& n) {
  return {{"network", n.network},
          {"network_id", n.network_id.empty() ? json(nullptr) : json(n.network_id)},
          {"mac", n.mac},
          {"ip", n.ip.empty() ? json(nullptr) : json(n.ip)},
          {"limits", nic_limits_to_json(n.limits)}};
}

json vm_to_json(const storage::VmRecord& vm) {
  const auto& s = vm.spec;
  json disks = json::array();
  for (const auto& d : s.disks) {
    disks.push_back({{"path", d.path},
                     {"read_only", d.read_only},
                     {"disk", d.disk_id.empty() ? json(nullptr) : json(d.disk_id)}});
  }
  json nics = json::array();
  for (const auto& n : s.nics) nics.push_back(nic_to_json(n));
  return json{
      {"id", vm.id},
      {"name", s.name},
      {"host", vm.host},
      {"vcpus", s.vcpus},
      {"memory_mib", s.memory_mib},
      {"boot", {{"kernel", s.boot.kernel}, {"initrd", s.boot.initrd}, {"cmdline", s.boot.cmdline}}},
      {"disks", disks},
      {"nics", nics},
      {"cpu",
       {{"mode", cpu_mode(s.cpu.mode)},
        {"weight", s.cpu.weight},
        {"cap_percent", s.cpu.cap_percent == 0 ? json(nullptr) : json(s.cpu.cap_percent)},
        {"dedicated_cores", s.cpu.dedicated_cores}}},
      {"memory", {{"mode", memory_mode(s.memory.mode)}}},
      {"restart", restart(s.restart)},
      {"desired_state", storage::to_string(vm.desired)},
      {"state", storage::to_string(vm.actual)},
      {"state_reason", vm.state_reason},
      {"created_at", rfc3339(vm.created_at)},
      {"updated_at", rfc3339(vm.updated_at)},
      {"generation", vm.generation},
  };
}

json operation_to_json(const storage::OperationRecord& op) {
  return json{{"id", op.id},
              {"kind", op.kind},
              {"target", op.target},
              {"state", storage::to_string(op.state)},
              {"progress", op.progress},
              {"error", op.error},
              {"created_at", rfc3339(op.created_at)},
              {"updated_at", rfc3339(op.updated_at)}};
}

json token_to_json(const storage::TokenRecord& t) {
  return json{{"id", t.id},
              {"name", t.name},
              {"role", storage::to_string(t.role)},
              {"created_at", rfc3339(t.created_at)},
              {"expires_at", t.expires_at == 0 ? json(nullptr) : json(rfc3339(t.expires_at))},
              {"revoked", t.revoked}};
}

ApiResult<storage::VmRecord> resolve_vm(RequestContext& ctx, const std::string& id_or_name) {
  auto& store = *ctx.deps.store;
  auto vm = is_uuid(id_or_name) ? store.get_vm(id_or_name)
            : is_valid_name(id_or_name)
                ? store.get_vm_by_name(id_or_name)
                : storage::StoreResult<storage::VmRecord>(
                      fail(storage::StoreError{storage::StoreErrc::not_found, ""}));
  if (!vm) {
    if (vm.error().code == storage::StoreErrc::not_found) {
      return fail(api_error(ApiErrc::not_found, "no VM with id or name '" + id_or_name + "'"));
    }
    return fail(from_store(vm.error()));
  }
  return std::move(vm).value();
}

}  // namespace flotilla::api::routes
