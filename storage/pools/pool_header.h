// The on-device map of a partitioned pool, so the pool can be rebuilt from the device alone.
//
// The first kHeaderAreaBytes (1 MiB) of the device are the header area: two slots of 512 KiB.
// A slot is a 64-byte head (magic "FLTPOOL\0", version, payload length, generation, CRC-32 of
// head fields and payload) followed by a JSON payload (pool id and name, device size, and each
// disk's id, name, format, size and extents). Writes go to the slot the next generation picks
// (generation % 2) and are fdatasync'ed, so a crash mid-write leaves the other slot, one
// generation older, intact: a reader takes the valid slot with the higher generation.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "common/result.h"
#include "storage/model.h"

namespace flotilla::storage::pools {

inline constexpr uint64_t kHeaderAreaBytes = 1ULL << 20;
inline constexpr uint64_t kSlotBytes = kHeaderAreaBytes / 2;
inline constexpr uint64_t kSlotHeadBytes = 64;
inline constexpr uint32_t kHeaderVersion = 1;

struct HeaderDisk {
  std::string id;
  std::string name;
  std::string format = "raw";
  uint64_t size_bytes = 0;
  std::vector<DiskExtent> extents;
  bool operator==(const HeaderDisk&) const = default;
};

struct PoolHeader {
  std::string pool_id;
  std::string pool_name;
  uint64_t device_bytes = 0;
  uint64_t generation = 0;  // set by write_pool_header
  std::vector<HeaderDisk> disks;
};

struct HeaderError {
  enum class Code { io, corrupt, too_large } code = Code::io;
  std::string message;
};
template <class T>
using HeaderResult = Result<T, HeaderError>;

// CRC-32 (IEEE 802.3, the zlib polynomial), for the slots' checksum.
uint32_t crc32(std::span<const uint8_t> data, uint32_t crc = 0);

// One slot's bytes (head + payload, not padded) for `header` at header.generation.
HeaderResult<std::vector<uint8_t>> encode_slot(const PoolHeader& header);
// Checks magic, version, length and CRC and parses the payload (bounds-checked: extents
// inside the device, past the header area, 512-byte aligned).
HeaderResult<PoolHeader> decode_slot(std::span<const uint8_t> slot);

// The valid slot with the higher generation; corrupt when neither slot is valid.
HeaderResult<PoolHeader> read_pool_header(const std::string& device_path);
// Writes `header` as generation (newest valid generation on the device + 1) into that
// generation's slot and fdatasyncs; header.generation is set to it.
HeaderResult<void> write_pool_header(const std::string& device_path, PoolHeader& header);
// Zeroes the whole header area (a new pool, or a deleted one) and fdatasyncs.
HeaderResult<void> wipe_pool_header(const std::string& device_path);

}  // namespace flotilla::storage::pools
