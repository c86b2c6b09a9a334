// ExtentMap: best fit, growth in place and by new extents, release with merging, free space
// and fragmentation.
#include <gtest/gtest.h>

#include "storage/pools/extent_map.h"

namespace flotilla::storage::pools {
namespace {

constexpr uint64_t M = kExtentAlign;

TEST(ExtentMapTest, RangeIsAlignedInwards) {
  ExtentMap map(M + 5, 10 * M + 7);
  EXPECT_EQ(map.start(), 2 * M);
  EXPECT_EQ(map.end(), 10 * M);
  EXPECT_EQ(map.free_space().free_bytes, 8 * M);
  EXPECT_EQ(map.free_space().fragmentation, 0.0);
}

TEST(ExtentMapTest, BestFitTakesTheSmallestHoleThatHoldsIt) {
  ExtentMap map(0, 100 * M);
  // Holes of 10, 3 and 5 MiB: [0,10) [20,23) [30,35), the rest used.
  ASSERT_TRUE(map.mark_used({10 * M, 10 * M}));
  ASSERT_TRUE(map.mark_used({23 * M, 7 * M}));
  ASSERT_TRUE(map.mark_used({35 * M, 65 * M}));
  EXPECT_EQ(map.free_space().free_bytes, 18 * M);
  EXPECT_EQ(map.free_space().largest_free_bytes, 10 * M);
  EXPECT_NEAR(map.free_space().fragmentation, 1.0 - 10.0 / 18.0, 1e-9);

  auto a = map.allocate(4 * M);  // fits 10 and 5: the 5 MiB hole
  ASSERT_TRUE(a);
  ASSERT_EQ(a->size(), 1u);
  EXPECT_EQ((*a)[0], (DiskExtent{30 * M, 4 * M}));
  auto b = map.allocate(3 * M);  // the 3 MiB hole exactly
  ASSERT_TRUE(b);
  EXPECT_EQ((*b)[0], (DiskExtent{20 * M, 3 * M}));
  EXPECT_EQ(map.free_space().free_bytes, 11 * M);
}

TEST(ExtentMapTest, NoHoleBigEnoughSpansSeveralLargestFirst) {
  ExtentMap map(0, 20 * M);
  ASSERT_TRUE(map.mark_used({4 * M, 2 * M}));   // free [0,4)
  ASSERT_TRUE(map.mark_used({9 * M, 11 * M}));  // free [6,9)
  auto a = map.allocate(6 * M);
  ASSERT_TRUE(a);
  ASSERT_EQ(a->size(), 2u);
  EXPECT_EQ((*a)[0], (DiskExtent{0, 4 * M}));
  EXPECT_EQ((*a)[1], (DiskExtent{6 * M, 2 * M}));
  EXPECT_EQ(map.free_space().free_bytes, 1 * M);
}

TEST(ExtentMapTest, ShortSpaceAndBadSizesChangeNothing) {
  ExtentMap map(0, 8 * M);
  EXPECT_FALSE(map.allocate(9 * M));
  EXPECT_FALSE(map.allocate(0));
  EXPECT_FALSE(map.allocate(M + 512));
  EXPECT_EQ(map.free_space().free_bytes, 8 * M);
  EXPECT_TRUE(map.allocate(8 * M));
  EXPECT_EQ(map.free_space().free_bytes, 0u);
  EXPECT_EQ(map.free_space().fragmentation, 0.0);
  EXPECT_FALSE(map.allocate(M));
}

TEST(ExtentMapTest, MarkUsedRefusesOverlapAndOutside) {
  ExtentMap map(M, 10 * M);
  EXPECT_TRUE(map.mark_used({2 * M, 2 * M}));
  EXPECT_FALSE(map.mark_used({3 * M, 2 * M}));
  EXPECT_FALSE(map.mark_used({0, M}));
  EXPECT_FALSE(map.mark_used({9 * M, 2 * M}));
}

TEST(ExtentMapTest, GrowExtendsInPlaceThenAddsExtents) {
  ExtentMap map(0, 20 * M);
  auto a = map.allocate(2 * M);  // [0,2)
  ASSERT_TRUE(a);
  auto grown = map.grow(*a, 3 * M);  // [2,5) is free: in place
  ASSERT_TRUE(grown);
  ASSERT_EQ(grown->size(), 1u);
  EXPECT_EQ((*grown)[0], (DiskExtent{0, 5 * M}));

  auto b = map.allocate(M);  // [5,6) blocks further growth in place
  ASSERT_TRUE(b);
  auto again = map.grow(*grown, 2 * M);
  ASSERT_TRUE(again);
  ASSERT_EQ(again->size(), 2u);
  EXPECT_EQ((*again)[0], (DiskExtent{0, 5 * M}));
  EXPECT_EQ((*again)[1], (DiskExtent{6 * M, 2 * M}));
  EXPECT_EQ(total_length(*again), 7 * M);
  EXPECT_FALSE(map.grow(*again, 100 * M));
}

TEST(ExtentMapTest, ReleaseMergesNeighboursAndRefusesDoubleFree) {
  ExtentMap map(0, 10 * M);
  auto a = map.allocate(3 * M);
  auto b = map.allocate(3 * M);
  auto c = map.allocate(4 * M);
  ASSERT_TRUE(a && b && c);
  EXPECT_EQ(map.free_space().free_bytes, 0u);
  ASSERT_TRUE(map.release((*a)[0]));
  ASSERT_TRUE(map.release((*c)[0]));
  EXPECT_EQ(map.free_space().free_extents, 2u);
  EXPECT_NEAR(map.free_space().fragmentation, 1.0 - 4.0 / 7.0, 1e-9);
  EXPECT_FALSE(map.release((*a)[0]));
  ASSERT_TRUE(map.release((*b)[0]));
  EXPECT_EQ(map.free_space().free_extents, 1u);
  EXPECT_EQ(map.free_space().largest_free_bytes, 10 * M);
  EXPECT_EQ(map.free_space().fragmentation, 0.0);
}

}  // namespace
}  // namespace flotilla::storage::pools
