// VirtioRngState: what a snapshot stores about the rng device model (the transport stores the
// queues). Live objects (backend fd, timer) are rebuilt on restore.
#pragma once

#include <cstdint>

namespace flotilla::vmm::virtio {

struct VirtioRngState {
  uint64_t acked_features = 0;
  bool activated = false;
  uint64_t rate_tokens = 0;  // token bucket level when rate-limited (bytes)
};

}  // namespace flotilla::vmm::virtio
