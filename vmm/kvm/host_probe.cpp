#include "vmm/kvm/host_probe.h"

#include <fcntl.h>
#include <linux/kvm.h>
#include <sys/ioctl.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "common/unique_fd.h"

namespace flotilla::vmm {
namespace {

constexpr KvmCapabilityName kCaps[] = {
    {"IRQCHIP", KVM_CAP_IRQCHIP},
    {"PIT2", KVM_CAP_PIT2},
    {"IOEVENTFD", KVM_CAP_IOEVENTFD},
    {"IRQFD", KVM_CAP_IRQFD},
    {"USER_MEMORY", KVM_CAP_USER_MEMORY},
    {"SET_TSS_ADDR", KVM_CAP_SET_TSS_ADDR},
    {"SET_IDENTITY_MAP_ADDR", KVM_CAP_SET_IDENTITY_MAP_ADDR},
    {"EXT_CPUID", KVM_CAP_EXT_CPUID},
    {"MP_STATE", KVM_CAP_MP_STATE},
    {"IMMEDIATE_EXIT", KVM_CAP_IMMEDIATE_EXIT},
    {"NR_VCPUS", KVM_CAP_NR_VCPUS},
    {"MAX_VCPUS", KVM_CAP_MAX_VCPUS},
    {"XSAVE", KVM_CAP_XSAVE},
    {"XCRS", KVM_CAP_XCRS},
    {"VCPU_EVENTS", KVM_CAP_VCPU_EVENTS},
    {"DEBUGREGS", KVM_CAP_DEBUGREGS},
    {"ADJUST_CLOCK", KVM_CAP_ADJUST_CLOCK},
    {"TSC_CONTROL", KVM_CAP_TSC_CONTROL},
};

// The vmx/svm flags of the first "flags" line of /proc/cpuinfo.
std::string cpu_virt_flag() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("flags", 0) != 0) continue;
    std::istringstream words(line.substr(line.find(':') + 1));
    std::string w;
    while (words >> w) {
      if (w == "vmx" || w == "svm") return w;
    }
    return "";
  }
  return "";
}

bool path_exists(const char* path) {
  struct stat st {};
  return ::stat(path, &st) == 0;
}

std::string open_error(const std::string& device, int err) {
  if (err == ENOENT) return device + " does not exist (KVM module not loaded?)";
  if (err == EACCES || err == EPERM) {
    return "permission denied opening " + device + " (add the user to the kvm group)";
  }
  return "cannot open " + device + ": " + std::strerror(err);
}

}  // namespace

const KvmCapabilityName* kvm_capability_names(size_t* count) {
  *count = sizeof(kCaps) / sizeof(kCaps[0]);
  return kCaps;
}

HostKvmInfo probe_host_kvm(const std::string& device) {
  HostKvmInfo info;
  const std::string flag = cpu_virt_flag();
  UniqueFd kvm(::open(device.c_str(), O_RDWR | O_CLOEXEC));
  if (!kvm) {
    info.error = open_error(device, errno);
    info.flavour = (errno == ENOENT) ? "none" : (flag.empty() ? "unknown" : flag);
    return info;
  }
  // SAFETY: KVM_GET_API_VERSION takes no argument and only returns an int.
  info.api_version = ::ioctl(kvm.get(), KVM_GET_API_VERSION, 0);
  if (path_exists("/sys/module/kvm_pvm")) {
    info.flavour = "pvm";
  } else if (!flag.empty()) {
    info.flavour = flag;
  } else {
    info.flavour = "pvm";  // KVM works without hardware virtualisation flags
  }
  for (const auto& c : kCaps) {
    // SAFETY: KVM_CHECK_EXTENSION takes the capability number by value and returns an int.
    const int v = ::ioctl(kvm.get(), KVM_CHECK_EXTENSION, c.cap);
    info.capabilities[c.name] = v < 0 ? 0 : v;
  }
  if (info.api_version != KVM_API_VERSION) {
    info.error = "unsupported KVM API version " + std::to_string(info.api_version) + " (expected " +
                 std::to_string(KVM_API_VERSION) + ")";
    return info;
  }
  info.available = true;
  return info;
}

}  // namespace flotilla::vmm
