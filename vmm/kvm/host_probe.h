// Host KVM probe: what /dev/kvm offers on this host, for the daemon's /v1/host and for the
// monitor's up-front checks. Plain data, no JSON (the daemon converts). No other state.
#pragma once

#include <map>
#include <string>

namespace flotilla::vmm {

struct HostKvmInfo {
  bool available = false;  // /dev/kvm opened and KVM_GET_API_VERSION == 12
  std::string error;       // why not available ("" when available)
  int api_version = 0;     // KVM_GET_API_VERSION, 0 if /dev/kvm could not be opened
  std::string flavour;     // "vmx", "svm", "pvm", "unknown" or "none" (no /dev/kvm)
  std::map<std::string, int> capabilities;  // capability name (e.g. "IRQCHIP") -> value
};

// Capabilities we rely on, by name, as reported in HostKvmInfo::capabilities.
struct KvmCapabilityName {
  const char* name;
  int cap;
};
const KvmCapabilityName* kvm_capability_names(size_t* count);

// Opens /dev/kvm (or `device` for tests) and reads its version, flavour and capabilities.
// Never fails: problems are reported in `available`/`error`.
HostKvmInfo probe_host_kvm(const std::string& device = "/dev/kvm");

}  // namespace flotilla::vmm
