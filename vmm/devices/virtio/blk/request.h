// BlkRequest: one virtio-blk request (virtio 1.x 5.2.6) parsed and validated from a descriptor
// chain, before any byte of the disk is touched. Framing is free (the spec forbids assuming it):
// the device-readable bytes are the 16-byte header followed by the data-out bytes (OUT) or the
// discard/write-zeroes segments; the device-writable bytes are the data-in bytes (IN, GET_ID)
// followed by the one status byte (the last writable byte of the chain).
//
// Everything a guest controls is checked here: header size, status byte present, data length a
// multiple of 512, sector range inside the capacity (with overflow), data-segment count against
// seg_max, read-only disks, segment counts/lengths/flags of discard and write-zeroes, and which
// direction each request type may carry data. A request that fails is not executed: the device
// writes `status` (IOERR or UNSUPP) to the status byte, or, with no status byte to write to,
// returns the chain with 0 bytes used.
//
// Pure logic (no I/O, no threads): the libFuzzer target tests/fuzz/virtio_blk_request_fuzz.cpp
// drives it with arbitrary chains.
#pragma once

#include <linux/virtio_blk.h>
#include <sys/uio.h>

#include <cstdint>
#include <vector>

#include "common/result.h"
#include "vmm/virtio/queue.h"

namespace flotilla::vmm::virtio {

inline constexpr uint64_t kBlkSectorSize = 512;
inline constexpr uint32_t kBlkHeaderSize = sizeof(virtio_blk_outhdr);                 // 16
inline constexpr uint32_t kBlkSegmentSize = sizeof(virtio_blk_discard_write_zeroes);  // 16

// What the device offers and the driver accepted: the limits every request is held to.
struct BlkLimits {
  uint64_t capacity_sectors = 0;
  bool read_only = false;
  uint32_t seg_max = 254;  // data descriptors per IN/OUT request
  bool discard = false;    // VIRTIO_BLK_F_DISCARD negotiated
  bool write_zeroes = false;
  uint32_t max_discard_sectors = 0;  // per segment
  uint32_t max_discard_seg = 0;
  uint32_t max_write_zeroes_sectors = 0;
  uint32_t max_write_zeroes_seg = 0;
  bool write_zeroes_may_unmap = false;
};

enum class BlkRequestErrc {
  kNoStatus,         // no device-writable byte to put the status in: returned with len 0
  kHeaderTooShort,   // fewer than 16 readable bytes
  kUnsupportedType,  // unknown/unsupported request type (→ UNSUPP)
  kBadLength,        // data length not a multiple of 512 (or of 16 for segments), or data
                     // in the wrong direction for the type
  kOutOfRange,       // sector range past the capacity (or overflowing)
  kTooManySegments,  // more data descriptors than seg_max
  kReadOnly,         // a write, discard or write-zeroes to a read-only disk
  kNotNegotiated,    // discard / write-zeroes without the feature (→ UNSUPP)
  kBadSegmentCount,  // 0 or more than max_*_seg discard/write-zeroes segments (→ UNSUPP)
  kSegmentTooLarge,  // num_sectors above max_*_sectors
  kBadSegmentFlags,  // reserved flag bits, or UNMAP on a discard (→ UNSUPP)
};
const char* describe(BlkRequestErrc code);
// The status byte a refused request gets: VIRTIO_BLK_S_UNSUPP or VIRTIO_BLK_S_IOERR.
uint8_t status_for(BlkRequestErrc code);

struct BlkRequestError {
  BlkRequestErrc code = BlkRequestErrc::kNoStatus;
  uint8_t* status = nullptr;  // where the status goes; null only for kNoStatus
};

// One discard / write-zeroes range, already checked, in bytes.
struct BlkRange {
  uint64_t offset = 0;
  uint64_t length = 0;
  bool unmap = false;
};

struct BlkRequest {
  uint16_t head = 0;
  uint32_t type = 0;  // VIRTIO_BLK_T_*
  uint64_t sector = 0;
  std::vector<iovec> data;       // IN/GET_ID: writable data buffers; OUT: readable data buffers
  uint64_t data_len = 0;         // bytes in data
  std::vector<BlkRange> ranges;  // DISCARD / WRITE_ZEROES
  uint8_t* status = nullptr;     // host pointer to the status byte (inside guest RAM)
  uint64_t offset() const { return sector * kBlkSectorSize; }
};

Result<BlkRequest, BlkRequestError> parse_blk_request(const DescriptorChain& chain,
                                                      const BlkLimits& limits);

}  // namespace flotilla::vmm::virtio
