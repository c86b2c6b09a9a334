// Internal to api/routes: the serialised JSON of each VM, reused while the record is unchanged
// (same generation, timestamps, states and host). GET /v1/vms then concatenates cached strings
// instead of building and dumping a 100-VM tree per request. Thread-safe (mu_).
#pragma once

#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "storage/model.h"

namespace flotilla::api::routes {

class VmJsonCache {
 public:
  // {"items":[...]} for `vms`, in order. Entries for VMs not in `vms` are dropped.
  std::string list_body(const std::vector<storage::VmRecord>& vms);

 private:
  struct Entry {
    uint64_t generation = 0;
    int64_t updated_at = 0;
    storage::VmState desired = storage::VmState::stopped;
    storage::VmState actual = storage::VmState::stopped;
    std::string host;
    std::string json;
    bool matches(const storage::VmRecord& vm) const;
  };
  std::mutex mu_;
  std::unordered_map<std::string, Entry> entries_;  // GUARDED_BY(mu_), keyed by VM id
};

}  // namespace flotilla::api::routes
