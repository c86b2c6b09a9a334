// The probe guest's blk data pattern (team/STORAGE.md), for host-side checks of what the probe's
// `blk write LBA COUNT SEED` put on a disk. Sector L (absolute LBA) is 64 little-endian uint64
// words; word j = mix(seed * 0x9E3779B97F4A7C15 + L * 64 + j), mix = the splitmix64 finaliser.
// The guest's copy is guest/probe/shell/blk.c; both must stay identical.
#pragma once

#include <cstdint>

namespace flotilla::test {

inline uint64_t blk_pattern_mix(uint64_t x) {
  x ^= x >> 30;
  x *= 0xBF58476D1CE4E5B9ull;
  x ^= x >> 27;
  x *= 0x94D049BB133111EBull;
  x ^= x >> 31;
  return x;
}

inline uint64_t blk_pattern_word(uint64_t seed, uint64_t lba, unsigned j) {
  return blk_pattern_mix(seed * 0x9E3779B97F4A7C15ull + lba * 64 + j);
}

// Fills out with sector `lba` of the pattern for `seed` (little-endian words).
inline void blk_pattern_sector(uint64_t seed, uint64_t lba, uint8_t out[512]) {
  for (unsigned j = 0; j < 64; ++j) {
    const uint64_t w = blk_pattern_word(seed, lba, j);
    for (unsigned b = 0; b < 8; ++b) out[j * 8 + b] = static_cast<uint8_t>(w >> (8 * b));
  }
}

}  // namespace flotilla::test

// Unqualified names, as team/STORAGE.md states them.
using flotilla::test::blk_pattern_sector;
using flotilla::test::blk_pattern_word;
