// Internal to api/routes: the GET /v1/vms body, cached two ways.
// - Whole body: kept with the store's VM change counter read *before* the rows it was built
//   from; served as is while the counter still reads the same (no row is read at all). A write
//   that has returned has moved the counter, so the body is never older than a returned write.
// - Per VM: the serialised JSON of each VM, reused while its record is unchanged (same
//   generation, timestamps, states, reason and host), so a rebuild after one write dumps one VM.
// Thread-safe (mu_).
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "storage/model.h"

namespace flotilla::api::routes {

class VmJsonCache {
 public:
  using Body = std::shared_ptr<const std::string>;

  // The body last built under `vm_counter`, or null when there is none (or it is older).
  Body cached(uint64_t vm_counter) const;
  // {"items":[...]} for `vms`, in order, remembered under `vm_counter` (which the caller read
  // before reading `vms`). Entries for VMs not in `vms` are dropped.
  Body build(uint64_t vm_counter, const std::vector<storage::VmRecord>& vms);

 private:
  struct Entry {
    uint64_t generation = 0;
    int64_t updated_at = 0;
    storage::VmState desired = storage::VmState::stopped;
    storage::VmState actual = storage::VmState::stopped;
    std::string state_reason;
    std::string host;
    std::string json;
    bool matches(const storage::VmRecord& vm) const;
  };
  mutable std::mutex mu_;
  std::unordered_map<std::string, Entry> entries_;  // GUARDED_BY(mu_), keyed by VM id
  std::optional<uint64_t> body_counter_;            // GUARDED_BY(mu_)
  Body body_;                                       // GUARDED_BY(mu_)
};

}  // namespace flotilla::api::routes
