// What the crash writer writes where (shared by the helper and the test that checks it).
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

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
inline int64_t block_tag(std::span<const std::byte> in) {
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
    if (word(w) != ((tag << 24) | w)) return -2;
  }
  return static_cast<int64_t>(tag) - 1;
}

}  // namespace flotilla::storage::crash
