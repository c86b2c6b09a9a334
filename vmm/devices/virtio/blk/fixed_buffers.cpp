// FixedBuffers: a sparse io_uring buffer table over guest RAM, filled a chunk at a time.
#include "vmm/devices/virtio/blk/fixed_buffers.h"

#include <spdlog/spdlog.h>
#include <sys/uio.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>

namespace flotilla::vmm::virtio {
namespace {

uint64_t chunks_in(uint64_t bytes, uint64_t chunk) {
  return (bytes + chunk - 1) / chunk;
}

uint64_t total_chunks(const std::vector<MemoryRegion>& regions, uint64_t chunk) {
  uint64_t n = 0;
  for (const MemoryRegion& r : regions) n += chunks_in(r.size, chunk);
  return n;
}

// FLOTILLA_BLK_FIXED: unset or anything but "0" → on.
bool fixed_buffers_enabled() {
  const char* env = std::getenv("FLOTILLA_BLK_FIXED");
  return env == nullptr || std::string(env) != "0";
}

}  // namespace

bool FixedBuffers::attach(io_uring* ring, const std::vector<MemoryRegion>& regions) {
  detach();
  if (!fixed_buffers_enabled() || regions.empty()) return false;
  chunk_ = kMinChunk;
  while (total_chunks(regions, chunk_) > kMaxSlots) chunk_ *= 2;
  if (chunk_ > kMaxChunk) return false;  // > 16 TiB of RAM: past the kernel's buffer size
  const auto slots = static_cast<unsigned>(total_chunks(regions, chunk_));
  if (const int rc = io_uring_register_buffers_sparse(ring, slots); rc < 0) {
    spdlog::info("{}: io_uring_register_buffers_sparse: {}; plain iovecs", name_,
                 std::strerror(-rc));
    return false;
  }
  ring_ = ring;
  unsigned next = 0;
  for (const MemoryRegion& r : regions) {
    spans_.push_back(Span{r.host, r.size, next});
    next += static_cast<unsigned>(chunks_in(r.size, chunk_));
  }
  registered_.assign(slots, false);
  return true;
}

void FixedBuffers::detach() {
  if (ring_ != nullptr) (void)io_uring_unregister_buffers(ring_);
  ring_ = nullptr;
  spans_.clear();
  registered_.clear();
  refused_ = false;
}

int FixedBuffers::slot_for(const void* p, size_t len) {
  if (ring_ == nullptr || len == 0) return -1;
  const auto* bytes = static_cast<const uint8_t*>(p);
  for (const Span& s : spans_) {
    if (bytes < s.host || static_cast<uint64_t>(bytes - s.host) >= s.size) continue;
    const auto offset = static_cast<uint64_t>(bytes - s.host);
    const uint64_t index = offset / chunk_;
    const uint64_t chunk_end = std::min(s.size, (index + 1) * chunk_);
    if (len > chunk_end - offset) return -1;  // straddles chunks (or leaves the region)
    const auto slot = static_cast<unsigned>(s.first_slot + index);
    if (registered_[slot]) return static_cast<int>(slot);
    if (refused_ || !register_chunk(slot, s, index)) return -1;
    return static_cast<int>(slot);
  }
  return -1;
}

bool FixedBuffers::register_chunk(unsigned slot, const Span& span, uint64_t chunk_index) {
  const uint64_t start = chunk_index * chunk_;
  iovec iov{span.host + start, std::min(chunk_, span.size - start)};
  const int rc = io_uring_register_buffers_update_tag(ring_, slot, &iov, nullptr, 1);
  if (rc == 1) {
    registered_[slot] = true;
    return true;
  }
  // ENOMEM: RLIMIT_MEMLOCK (no CAP_IPC_LOCK); anything else is as final. Stop asking.
  // The chunks already registered stay in use: dropping the table here could wait on requests
  // in flight.
  spdlog::warn("{}: registering guest RAM for io_uring failed ({}); plain iovecs for the rest",
               name_, std::strerror(rc < 0 ? -rc : EIO));
  refused_ = true;
  return false;
}

}  // namespace flotilla::vmm::virtio
