#include "api/routes/vm_json_cache.h"

#include "api/routes/route_table.h"

namespace flotilla::api::routes {

bool VmJsonCache::Entry::matches(const storage::VmRecord& vm) const {
  return generation == vm.generation && updated_at == vm.updated_at && desired == vm.desired &&
         actual == vm.actual && state_reason == vm.state_reason && host == vm.host;
}

VmJsonCache::Body VmJsonCache::cached(uint64_t vm_counter) const {
  std::lock_guard lock(mu_);
  if (body_counter_ != vm_counter) return nullptr;
  return body_;
}

VmJsonCache::Body VmJsonCache::build(uint64_t vm_counter,
                                     const std::vector<storage::VmRecord>& vms) {
  std::unordered_map<std::string, Entry> next;
  next.reserve(vms.size());
  auto body = std::make_shared<std::string>("{\"items\":[");
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
                vm.state_reason,
                vm.host,
                vm_to_json(vm).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace)};
    }
    if (i > 0) *body += ',';
    *body += e.json;
    next.emplace(vm.id, std::move(e));
  }
  *body += "]}";
  entries_ = std::move(next);  // each entry is checked against its record, whoever built it
  // A builder that read an older counter than the body already kept (it raced a write and lost)
  // must not replace it: its rows may be older than the kept body's.
  if (!body_counter_ || vm_counter >= *body_counter_) {
    body_counter_ = vm_counter;
    body_ = body;
  }
  return body;
}

}  // namespace flotilla::api::routes
