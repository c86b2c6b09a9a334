// parse_blk_request on hand-built chains: framing, directions, bounds, limits.
#include <gtest/gtest.h>

#include <cstring>

#include "vmm/devices/virtio/blk/request.h"

namespace flotilla::vmm::virtio {
namespace {

// Host buffers standing in for guest RAM, and a chain over them.
struct ChainBuilder {
  std::vector<std::vector<uint8_t>> bufs;
  DescriptorChain chain;
  ChainBuilder& add(size_t len, bool writable) {
    bufs.emplace_back(len, 0);
    uint8_t* host = len ? bufs.back().data() : nullptr;
    chain.descriptors.push_back(
        Descriptor{0x1000 * bufs.size(), static_cast<uint32_t>(len), writable, host});
    (writable ? chain.writable_bytes : chain.readable_bytes) += len;
    return *this;
  }
  ChainBuilder& header(uint32_t type, uint64_t sector) {
    add(16, false);
    virtio_blk_outhdr h{type, 0, sector};
    std::memcpy(bufs.back().data(), &h, 16);
    return *this;
  }
  uint8_t* last() { return bufs.back().data() + bufs.back().size() - 1; }
};

BlkLimits limits() {
  BlkLimits l;
  l.capacity_sectors = 2048;
  l.seg_max = 4;
  l.discard = l.write_zeroes = true;
  l.max_discard_sectors = l.max_write_zeroes_sectors = 1024;
  l.max_discard_seg = l.max_write_zeroes_seg = 2;
  l.write_zeroes_may_unmap = true;
  return l;
}

BlkRequestErrc error_of(ChainBuilder& b, const BlkLimits& l = limits()) {
  auto r = parse_blk_request(b.chain, l);
  EXPECT_FALSE(r.ok());
  return r.ok() ? BlkRequestErrc::kNoStatus : r.error().code;
}

TEST(BlkRequest, ReadWithDataAndStatus) {
  ChainBuilder b;
  b.chain.head = 7;
  b.header(VIRTIO_BLK_T_IN, 100).add(1024, true).add(1, true);
  auto r = parse_blk_request(b.chain, limits());
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->head, 7);
  EXPECT_EQ(r->type, static_cast<uint32_t>(VIRTIO_BLK_T_IN));
  EXPECT_EQ(r->offset(), 100u * 512);
  EXPECT_EQ(r->data_len, 1024u);
  ASSERT_EQ(r->data.size(), 1u);
  EXPECT_EQ(r->data[0].iov_base, b.bufs[1].data());
  EXPECT_EQ(r->status, b.last());
}

TEST(BlkRequest, StatusSharesTheLastDataBufferAndHeaderIsSplit) {
  ChainBuilder b;
  b.add(3, false).add(13 + 512, false).add(513, true);  // header 3+13, 512 data; 512 + status
  virtio_blk_outhdr h{VIRTIO_BLK_T_OUT, 0, 5};
  std::memcpy(b.bufs[0].data(), &h, 3);
  std::memcpy(b.bufs[1].data(), reinterpret_cast<uint8_t*>(&h) + 3, 13);
  auto r = parse_blk_request(b.chain, limits());
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->type, static_cast<uint32_t>(VIRTIO_BLK_T_OUT));
  EXPECT_EQ(r->sector, 5u);
  EXPECT_EQ(r->data_len, 512u);
  ASSERT_EQ(r->data.size(), 1u);
  EXPECT_EQ(r->data[0].iov_base, b.bufs[1].data() + 13);
  EXPECT_EQ(r->status, b.last());
}

TEST(BlkRequest, BoundsIncludingOverflow) {
  {
    ChainBuilder b;
    b.header(VIRTIO_BLK_T_IN, 2047).add(512, true).add(1, true);
    EXPECT_TRUE(parse_blk_request(b.chain, limits()).ok());  // the last sector
  }
  for (uint64_t sector : {2048ULL, 2047ULL + 1, ~0ULL, ~0ULL - 1, (~0ULL) / 512, 1ULL << 63}) {
    ChainBuilder b;
    b.header(VIRTIO_BLK_T_IN, sector).add(1024, true).add(1, true);
    EXPECT_EQ(error_of(b), BlkRequestErrc::kOutOfRange) << sector;
  }
  ChainBuilder b;
  b.header(VIRTIO_BLK_T_OUT, 2047).add(1024, false).add(1, true);
  EXPECT_EQ(error_of(b), BlkRequestErrc::kOutOfRange);
}

TEST(BlkRequest, ShapeErrors) {
  {
    ChainBuilder b;  // no writable byte
    b.header(VIRTIO_BLK_T_IN, 0).add(0, true);
    auto r = parse_blk_request(b.chain, limits());
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code, BlkRequestErrc::kNoStatus);
    EXPECT_EQ(r.error().status, nullptr);
  }
  {
    ChainBuilder b;
    b.add(15, false).add(1, true);
    auto r = parse_blk_request(b.chain, limits());
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code, BlkRequestErrc::kHeaderTooShort);
    EXPECT_EQ(r.error().status, b.last());
    EXPECT_EQ(status_for(r.error().code), VIRTIO_BLK_S_IOERR);
  }
  {
    ChainBuilder b;
    b.header(VIRTIO_BLK_T_IN, 0).add(511, true).add(1, true);
    EXPECT_EQ(error_of(b), BlkRequestErrc::kBadLength);
  }
  {
    ChainBuilder b;
    b.header(VIRTIO_BLK_T_IN, 0);
    for (int i = 0; i < 5; ++i) b.add(512, true);
    b.add(1, true);
    EXPECT_EQ(error_of(b), BlkRequestErrc::kTooManySegments);
  }
  {
    ChainBuilder b;
    b.header(99, 0).add(1, true);
    EXPECT_EQ(error_of(b), BlkRequestErrc::kUnsupportedType);
    EXPECT_EQ(status_for(BlkRequestErrc::kUnsupportedType), VIRTIO_BLK_S_UNSUPP);
  }
  {
    ChainBuilder b;
    b.header(VIRTIO_BLK_T_GET_ID, 0).add(1, true);  // no room for the id
    EXPECT_EQ(error_of(b), BlkRequestErrc::kBadLength);
  }
}

TEST(BlkRequest, ReadOnlyRefusesEveryWrite) {
  BlkLimits l = limits();
  l.read_only = true;
  ChainBuilder w;
  w.header(VIRTIO_BLK_T_OUT, 0).add(512, false).add(1, true);
  EXPECT_EQ(error_of(w, l), BlkRequestErrc::kReadOnly);
  ChainBuilder z;
  z.header(VIRTIO_BLK_T_WRITE_ZEROES, 0).add(16, false).add(1, true);
  EXPECT_EQ(error_of(z, l), BlkRequestErrc::kReadOnly);
  ChainBuilder r;
  r.header(VIRTIO_BLK_T_IN, 0).add(512, true).add(1, true);
  EXPECT_TRUE(parse_blk_request(r.chain, l).ok());
  ChainBuilder f;
  f.header(VIRTIO_BLK_T_FLUSH, 0).add(1, true);
  EXPECT_TRUE(parse_blk_request(f.chain, l).ok());
}

TEST(BlkRequest, DiscardAndWriteZeroesSegments) {
  auto seg = [](ChainBuilder& b, uint64_t sector, uint32_t n, uint32_t flags) {
    b.add(16, false);
    virtio_blk_discard_write_zeroes s{sector, n, flags};
    std::memcpy(b.bufs.back().data(), &s, 16);
  };
  {
    ChainBuilder b;
    b.header(VIRTIO_BLK_T_WRITE_ZEROES, 0);
    seg(b, 8, 16, VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP);
    seg(b, 2040, 8, 0);
    b.add(1, true);
    auto r = parse_blk_request(b.chain, limits());
    ASSERT_TRUE(r.ok());
    ASSERT_EQ(r->ranges.size(), 2u);
    EXPECT_EQ(r->ranges[0].offset, 8u * 512);
    EXPECT_EQ(r->ranges[0].length, 16u * 512);
    EXPECT_TRUE(r->ranges[0].unmap);
    EXPECT_FALSE(r->ranges[1].unmap);
  }
  struct Case {
    uint32_t type;
    uint64_t sector;
    uint32_t n;
    uint32_t flags;
    BlkRequestErrc want;
  };
  for (const Case& c : {Case{VIRTIO_BLK_T_DISCARD, 0, 8, 1, BlkRequestErrc::kBadSegmentFlags},
                        Case{VIRTIO_BLK_T_WRITE_ZEROES, 0, 8, 2, BlkRequestErrc::kBadSegmentFlags},
                        Case{VIRTIO_BLK_T_DISCARD, 0, 1025, 0, BlkRequestErrc::kSegmentTooLarge},
                        Case{VIRTIO_BLK_T_DISCARD, 2041, 8, 0, BlkRequestErrc::kOutOfRange},
                        Case{VIRTIO_BLK_T_DISCARD, ~0ULL, 8, 0, BlkRequestErrc::kOutOfRange}}) {
    ChainBuilder b;
    b.header(c.type, 0);
    seg(b, c.sector, c.n, c.flags);
    b.add(1, true);
    EXPECT_EQ(error_of(b), c.want) << c.sector << " " << c.n << " " << c.flags;
  }
  {
    ChainBuilder b;  // three segments, max 2
    b.header(VIRTIO_BLK_T_DISCARD, 0);
    for (int i = 0; i < 3; ++i) seg(b, 0, 8, 0);
    b.add(1, true);
    EXPECT_EQ(error_of(b), BlkRequestErrc::kBadSegmentCount);
  }
  {
    ChainBuilder b;  // zero segments
    b.header(VIRTIO_BLK_T_DISCARD, 0).add(1, true);
    EXPECT_EQ(error_of(b), BlkRequestErrc::kBadSegmentCount);
  }
  {
    ChainBuilder b;  // 20 bytes of segments
    b.header(VIRTIO_BLK_T_DISCARD, 0).add(20, false).add(1, true);
    EXPECT_EQ(error_of(b), BlkRequestErrc::kBadLength);
  }
  {
    BlkLimits l = limits();
    l.discard = false;
    ChainBuilder b;
    b.header(VIRTIO_BLK_T_DISCARD, 0);
    seg(b, 0, 8, 0);
    b.add(1, true);
    EXPECT_EQ(error_of(b, l), BlkRequestErrc::kNotNegotiated);
  }
}

}  // namespace
}  // namespace flotilla::vmm::virtio
