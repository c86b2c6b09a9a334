// parse_rng_request: writable buffers only, trimmed to the cap.
#include "vmm/devices/virtio/rng/request.h"

#include <algorithm>

namespace flotilla::vmm::virtio {

const char* describe(RngRequestError error) {
  switch (error) {
    case RngRequestError::kReadableBuffer:
      return "device-readable buffer in an rng request";
    case RngRequestError::kNoBuffer:
      return "rng request without writable bytes";
  }
  return "unknown rng request error";
}

Result<RngRequest, RngRequestError> parse_rng_request(const DescriptorChain& chain,
                                                      uint32_t max_bytes) {
  if (chain.readable_bytes > 0) return fail(RngRequestError::kReadableBuffer);
  RngRequest request;
  request.head = chain.head;
  for (const auto& d : chain.descriptors) {
    if (!d.device_writable) return fail(RngRequestError::kReadableBuffer);
    if (d.len == 0 || request.total >= max_bytes) continue;
    Descriptor trimmed = d;
    trimmed.len = std::min(d.len, max_bytes - request.total);
    request.total += trimmed.len;
    request.buffers.push_back(trimmed);
  }
  if (request.total == 0) return fail(RngRequestError::kNoBuffer);
  return request;
}

}  // namespace flotilla::vmm::virtio
