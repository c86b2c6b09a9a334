// What every accepted VmSpec / token request must satisfy (THE REST v1 limits in TEAM.md).
// A violation is a validation bug: the fuzz target aborts so libFuzzer keeps the input.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <string>

#include "api/request_parsing.h"
#include "storage/model.h"

namespace flotilla::fuzz {

[[noreturn]] inline void violated(const char* what) {
  std::fprintf(stderr, "invariant violated: %s\n", what);
  std::abort();
}

#define FLOTILLA_FUZZ_CHECK(cond)                   \
  do {                                              \
    if (!(cond)) ::flotilla::fuzz::violated(#cond); \
  } while (0)

inline bool valid_name_reference(const std::string& name) {
  if (name.empty() || name.size() > 63) return false;
  for (std::size_t i = 0; i < name.size(); ++i) {
    char c = name[i];
    bool lower_digit = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
    if (!lower_digit && (i == 0 || c != '-')) return false;
  }
  return true;
}

inline void check_spec(const storage::VmSpec& s) {
  FLOTILLA_FUZZ_CHECK(valid_name_reference(s.name));
  FLOTILLA_FUZZ_CHECK(s.vcpus >= 1 && s.vcpus <= api::kMaxVcpus);
  FLOTILLA_FUZZ_CHECK(s.memory_mib >= api::kMinMemoryMib && s.memory_mib <= api::kMaxMemoryMib);
  FLOTILLA_FUZZ_CHECK(!s.boot.kernel.empty());
  FLOTILLA_FUZZ_CHECK(s.boot.cmdline.size() <= storage::kMaxCmdline);
  FLOTILLA_FUZZ_CHECK(s.disks.size() <= api::kMaxDisks);
  FLOTILLA_FUZZ_CHECK(s.nics.size() <= api::kMaxNics);
  FLOTILLA_FUZZ_CHECK(s.cpu.weight >= 1 && s.cpu.weight <= api::kMaxWeight);
  FLOTILLA_FUZZ_CHECK(s.cpu.cap_percent <= api::kMaxCapPercent);
  FLOTILLA_FUZZ_CHECK(s.cpu.dedicated_cores <= api::kMaxDedicatedCores);
  for (const auto& d : s.disks) FLOTILLA_FUZZ_CHECK(!d.path.empty());
}

// An error must name something: a message, and a code that maps to a 4xx.
inline void check_rejection(const api::ApiError& e) {
  FLOTILLA_FUZZ_CHECK(!e.message.empty());
  int status = api::http_status(e.code);
  FLOTILLA_FUZZ_CHECK(status >= 400 && status < 500);
}

}  // namespace flotilla::fuzz
