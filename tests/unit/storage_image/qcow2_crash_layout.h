// What the crash writer writes where (shared by the helper and the test that checks it).
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

namespace flotilla::storage::crash {

constexpr uint64_t kBlock = 4096;

inline uint64_t mix(uint64_t x) {
  x ^= x >> 30;
  x *= 0xBF58476D1CE4E5B9ull;
  x ^= x >> 27;
  x *= 0x94D049BB133111EBull;
  x ^= x >> 31;
  return x;
}

// The block slot write i goes to; writes spread over the disk but revisit slots often.
inline uint64_t slot_of(uint64_t i, uint64_t slots) {
  return mix(i + 1) % slots;
}

// Write i's block: every 8-byte word holds (i + 1) in its high 40 bits and its word index.
inline void fill_block(uint64_t i, std::span<std::byte> out) {
  for (size_t w = 0; w < out.size() / 8; ++w) {
    const uint64_t v = ((i + 1) << 24) | w;
    for (int b = 0; b < 8; ++b) out[w * 8 + b] = static_cast<std::byte>(v >> (8 * b));
  }
}

// The write index a block holds (-1: all zeroes, -2: not a whole block of one write).
// `first_word`: the block's first 8-byte word within its write (0 for a whole block).
inline int64_t block_tag(std::span<const std::byte> in, uint64_t first_word = 0) {
  auto word = [&](size_t w) {
    uint64_t v = 0;
    for (int b = 7; b >= 0; --b) v = (v << 8) | static_cast<uint8_t>(in[w * 8 + b]);
    return v;
  };
  const uint64_t first = word(0);
  if (first == 0) {
    for (size_t w = 0; w < in.size() / 8; ++w) {
      if (word(w) != 0) return -2;
    }
    return -1;
  }
  const uint64_t tag = first >> 24;
  for (size_t w = 0; w < in.size() / 8; ++w) {
    if (word(w) != ((tag << 24) | (first_word + w))) return -2;
  }
  return static_cast<int64_t>(tag) - 1;
}

// The write index each 512-byte sector of a block holds (-1: zeroes, -2: no one write's
// sector). A write that was never acknowledged may reach the image in part: with clusters
// smaller than a block it is several cluster writes, and a kill between them tears the block at
// a sector (cluster) boundary, as a real disk may. Each sector must still be whole.
constexpr uint64_t kSector = 512;
inline std::vector<int64_t> sector_tags(std::span<const std::byte> block) {
  std::vector<int64_t> out;
  for (uint64_t at = 0; at < block.size(); at += kSector) {
    out.push_back(block_tag(block.subspan(at, kSector), at / 8));
  }
  return out;
}

}  // namespace flotilla::storage::crash
