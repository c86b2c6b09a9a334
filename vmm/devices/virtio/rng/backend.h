// RngBackend: where virtio-rng's bytes come from. GetrandomBackend reads the host kernel's
// CSPRNG with getrandom(2) (no fd to own; EINTR retried; short reads continued).
#pragma once

#include <cstdint>
#include <span>

#include "common/result.h"
#include "vmm/virtio/device.h"

namespace flotilla::vmm::virtio {

class RngBackend {
 public:
  virtual ~RngBackend() = default;
  // Fills all of out or fails (kBackend, errno in the message).
  virtual Result<void, VirtioError> fill(std::span<uint8_t> out) = 0;
};

class GetrandomBackend : public RngBackend {
 public:
  Result<void, VirtioError> fill(std::span<uint8_t> out) override;
};

}  // namespace flotilla::vmm::virtio
