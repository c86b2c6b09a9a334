// RawImage over whole files and over extents: translation, bounds, zeroes, read-only.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <numeric>
#include <vector>

#include "storage/image/block_image.h"

namespace fs = std::filesystem;
using namespace flotilla::storage;

namespace {

class RawImageTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("raw-image-" + std::to_string(::getpid()));
    fs::create_directories(dir_);
    path_ = (dir_ / "disk.img").string();
    std::vector<char> bytes(64 * 1024);
    for (size_t i = 0; i < bytes.size(); ++i) bytes[i] = static_cast<char>(i / 512);  // sector no.
    std::ofstream(path_, std::ios::binary).write(bytes.data(), static_cast<long>(bytes.size()));
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::vector<std::byte> read(BlockImage& image, uint64_t offset, size_t length) {
    std::vector<std::byte> out(length);
    auto r = image.read(offset, out);
    EXPECT_TRUE(r.ok()) << (r ? "" : r.error().message);
    return out;
  }

  fs::path dir_;
  std::string path_;
};

TEST_F(RawImageTest, WholeFileReadsAndWrites) {
  auto image = open_image(OpenOptions{path_, ImageFormat::kRaw, false, false, {}});
  ASSERT_TRUE(image.ok()) << image.error().message;
  EXPECT_EQ((*image)->size_bytes(), 64u * 1024);
  auto bytes = read(**image, 3 * 512, 512);
  EXPECT_EQ(bytes[0], std::byte{3});
  std::vector<std::byte> data(1024, std::byte{0xab});
  ASSERT_TRUE((*image)->write(512, data).ok());
  ASSERT_TRUE((*image)->flush().ok());
  EXPECT_EQ(read(**image, 1023, 1)[0], std::byte{0xab});
  EXPECT_EQ(read(**image, 1536, 1)[0], std::byte{3});
}

TEST_F(RawImageTest, RequestsPastTheEndAreRefusedAndChangeNothing) {
  auto image = open_image(OpenOptions{path_, ImageFormat::kRaw, false, false, {}});
  ASSERT_TRUE(image.ok());
  std::vector<std::byte> data(1024, std::byte{0xcd});
  auto r = (*image)->write(64 * 1024 - 512, data);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ImageErrc::kOutOfRange);
  EXPECT_EQ(read(**image, 64 * 1024 - 512, 1)[0], std::byte{127});
  EXPECT_FALSE((*image)->write(UINT64_MAX - 10, data).ok());
  EXPECT_FALSE((*image)->discard(60 * 1024, 8 * 1024).ok());
}

TEST_F(RawImageTest, ExtentsMapInOrderAndNothingOutsideIsTouched) {
  // Disk = sectors 10..11 then sectors 2..4 of the file (5 sectors, 2560 bytes).
  OpenOptions options{path_, ImageFormat::kRaw, false, false, {{10 * 512, 1024}, {2 * 512, 1536}}};
  auto image = open_image(options);
  ASSERT_TRUE(image.ok()) << image.error().message;
  EXPECT_EQ((*image)->size_bytes(), 2560u);
  auto bytes = read(**image, 0, 2560);
  EXPECT_EQ(bytes[0], std::byte{10});
  EXPECT_EQ(bytes[1023], std::byte{11});
  EXPECT_EQ(bytes[1024], std::byte{2});
  EXPECT_EQ(bytes[2559], std::byte{4});
  // A write spanning the extent boundary lands in both extents and nowhere else.
  std::vector<std::byte> data(1024, std::byte{0xee});
  ASSERT_TRUE((*image)->write(512, data).ok());
  auto whole = open_image(OpenOptions{path_, ImageFormat::kRaw, true, false, {}});
  ASSERT_TRUE(whole.ok());
  auto file = read(**whole, 0, 64 * 1024);
  for (size_t i = 0; i < file.size(); ++i) {
    const size_t sector = i / 512;
    const bool written = sector == 11 || sector == 2;
    ASSERT_EQ(file[i], written ? std::byte{0xee} : std::byte(sector)) << "byte " << i;
  }
  EXPECT_FALSE((*image)->write(2048, data).ok());  // 2048+1024 > 2560
}

TEST_F(RawImageTest, ExtentsOutsideTheDeviceAreRefused) {
  OpenOptions options{path_, ImageFormat::kRaw, false, false, {{63 * 1024, 2048}}};
  auto image = open_image(options);
  ASSERT_FALSE(image.ok());
  EXPECT_EQ(image.error().code, ImageErrc::kInvalidArgument);
}

TEST_F(RawImageTest, WriteZeroesAndDiscardWithinExtents) {
  OpenOptions options{path_, ImageFormat::kRaw, false, false, {{8 * 1024, 8 * 1024}}};
  auto image = open_image(options);
  ASSERT_TRUE(image.ok());
  ASSERT_TRUE((*image)->write_zeroes(4096, 4096, false).ok());
  auto bytes = read(**image, 0, 8192);
  EXPECT_EQ(bytes[4095], std::byte{23});
  for (size_t i = 4096; i < 8192; ++i) ASSERT_EQ(bytes[i], std::byte{0});
  ASSERT_TRUE((*image)->write_zeroes(0, 4096, true).ok());
  EXPECT_EQ(read(**image, 0, 1)[0], std::byte{0});
  ASSERT_TRUE((*image)->discard(0, 8192).ok());
  auto whole = open_image(OpenOptions{path_, ImageFormat::kRaw, true, false, {}});
  EXPECT_EQ(read(**whole, 16 * 1024, 1)[0], std::byte{32});  // just past the extent: untouched
  EXPECT_EQ(read(**whole, 8 * 1024 - 1, 1)[0], std::byte{15});
}

TEST_F(RawImageTest, ReadOnlyRefusesWrites) {
  auto image = open_image(OpenOptions{path_, ImageFormat::kRaw, true, false, {}});
  ASSERT_TRUE(image.ok());
  std::vector<std::byte> data(512);
  EXPECT_EQ((*image)->write(0, data).error().code, ImageErrc::kReadOnly);
  EXPECT_EQ((*image)->write_zeroes(0, 512, false).error().code, ImageErrc::kReadOnly);
  EXPECT_EQ((*image)->discard(0, 512).error().code, ImageErrc::kReadOnly);
}

TEST_F(RawImageTest, MissingFileIsNotFound) {
  auto image = open_image(OpenOptions{path_ + ".nope", ImageFormat::kRaw, false, false, {}});
  ASSERT_FALSE(image.ok());
  EXPECT_EQ(image.error().code, ImageErrc::kNotFound);
}

TEST_F(RawImageTest, DirectIoUsedWhenAlignedAndReadsMatch) {
  auto image = open_image(OpenOptions{path_, ImageFormat::kRaw, false, true, {}});
  ASSERT_TRUE(image.ok());
  void* buffer = nullptr;
  ASSERT_EQ(::posix_memalign(&buffer, 4096, 8192), 0);
  iovec v{buffer, 8192};
  ASSERT_TRUE((*image)->readv(8192, std::span<const iovec>(&v, 1)).ok());
  EXPECT_EQ(static_cast<unsigned char*>(buffer)[0], 16);
  EXPECT_EQ(static_cast<unsigned char*>(buffer)[8191], 31);
  ::free(buffer);
}

}  // namespace
