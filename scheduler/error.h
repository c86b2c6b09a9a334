// The scheduler module's error: one enum, one struct. Policy errors name the JSON field (422),
// admission refusals name the resource with what is needed and what is left (409), the rest are
// host faults (cgroup or /proc I/O).
#pragma once

#include <string>
#include <string_view>

namespace flotilla::scheduler {

enum class SchedErrc {
  invalid_policy,  // a policy that can never be met on this host → 422 validation_failed
  refused,     // admission: not enough of a resource right now → 409 (resource/needed/available)
  no_cgroups,  // no usable cgroup hierarchy (neither v2 with cpu nor v1 cpu)
  cgroup_io,   // a cgroup file or directory could not be read, written, made or removed
  proc_io,     // /proc or a scheduler syscall failed (thread gone, affinity refused)
  not_found,   // no cgroup / process for that VM
};
std::string_view to_string(SchedErrc c);

struct SchedError {
  SchedErrc code = SchedErrc::cgroup_io;
  std::string message;    // one human line; for invalid_policy it starts with the field
  std::string field;      // invalid_policy: JSON path, e.g. "cpu.cap_percent"
  std::string resource;   // refused: "cores" | "memory.reserved" | "memory.shared" | "vcpus"
  std::string needed;     // refused: e.g. "2 cores"
  std::string available;  // refused: e.g. "1 core (core 1)"
};

inline SchedError sched_error(SchedErrc code, std::string message) {
  SchedError e;
  e.code = code;
  e.message = std::move(message);
  return e;
}

}  // namespace flotilla::scheduler
