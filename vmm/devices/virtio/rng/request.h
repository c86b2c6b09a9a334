// RngRequest: one virtio-rng request parsed from a descriptor chain. The driver supplies only
// device-writable buffers; the device fills them (at most max_bytes in total) and returns the
// chain with the number of bytes written.
#pragma once

#include <cstdint>
#include <vector>

#include "common/result.h"
#include "vmm/virtio/queue.h"

namespace flotilla::vmm::virtio {

enum class RngRequestError {
  kReadableBuffer,  // a device-readable descriptor: not a valid rng request
  kNoBuffer,        // no writable bytes at all
};
const char* describe(RngRequestError error);

struct RngRequest {
  uint16_t head = 0;
  std::vector<Descriptor> buffers;  // writable buffers, trimmed so their total ≤ max_bytes
  uint32_t total = 0;               // bytes to fill
};

Result<RngRequest, RngRequestError> parse_rng_request(const DescriptorChain& chain,
                                                      uint32_t max_bytes);

}  // namespace flotilla::vmm::virtio
