// VirtioBlockState: what a snapshot stores about the virtio-blk device model (the transport
// stores the queue). The image and the worker threads are rebuilt on restore; a snapshot is
// only taken with no request in flight (VirtioBlock::drain()).
#pragma once

#include <cstdint>

namespace flotilla::vmm::virtio {

struct VirtioBlockState {
  uint64_t acked_features = 0;
  bool activated = false;
  uint64_t capacity_sectors = 0;  // refused on restore when the image no longer matches
};

}  // namespace flotilla::vmm::virtio
