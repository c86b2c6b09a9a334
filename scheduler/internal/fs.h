// Small file helpers for cgroupfs and /proc: whole-file reads, one-write writes, errors as
// SchedError values naming the path and errno.
#pragma once

#include <string>
#include <vector>

#include "common/result.h"
#include "scheduler/error.h"

namespace flotilla::scheduler::internal {

Result<std::string, SchedError> read_text(const std::string& path,
                                          SchedErrc code = SchedErrc::cgroup_io);
// One write(2) of `value` (cgroupfs takes one value per write). O_CREAT only when `create`
// (a temp dir standing in for a cgroup tree in unit tests).
Result<void, SchedError> write_text(const std::string& path, const std::string& value,
                                    bool create = false);
Result<void, SchedError> make_dir(const std::string& path);    // EEXIST is fine
Result<void, SchedError> remove_dir(const std::string& path);  // ENOENT is fine
bool exists(const std::string& path);
std::vector<std::string> list_dirs(const std::string& path);  // sub-directory names
// "key value" lines (cpu.stat) → value of key, or nullopt-ish: returns false if absent.
bool find_key(const std::string& text, const std::string& key, uint64_t& value);

}  // namespace flotilla::scheduler::internal
