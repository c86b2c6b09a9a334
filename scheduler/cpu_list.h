// Host CPU lists in the kernel's text form ("0-3,6"), as cpuset.cpus and /sys use them.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"
#include "scheduler/error.h"

namespace flotilla::scheduler {

using CpuList = std::vector<int>;  // sorted, unique CPU ids

// "0-2,5" → {0,1,2,5}; "" → {} (an empty cpuset). Spaces and a trailing newline are allowed.
Result<CpuList, SchedError> parse_cpu_list(std::string_view text);
// {0,1,2,5} → "0-2,5"; {} → "".
std::string format_cpu_list(const CpuList& cpus);
// Sorted set difference a \ b.
CpuList cpu_list_minus(const CpuList& a, const CpuList& b);

}  // namespace flotilla::scheduler
