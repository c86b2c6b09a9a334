// The VMM core's error value (kvm/, memory/, arch/, vcpu/, monitor/): one enum, one struct.
#pragma once

#include <cerrno>
#include <cstring>
#include <string>

#include "common/result.h"

namespace flotilla::vmm {

enum class VmmErrc {
  kNoKvm,              // /dev/kvm missing or not openable
  kApiVersion,         // KVM_GET_API_VERSION is not 12
  kMissingCapability,  // a KVM capability we rely on is absent
  kIoctl,              // a KVM ioctl failed
  kMemory,             // guest memory could not be created or mapped, or a layout is invalid
  kBoot,               // the kernel image is unusable (not an ELF, no PVH note, out of RAM, ...)
  kConfig,             // the VM definition is invalid
  kDevice,             // a device could not be created or wired
  kIo,                 // a host file or socket operation failed
};

struct VmmError {
  VmmErrc code = VmmErrc::kIoctl;
  std::string message;
};

template <class T>
using VmmResult = Result<T, VmmError>;

inline Unexpected<VmmError> vmm_fail(VmmErrc code, std::string message) {
  return fail(VmmError{code, std::move(message)});
}

// "<what>: <strerror(errno)>" with errno read at the call.
inline Unexpected<VmmError> vmm_errno(VmmErrc code, const std::string& what) {
  const int err = errno;
  return vmm_fail(code, what + ": " + std::strerror(err));
}

}  // namespace flotilla::vmm
