#include "api/routes/vm_json_cache.h"

#include "api/routes/route_table.h"

namespace flotilla::api::routes {

bool VmJsonCache::Entry::matches(const storage::VmRecord& vm) const {
  return generation == vm.generation && updated_at == vm.updated_at && desired == vm.desired &&
         actual == vm.actual && host == vm.host;
}

std::string VmJsonCache::list_body(const std::vector<storage::VmRecord>& vms) {
  std::unordered_map<std::string, Entry> next;
  next.reserve(vms.size());
  std::string body = "{\"items\":[";
  std::lock_guard lock(mu_);
  for (size_t i = 0; i < vms.size(); ++i) {
    const auto& vm = vms[i];
    auto it = entries_.find(vm.id);
    Entry e;
    if (it != entries_.end() && it->second.matches(vm)) {
      e = std::move(it->second);
    } else {
      e = Entry{vm.generation,
                vm.updated_at,
                vm.desired,
                vm.actual,
                vm.host,
                vm_to_json(vm).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace)};
    }
    if (i > 0) body += ',';
    body += e.json;
    next.emplace(vm.id, std::move(e));
  }
  entries_ = std::move(next);
  body += "]}";
  return body;
}

}  // namespace flotilla::api::routes
