// Corrupt and hostile qcow2 images: each is refused at open with a clear error, or gives an
// error on the request that touches the bad metadata — never a crash or a read outside the file.
#include <gtest/gtest.h>
#include <unistd.h>

#include <random>

#include "qcow2_test_util.h"

using namespace flotilla::storage;
using namespace flotilla::storage::testing;

namespace {

constexpr uint64_t kCluster = 65536;

class Qcow2HostileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    path_ = dir_.file("disk.qcow2");
    create_or_die(path_, ImageFormat::kQcow2, 8 << 20, 16);
    auto image = open_or_die(path_, ImageFormat::kQcow2, false);
    ASSERT_TRUE(image);
    ASSERT_TRUE(image->write(0, pattern(0, 3 * kCluster, 1)).ok());
    ASSERT_TRUE(image->flush().ok());
  }

  ImageError open_error(bool read_only = true) {
    auto image = open_image(OpenOptions{path_, ImageFormat::kQcow2, read_only, false, {}});
    EXPECT_FALSE(image.ok()) << "opened a hostile image";
    return image ? ImageError{} : image.error();
  }
  uint64_t l1_offset() { return read_be64(path_, 40); }
  uint64_t l2_offset() { return read_be64(path_, l1_offset()) & 0x00fffffffffffe00ull; }

  TempDir dir_{"qcow2-hostile"};
  std::string path_;
};

TEST_F(Qcow2HostileTest, TruncatedFilesAreCorrupt) {
  ASSERT_EQ(::truncate(path_.c_str(), 50), 0);
  EXPECT_EQ(open_error().code, ImageErrc::kCorrupt);
  ASSERT_EQ(::truncate(path_.c_str(), 100), 0);
  EXPECT_EQ(open_error().code, ImageErrc::kCorrupt);
  ASSERT_EQ(::truncate(path_.c_str(), kCluster + 8), 0);  // tables cut off
  const ImageError e = open_error();
  EXPECT_EQ(e.code, ImageErrc::kCorrupt);
  EXPECT_NE(e.message.find(path_), std::string::npos) << e.message;
}

TEST_F(Qcow2HostileTest, DataTruncatedAwayGivesAnIoErrorNotStaleBytes) {
  // The tables survive, the data clusters are cut off: requests fail, open may succeed.
  struct stat st {};
  ASSERT_EQ(::stat(path_.c_str(), &st), 0);
  ASSERT_EQ(::truncate(path_.c_str(), st.st_size - 2 * kCluster), 0);
  auto image = open_image(OpenOptions{path_, ImageFormat::kQcow2, true, false, {}});
  if (!image) {
    EXPECT_EQ(image.error().code, ImageErrc::kCorrupt);
    return;
  }
  std::vector<std::byte> buf(3 * kCluster);
  auto r = (*image)->read(0, buf);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ImageErrc::kCorrupt);
}

TEST_F(Qcow2HostileTest, L1TableOffsetPastTheEnd) {
  patch_file(path_, 40, be64(1ull << 40));
  EXPECT_EQ(open_error().code, ImageErrc::kCorrupt);
}

TEST_F(Qcow2HostileTest, L1EntryPastTheEnd) {
  patch_file(path_, l1_offset(), be64((1ull << 63) | (1ull << 40)));
  const ImageError e = open_error();
  EXPECT_EQ(e.code, ImageErrc::kCorrupt);
  EXPECT_NE(e.message.find("L1 entry 0"), std::string::npos) << e.message;
}

TEST_F(Qcow2HostileTest, L2EntriesPastTheEndOrOntoMetadataFailTheRequest) {
  const uint64_t l2 = l2_offset();
  patch_file(path_, l2, be64((1ull << 63) | (1ull << 41)));              // past the end
  patch_file(path_, l2 + 8, be64((1ull << 63) | l1_offset()));           // onto the L1 table
  patch_file(path_, l2 + 16, be64((1ull << 63) | (l1_offset() + 512)));  // unaligned
  patch_file(path_, l2 + 24, be64((1ull << 63) | l2));                   // onto its L2 table
  for (bool read_only : {true, false}) {
    auto image = open_image(OpenOptions{path_, ImageFormat::kQcow2, read_only, false, {}});
    ASSERT_TRUE(image.ok()) << image.error().message;
    std::vector<std::byte> buf(4096);
    for (uint64_t cluster = 0; cluster < 4; ++cluster) {
      auto r = (*image)->read(cluster * kCluster, buf);
      ASSERT_FALSE(r.ok()) << cluster;
      EXPECT_EQ(r.error().code, ImageErrc::kCorrupt) << r.error().message;
    }
    if (!read_only) {
      auto w = (*image)->write(kCluster, buf);
      ASSERT_FALSE(w.ok());
      EXPECT_EQ(w.error().code, ImageErrc::kCorrupt);
      // An untouched range still works.
      EXPECT_TRUE((*image)->write(5 * kCluster, buf).ok());
    }
  }
}

TEST_F(Qcow2HostileTest, RefcountTableAndBlocksPastTheEnd) {
  patch_file(path_, 48, be64(1ull << 40));
  EXPECT_EQ(open_error().code, ImageErrc::kCorrupt);
  patch_file(path_, 48, be64(kCluster));
  patch_file(path_, 56, be32(1u << 20));  // 64 GiB of refcount table
  EXPECT_EQ(open_error().code, ImageErrc::kCorrupt);
  patch_file(path_, 56, be32(1));
  patch_file(path_, kCluster, be64(1ull << 40));  // refcount block 0 past the end
  EXPECT_EQ(open_error(false).code, ImageErrc::kCorrupt);
}

TEST_F(Qcow2HostileTest, AbsurdSizesAndClusterBits) {
  patch_file(path_, 24, be64(1ull << 62));  // L1 far too small for it
  EXPECT_EQ(open_error().code, ImageErrc::kCorrupt);
  patch_file(path_, 36, be32(0xffffffffu));  // and an L1 of 32 GiB
  EXPECT_EQ(open_error().code, ImageErrc::kCorrupt);
  patch_file(path_, 24, be64(8 << 20));
  patch_file(path_, 36, be32(1));
  patch_file(path_, 20, be32(40));
  EXPECT_EQ(open_error().code, ImageErrc::kCorrupt);
  patch_file(path_, 20, be32(8));
  EXPECT_EQ(open_error().code, ImageErrc::kCorrupt);
  patch_file(path_, 20, be32(16));
  patch_file(path_, 100, be32(1u << 30));  // header_length
  EXPECT_EQ(open_error().code, ImageErrc::kCorrupt);
}

TEST_F(Qcow2HostileTest, UnknownAndUnsupportedFeaturesAreNamed) {
  patch_file(path_, 72, be64(1ull << 10));
  ImageError e = open_error();
  EXPECT_EQ(e.code, ImageErrc::kUnsupported);
  EXPECT_NE(e.message.find("bit 10"), std::string::npos) << e.message;
  patch_file(path_, 72, be64(1ull << 4));
  e = open_error();
  EXPECT_EQ(e.code, ImageErrc::kUnsupported);
  EXPECT_NE(e.message.find("extended L2"), std::string::npos) << e.message;
  patch_file(path_, 72, be64(1ull << 2));
  EXPECT_EQ(open_error().code, ImageErrc::kUnsupported);
  patch_file(path_, 72, be64(1ull << 3));
  patch_file(path_, 104, {1});  // zstd
  e = open_error();
  EXPECT_EQ(e.code, ImageErrc::kUnsupported);
  EXPECT_NE(e.message.find("compression type"), std::string::npos) << e.message;
  patch_file(path_, 72, be64(0));
  patch_file(path_, 104, {0});
  patch_file(path_, 32, be32(1));  // AES
  EXPECT_EQ(open_error().code, ImageErrc::kUnsupported);
  patch_file(path_, 32, be32(0));
  patch_file(path_, 4, be32(4));  // version 4
  EXPECT_EQ(open_error().code, ImageErrc::kUnsupported);
}

TEST_F(Qcow2HostileTest, CorruptBitOpensReadOnlyOnly) {
  patch_file(path_, 72, be64(2));  // QEMU marked it corrupt
  EXPECT_TRUE(open_image(OpenOptions{path_, ImageFormat::kQcow2, true, false, {}}).ok());
  EXPECT_EQ(open_error(false).code, ImageErrc::kCorrupt);
}

TEST_F(Qcow2HostileTest, GarbageCompressedClusterIsAnError) {
  // Turn data cluster 1 into a "compressed" entry over garbage bytes.
  const uint64_t l2 = l2_offset();
  const uint64_t host = read_be64(path_, l2 + 8) & 0x00fffffffffffe00ull;
  patch_file(path_, l2 + 8, be64((1ull << 62) | host | (3ull << 54)));
  auto image = open_or_die(path_, ImageFormat::kQcow2, true);
  std::vector<std::byte> buf(512);
  auto r = image->read(kCluster, buf);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ImageErrc::kCorrupt);
}

// Writes a backing-file name into an image's first cluster (after the header).
void set_backing(const std::string& path, const std::string& name) {
  patch_file(path, 1024, std::vector<uint8_t>(name.begin(), name.end()));
  patch_file(path, 8, be64(1024));
  patch_file(path, 16, be32(static_cast<uint32_t>(name.size())));
}

TEST(Qcow2Chain, LoopsAreRefused) {
  TempDir dir("qcow2-loop");
  const std::string a = dir.file("a.qcow2");
  const std::string b = dir.file("b.qcow2");
  create_or_die(b, ImageFormat::kQcow2, 1 << 20);
  create_or_die(a, ImageFormat::kQcow2, 1 << 20, 16, b);
  set_backing(b, "a.qcow2");  // a → b → a
  for (const std::string& p : {a, b}) {
    auto image = open_image(OpenOptions{p, ImageFormat::kQcow2, true, false, {}});
    ASSERT_FALSE(image.ok());
    EXPECT_EQ(image.error().code, ImageErrc::kCorrupt);
    EXPECT_NE(image.error().message.find("loop"), std::string::npos) << image.error().message;
    auto info = image_info(p);
    EXPECT_FALSE(info.ok());
  }
  const std::string self = dir.file("self.qcow2");
  create_or_die(self, ImageFormat::kQcow2, 1 << 20);
  set_backing(self, "./self.qcow2");
  EXPECT_EQ(open_image(OpenOptions{self, ImageFormat::kQcow2, true, false, {}}).error().code,
            ImageErrc::kCorrupt);
  // A symlink to the same file is the same inode: still a loop.
  ASSERT_EQ(::symlink("a.qcow2", dir.file("alias.qcow2").c_str()), 0);
  set_backing(b, "alias.qcow2");
  EXPECT_EQ(open_image(OpenOptions{a, ImageFormat::kQcow2, true, false, {}}).error().code,
            ImageErrc::kCorrupt);
}

TEST(Qcow2Chain, SixteenBackingFilesOpenSeventeenDoNot) {
  TempDir dir("qcow2-depth");
  std::string below = dir.file("l0.qcow2");
  create_or_die(below, ImageFormat::kQcow2, 1 << 20);
  {
    auto base = open_or_die(below, ImageFormat::kQcow2, false);
    ASSERT_TRUE(base->write(0, pattern(0, 4096, 9)).ok());
  }
  for (int level = 1; level <= 17; ++level) {
    const std::string p = dir.file("l" + std::to_string(level) + ".qcow2");
    create_or_die(p, ImageFormat::kQcow2, 1 << 20, 16, below);
    below = p;
  }
  auto ok = open_image(OpenOptions{dir.file("l16.qcow2"), ImageFormat::kQcow2, true, false, {}});
  ASSERT_TRUE(ok.ok()) << ok.error().message;
  std::vector<std::byte> buf(4096);
  ASSERT_TRUE((*ok)->read(0, buf).ok());
  EXPECT_EQ(buf, pattern(0, 4096, 9));
  auto deep = open_image(OpenOptions{dir.file("l17.qcow2"), ImageFormat::kQcow2, true, false, {}});
  ASSERT_FALSE(deep.ok());
  EXPECT_EQ(deep.error().code, ImageErrc::kUnsupported);
  EXPECT_NE(deep.error().message.find("deeper than 16"), std::string::npos) << deep.error().message;
}

TEST(Qcow2Chain, MissingBackingFileIsNotFound) {
  TempDir dir("qcow2-missing");
  const std::string base = dir.file("base.qcow2");
  const std::string top = dir.file("top.qcow2");
  create_or_die(base, ImageFormat::kQcow2, 1 << 20);
  create_or_die(top, ImageFormat::kQcow2, 1 << 20, 16, base);
  ASSERT_EQ(::unlink(base.c_str()), 0);
  auto image = open_image(OpenOptions{top, ImageFormat::kQcow2, true, false, {}});
  ASSERT_FALSE(image.ok());
  EXPECT_EQ(image.error().code, ImageErrc::kNotFound);
  EXPECT_NE(image.error().message.find("base.qcow2"), std::string::npos) << image.error().message;
}

TEST(Qcow2Hostile, RandomByteFlipsNeverCrash) {
  // A small image (512-byte clusters, all metadata in the first few KiB) with bytes flipped
  // at random: every outcome is fine except a crash (the ASan build checks the reads too).
  TempDir dir("qcow2-flip");
  const std::string good = dir.file("good.qcow2");
  create_or_die(good, ImageFormat::kQcow2, 256 << 10, 9);
  {
    auto image = open_or_die(good, ImageFormat::kQcow2, false);
    ASSERT_TRUE(image->write(0, pattern(0, 64 << 10, 1)).ok());
    ASSERT_TRUE(image->flush().ok());
  }
  const auto original = read_file(good);
  std::mt19937_64 rng(1);
  int opened = 0;
  for (int i = 0; i < 400; ++i) {
    const std::string p = dir.file("flip.qcow2");
    {
      std::ofstream out(p, std::ios::binary | std::ios::trunc);
      auto bytes = original;
      for (int f = 0; f < 1 + static_cast<int>(rng() % 4); ++f) {
        const size_t at = rng() % std::min<size_t>(bytes.size(), 8192);
        bytes[at] = static_cast<std::byte>(rng());
      }
      out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<long>(bytes.size()));
    }
    auto image = open_image(OpenOptions{p, ImageFormat::kQcow2, i % 2 == 0, false, {}});
    if (!image) continue;
    ++opened;
    std::vector<std::byte> buf(4096);
    for (uint64_t at = 0; at + buf.size() <= (*image)->size_bytes() && at < (256 << 10);
         at += 8192) {
      (void)(*image)->read(at, buf);
      if (i % 2 == 1) (void)(*image)->write(at + 512, std::span(buf.data(), 1024));
    }
    if (i % 2 == 1) (void)(*image)->discard(0, 4096);
    (void)(*image)->flush();
  }
  EXPECT_GT(opened, 0);
}

}  // namespace
