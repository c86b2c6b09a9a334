#include "scheduler/policy.h"

#include <algorithm>
#include <string>

namespace flotilla::scheduler {

namespace {

Unexpected<SchedError> invalid(std::string field, std::string why) {
  SchedError e = sched_error(SchedErrc::invalid_policy, field + ": " + why);
  e.field = std::move(field);
  return fail(std::move(e));
}

}  // namespace

Result<storage::CpuPolicy, SchedError> validate_cpu_policy(const CpuPolicyInput& in, uint32_t vcpus,
                                                           uint32_t host_cores,
                                                           uint32_t min_shared_cores) {
  if (vcpus == 0) return invalid("vcpus", "must be at least 1");
  storage::CpuPolicy out;
  out.mode = in.mode;
  if (in.mode == storage::CpuMode::timeshare) {
    if (in.weight < kMinWeight || in.weight > kMaxWeight) {
      return invalid("cpu.weight", "must be 1..10000 (got " + std::to_string(in.weight) + ")");
    }
    const int64_t max_cap = 100 * static_cast<int64_t>(vcpus);
    if (in.cap_percent < 0 || in.cap_percent > max_cap) {
      return invalid("cpu.cap_percent", "must be 0 (no cap) or 1.." + std::to_string(max_cap) +
                                            " (100 per vCPU) (got " +
                                            std::to_string(in.cap_percent) + ")");
    }
    out.weight = static_cast<uint32_t>(in.weight);
    out.cap_percent = static_cast<uint32_t>(in.cap_percent);
    out.dedicated_cores = 0;
    return out;
  }
  if (in.dedicated_cores < 1) {
    return invalid("cpu.dedicated_cores", "must be at least 1 in partition mode (got " +
                                              std::to_string(in.dedicated_cores) + ")");
  }
  if (in.dedicated_cores > static_cast<int64_t>(host_cores)) {
    return invalid("cpu.dedicated_cores", std::to_string(in.dedicated_cores) +
                                              " is more than the host's " +
                                              std::to_string(host_cores) + " cores");
  }
  const int64_t dedicable = host_cores > min_shared_cores ? host_cores - min_shared_cores : 0;
  if (in.dedicated_cores > dedicable) {
    return invalid("cpu.dedicated_cores",
                   std::to_string(in.dedicated_cores) + " is more than the " +
                       std::to_string(dedicable) + " of the host's " + std::to_string(host_cores) +
                       " cores that can be dedicated (" + std::to_string(min_shared_cores) +
                       " always stay shared)");
  }
  // Weight and cap are kept (a later switch back to timeshare uses them) but must still be sane.
  if (in.weight < kMinWeight || in.weight > kMaxWeight) {
    return invalid("cpu.weight", "must be 1..10000 (got " + std::to_string(in.weight) + ")");
  }
  if (in.cap_percent < 0 || in.cap_percent > 100 * static_cast<int64_t>(vcpus)) {
    return invalid("cpu.cap_percent", "must be 0 (no cap) or 1.." + std::to_string(100 * vcpus));
  }
  out.weight = static_cast<uint32_t>(in.weight);
  out.cap_percent = static_cast<uint32_t>(in.cap_percent);
  out.dedicated_cores = static_cast<uint32_t>(in.dedicated_cores);
  return out;
}

Result<void, SchedError> validate_spec(const storage::VmSpec& spec, uint32_t host_cores,
                                       uint32_t min_shared_cores) {
  CpuPolicyInput in{spec.cpu.mode, spec.cpu.weight, spec.cpu.cap_percent, spec.cpu.dedicated_cores};
  auto r = validate_cpu_policy(in, spec.vcpus, host_cores, min_shared_cores);
  if (!r) return fail(r.error());
  return {};
}

uint64_t v1_shares(uint64_t weight) {
  return std::clamp<uint64_t>(weight * 1024 / 100, 2, 262144);
}

uint64_t partition_weight(uint32_t dedicated_cores) {
  return std::clamp<uint64_t>(uint64_t{100} * dedicated_cores, 1, kMaxWeight);
}

int64_t cap_quota_us(uint32_t cap_percent, uint64_t period_us) {
  if (cap_percent == 0) return -1;
  // At least the kernel's 1 ms minimum quota.
  return std::max<int64_t>(1000, static_cast<int64_t>(period_us * cap_percent / 100));
}

}  // namespace flotilla::scheduler
