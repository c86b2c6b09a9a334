// The probe guest's test frames (team/NETWORK.md), host copy: build frames for the guest's
// `net recv` and verify what its `net send` / `net bench` transmit. The guest's copy is
// guest/probe/shell/net.c; both must stay identical.
//
// Frame of SIZE bytes (60..1514, Ethernet header included, no FCS), Ethernet type 0x88b5.
// From offset 14, little-endian: u32 magic 0x464c544e ("FLTN"), u32 seq (0..count-1), u32 count,
// u32 sum (32-bit sum of the little-endian u32 words from offset 30 to the end, the last partial
// word zero-padded), then byte (seq + i) & 0xff at offset 30 + i.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <vector>

namespace flotilla::test {

inline constexpr uint16_t kTestFrameType = 0x88b5;
inline constexpr uint32_t kTestFrameMagic = 0x464c544e;
inline constexpr size_t kTestFrameData = 30;
inline constexpr size_t kTestFrameMin = 60;
inline constexpr size_t kTestFrameMax = 1514;

using Mac = std::array<uint8_t, 6>;

inline uint32_t test_frame_le32(const uint8_t* p) {
  return static_cast<uint32_t>(p[0]) | static_cast<uint32_t>(p[1]) << 8 |
         static_cast<uint32_t>(p[2]) << 16 | static_cast<uint32_t>(p[3]) << 24;
}

inline void test_frame_put_le32(uint8_t* p, uint32_t v) {
  for (int i = 0; i < 4; ++i) p[i] = static_cast<uint8_t>(v >> (8 * i));
}

// The 32-bit sum of little-endian words, the last partial word zero-padded.
inline uint32_t test_frame_sum(std::span<const uint8_t> data) {
  uint32_t sum = 0;
  size_t i = 0;
  for (; i + 4 <= data.size(); i += 4) sum += test_frame_le32(data.data() + i);
  if (i < data.size()) {
    uint8_t tail[4] = {0, 0, 0, 0};
    for (size_t k = 0; i + k < data.size(); ++k) tail[k] = data[i + k];
    sum += test_frame_le32(tail);
  }
  return sum;
}

// Test frame `seq` of `count`, `size` bytes (clamped to 60..1514), from src to dst.
inline std::vector<uint8_t> build_test_frame(const Mac& dst, const Mac& src, uint32_t seq,
                                             uint32_t count, size_t size) {
  if (size < kTestFrameMin) size = kTestFrameMin;
  if (size > kTestFrameMax) size = kTestFrameMax;
  std::vector<uint8_t> f(size);
  std::copy(dst.begin(), dst.end(), f.begin());
  std::copy(src.begin(), src.end(), f.begin() + 6);
  f[12] = static_cast<uint8_t>(kTestFrameType >> 8);
  f[13] = static_cast<uint8_t>(kTestFrameType & 0xff);
  test_frame_put_le32(&f[14], kTestFrameMagic);
  test_frame_put_le32(&f[18], seq);
  test_frame_put_le32(&f[22], count);
  for (size_t i = kTestFrameData; i < size; ++i)
    f[i] = static_cast<uint8_t>(seq + (i - kTestFrameData));
  test_frame_put_le32(&f[26], test_frame_sum(std::span(f).subspan(kTestFrameData)));
  return f;
}

// What verify_test_frame found in a well-formed test frame.
struct TestFrameInfo {
  Mac dst{}, src{};
  uint32_t seq = 0;
  uint32_t count = 0;
  size_t size = 0;
};

// The frame's fields if it is a valid test frame (type, magic, size, sum and pattern bytes all
// right), else nullopt.
inline std::optional<TestFrameInfo> verify_test_frame(std::span<const uint8_t> f) {
  if (f.size() < kTestFrameMin || f.size() > kTestFrameMax) return std::nullopt;
  if ((static_cast<uint16_t>(f[12]) << 8 | f[13]) != kTestFrameType) return std::nullopt;
  if (test_frame_le32(&f[14]) != kTestFrameMagic) return std::nullopt;
  TestFrameInfo info;
  std::copy(f.begin(), f.begin() + 6, info.dst.begin());
  std::copy(f.begin() + 6, f.begin() + 12, info.src.begin());
  info.seq = test_frame_le32(&f[18]);
  info.count = test_frame_le32(&f[22]);
  info.size = f.size();
  if (test_frame_sum(f.subspan(kTestFrameData)) != test_frame_le32(&f[26])) return std::nullopt;
  for (size_t i = kTestFrameData; i < f.size(); ++i)
    if (f[i] != static_cast<uint8_t>(info.seq + (i - kTestFrameData))) return std::nullopt;
  return info;
}

}  // namespace flotilla::test
