// Images our qcow2 code writes, checked by qemu-img (check must be clean, compare against a raw
// copy written alongside must match): random writes, overlays with copy-on-write, discards,
// zeroes, resize, refcount-table growth, several threads at once.
#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <thread>

#include "qcow2_test_util.h"

using namespace flotilla::storage;
using namespace flotilla::storage::testing;

namespace {

// Applies the same operation to a qcow2 image and to its raw twin.
struct Twin {
  std::unique_ptr<BlockImage> qcow2;
  std::unique_ptr<BlockImage> raw;

  void write(uint64_t offset, const std::vector<std::byte>& data) {
    auto a = qcow2->write(offset, data);
    ASSERT_TRUE(a.ok()) << a.error().message;
    ASSERT_TRUE(raw->write(offset, data).ok());
  }
  void zeroes(uint64_t offset, uint64_t length, bool unmap) {
    auto a = qcow2->write_zeroes(offset, length, unmap);
    ASSERT_TRUE(a.ok()) << a.error().message;
    ASSERT_TRUE(raw->write_zeroes(offset, length, false).ok());
  }
  // Our discard reads back zeroes for whole clusters and leaves partial ones alone; mirror it.
  void discard(uint64_t offset, uint64_t length, uint64_t cluster) {
    auto a = qcow2->discard(offset, length);
    ASSERT_TRUE(a.ok()) << a.error().message;
    const uint64_t start = (offset + cluster - 1) / cluster * cluster;
    uint64_t end = (offset + length) / cluster * cluster;
    if (offset + length == raw->size_bytes()) end = offset + length;
    if (end > start) {
      ASSERT_TRUE(raw->write_zeroes(start, end - start, false).ok());
    }
  }
  void flush() {
    auto a = qcow2->flush();
    ASSERT_TRUE(a.ok()) << a.error().message;
  }
};

void expect_clean_and_equal(const std::string& qcow2_path, const std::string& raw_path) {
  auto check = qemu_check(qcow2_path);
  EXPECT_EQ(check.exit_code, 0) << check.output;
  EXPECT_NE(check.output.find("No errors were found"), std::string::npos) << check.output;
  auto compare = qemu_compare(raw_path, "raw", qcow2_path, "qcow2");
  EXPECT_EQ(compare.exit_code, 0) << compare.output;
}

class Qcow2WriteTest : public ::testing::TestWithParam<uint32_t> {};

TEST_P(Qcow2WriteTest, RandomWritesZeroesAndDiscardsMatchARawCopy) {
  const uint32_t cluster_bits = GetParam();
  const uint64_t cluster = 1ull << cluster_bits;
  TempDir dir("qcow2-rw");
  const std::string q = dir.file("disk.qcow2");
  const std::string r = dir.file("disk.raw");
  const uint64_t size = 24ull << 20;
  create_or_die(q, ImageFormat::kQcow2, size, cluster_bits);
  create_or_die(r, ImageFormat::kRaw, size);
  {
    Twin twin{open_or_die(q, ImageFormat::kQcow2, false), open_or_die(r, ImageFormat::kRaw, false)};
    ASSERT_TRUE(twin.qcow2 && twin.raw);
    EXPECT_EQ(twin.qcow2->size_bytes(), size);
    std::mt19937_64 rng(cluster_bits);
    for (int i = 0; i < 300; ++i) {
      const uint64_t sectors = 1 + rng() % 256;
      const uint64_t offset = (rng() % (size / 512 - sectors)) * 512;
      const int op = static_cast<int>(rng() % 10);
      if (op < 7) {
        twin.write(offset, pattern(offset, sectors * 512, i));
      } else if (op == 7) {
        twin.zeroes(offset, sectors * 512, rng() % 2 == 0);
      } else if (op == 8) {
        twin.discard(offset, sectors * 512, cluster);
      } else {
        twin.flush();
      }
      if (::testing::Test::HasFatalFailure()) return;
    }
    // The tail of the disk, up to its last byte.
    twin.write(size - 4096, pattern(size - 4096, 4096, 7));
    twin.flush();
    EXPECT_EQ(read_all(*twin.qcow2), read_all(*twin.raw));
  }
  expect_clean_and_equal(q, r);
}

INSTANTIATE_TEST_SUITE_P(ClusterSizes, Qcow2WriteTest, ::testing::Values(9u, 12u, 16u, 21u));

TEST(Qcow2Write, CreatedImagesAreCleanForEveryClusterSizeAndQemuAgreesOnTheSize) {
  TempDir dir("qcow2-create");
  for (uint32_t bits : {9u, 10u, 12u, 16u, 20u, 21u}) {
    const std::string q = dir.file("c" + std::to_string(bits) + ".qcow2");
    create_or_die(q, ImageFormat::kQcow2, 3ull << 30, bits);
    auto check = qemu_check(q);
    EXPECT_EQ(check.exit_code, 0) << bits << ": " << check.output;
    auto info = run_command("qemu-img info --output=json " + quote(q));
    EXPECT_NE(info.output.find("\"virtual-size\": 3221225472"), std::string::npos) << info.output;
    EXPECT_NE(info.output.find("\"cluster-size\": " + std::to_string(1ull << bits)),
              std::string::npos)
        << info.output;
    EXPECT_NE(info.output.find("\"compat\": \"1.1\""), std::string::npos) << info.output;
  }
}

TEST(Qcow2Write, SmallClustersGrowTheRefcountTableAndStayClean) {
  // 512-byte clusters: one refcount-table cluster covers 8 MiB, so 20 MiB of writes grows it.
  TempDir dir("qcow2-grow-rt");
  const std::string q = dir.file("disk.qcow2");
  const std::string r = dir.file("disk.raw");
  create_or_die(q, ImageFormat::kQcow2, 32ull << 20, 9);
  create_or_die(r, ImageFormat::kRaw, 32ull << 20);
  {
    Twin twin{open_or_die(q, ImageFormat::kQcow2, false), open_or_die(r, ImageFormat::kRaw, false)};
    ASSERT_TRUE(twin.qcow2 && twin.raw);
    for (uint64_t at = 0; at < (20ull << 20); at += 1 << 20) {
      twin.write(at, pattern(at, 1 << 20, 3));
    }
    twin.flush();
  }
  expect_clean_and_equal(q, r);
  EXPECT_GT(read_be64(q, 56) >> 32, 1u) << "the refcount table did not grow";
  auto info = run_command("qemu-img check --output=json " + quote(q));
  EXPECT_NE(info.output.find("\"check-errors\": 0"), std::string::npos) << info.output;
}

TEST(Qcow2Write, OverlayCopiesOnWriteFromItsBackingAndReadsZeroesPastAShortBacking) {
  TempDir dir("qcow2-overlay");
  const std::string base = dir.file("base.qcow2");
  const std::string top = dir.file("top.qcow2");
  const std::string r = dir.file("expected.raw");
  const uint64_t base_size = 3ull << 20;
  const uint64_t top_size = 8ull << 20;
  create_or_die(base, ImageFormat::kQcow2, base_size, 16);
  {
    auto b = open_or_die(base, ImageFormat::kQcow2, false);
    ASSERT_TRUE(b);
    ASSERT_TRUE(b->write(0, pattern(0, base_size, 1)).ok());
    ASSERT_TRUE(b->flush().ok());
  }
  // Relative backing name, resolved against the overlay's folder (as QEMU does).
  CreateOptions options;
  options.path = top;
  options.format = ImageFormat::kQcow2;
  options.size_bytes = top_size;
  options.backing_path = "base.qcow2";
  ASSERT_TRUE(create_image(options).ok());
  create_or_die(r, ImageFormat::kRaw, top_size);
  {
    auto raw = open_or_die(r, ImageFormat::kRaw, false);
    ASSERT_TRUE(raw->write(0, pattern(0, base_size, 1)).ok());
    Twin twin{open_or_die(top, ImageFormat::kQcow2, false), std::move(raw)};
    ASSERT_TRUE(twin.qcow2);
    // Partial clusters (head and tail copied from the backing), across the backing's end.
    twin.write(1000 * 512, pattern(1000 * 512, 3 * 512, 9));
    twin.write(base_size - 1024, pattern(base_size - 1024, 8192, 9));
    twin.zeroes(65536, 65536, true);  // a whole cluster over the backing: must read zeroes
    twin.discard(131072, 65536, 65536);
    twin.flush();
    EXPECT_EQ(read_all(*twin.qcow2), read_all(*twin.raw));
  }
  auto check = qemu_check(top);
  EXPECT_EQ(check.exit_code, 0) << check.output;
  auto compare = qemu_compare(r, "raw", top, "qcow2");
  EXPECT_EQ(compare.exit_code, 0) << compare.output;
  auto info = image_info(top);
  ASSERT_TRUE(info.ok()) << info.error().message;
  EXPECT_EQ(info->backing_path, base);
  ASSERT_EQ(info->chain.size(), 2u);
  EXPECT_EQ(info->chain[1], base);
  // The base was never written through the overlay.
  auto base_check = qemu_check(base);
  EXPECT_EQ(base_check.exit_code, 0) << base_check.output;
}

TEST(Qcow2Write, OverlayOnARawBackingWithAbsolutePath) {
  TempDir dir("qcow2-rawbase");
  const std::string base = dir.file("base.raw");
  const std::string top = dir.file("top.qcow2");
  create_or_die(base, ImageFormat::kRaw, 1 << 20);
  {
    auto b = open_or_die(base, ImageFormat::kRaw, false);
    ASSERT_TRUE(b->write(0, pattern(0, 1 << 20, 4)).ok());
  }
  create_or_die(top, ImageFormat::kQcow2, 0, 16, base);  // size 0 = the backing's size
  auto image = open_or_die(top, ImageFormat::kQcow2, false);
  ASSERT_TRUE(image);
  EXPECT_EQ(image->size_bytes(), 1u << 20);
  ASSERT_TRUE(image->write(512, pattern(512, 512, 5)).ok());
  ASSERT_TRUE(image->flush().ok());
  image.reset();
  auto check = qemu_check(top);
  EXPECT_EQ(check.exit_code, 0) << check.output;
  auto info = run_command("qemu-img info --output=json " + quote(top));
  EXPECT_NE(info.output.find("\"backing-filename-format\": \"raw\""), std::string::npos)
      << info.output;
  auto again = open_or_die(top, ImageFormat::kQcow2, true);
  std::vector<std::byte> expected = pattern(0, 1 << 20, 4);
  const auto written = pattern(512, 512, 5);
  std::copy(written.begin(), written.end(), expected.begin() + 512);
  EXPECT_EQ(read_all(*again), expected);
}

TEST(Qcow2Write, ResizeGrowsTheL1TableAndKeepsTheData) {
  TempDir dir("qcow2-resize");
  const std::string q = dir.file("disk.qcow2");
  const std::string r = dir.file("disk.raw");
  // 512-byte clusters: one L1 entry covers 32 KiB, so 1 MiB → 16 MiB needs a bigger L1.
  create_or_die(q, ImageFormat::kQcow2, 1 << 20, 9);
  create_or_die(r, ImageFormat::kRaw, 1 << 20);
  {
    Twin twin{open_or_die(q, ImageFormat::kQcow2, false), open_or_die(r, ImageFormat::kRaw, false)};
    twin.write(4096, pattern(4096, 100000, 1));
    twin.flush();
  }
  ASSERT_TRUE(resize_image(q, ImageFormat::kQcow2, 16 << 20).ok());
  ASSERT_TRUE(resize_image(r, ImageFormat::kRaw, 16 << 20).ok());
  EXPECT_FALSE(resize_image(q, ImageFormat::kQcow2, 8 << 20).ok());  // no shrinking
  {
    Twin twin{open_or_die(q, ImageFormat::kQcow2, false), open_or_die(r, ImageFormat::kRaw, false)};
    EXPECT_EQ(twin.qcow2->size_bytes(), 16u << 20);
    twin.write((16 << 20) - 70000, pattern(0, 70000, 2));
    twin.write(3 << 20, pattern(0, 4096, 3));
    twin.flush();
    EXPECT_EQ(read_all(*twin.qcow2), read_all(*twin.raw));
  }
  expect_clean_and_equal(q, r);
  // Growing within the same L1 (64 KiB clusters) just rewrites the size.
  const std::string q2 = dir.file("small-grow.qcow2");
  create_or_die(q2, ImageFormat::kQcow2, 1 << 20, 16);
  ASSERT_TRUE(resize_image(q2, ImageFormat::kQcow2, 2 << 20).ok());
  auto info = image_info(q2);
  ASSERT_TRUE(info.ok());
  EXPECT_EQ(info->size_bytes, 2u << 20);
  EXPECT_EQ(qemu_check(q2).exit_code, 0);
}

TEST(Qcow2Write, ConcurrentWritersAndReadersStayConsistent) {
  TempDir dir("qcow2-threads");
  const std::string q = dir.file("disk.qcow2");
  const uint64_t size = 32ull << 20;
  create_or_die(q, ImageFormat::kQcow2, size, 16);
  auto image = open_or_die(q, ImageFormat::kQcow2, false);
  ASSERT_TRUE(image);
  constexpr int kThreads = 4;
  const uint64_t slice = size / kThreads;
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      std::mt19937_64 rng(t);
      const uint64_t base = slice * t;
      for (int i = 0; i < 200; ++i) {
        const uint64_t off = base + (rng() % (slice / 4096 - 16)) * 4096;
        const size_t len = 4096 * (1 + rng() % 16);
        auto data = pattern(off, len, 100 + t);
        if (!image->write(off, data).ok()) ++failures;
        std::vector<std::byte> back(len);
        if (!image->read(off, back).ok() || back != data) ++failures;
        if (i % 50 == 0 && !image->flush().ok()) ++failures;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(failures.load(), 0);
  ASSERT_TRUE(image->flush().ok());
  image.reset();
  auto check = qemu_check(q);
  EXPECT_EQ(check.exit_code, 0) << check.output;
}

TEST(Qcow2Write, DiscardReturnsHostSpaceAndRequestsAreBounded) {
  TempDir dir("qcow2-discard");
  const std::string q = dir.file("disk.qcow2");
  create_or_die(q, ImageFormat::kQcow2, 16 << 20, 16);
  auto image = open_or_die(q, ImageFormat::kQcow2, false);
  ASSERT_TRUE(image->write(0, pattern(0, 8 << 20, 1)).ok());
  ASSERT_TRUE(image->flush().ok());
  auto before = image_info(q);
  ASSERT_TRUE(image->discard(0, 8 << 20).ok());
  ASSERT_TRUE(image->flush().ok());
  auto after = image_info(q);
  ASSERT_TRUE(before.ok() && after.ok());
  EXPECT_LT(after->allocated_bytes + (6 << 20), before->allocated_bytes);
  std::vector<std::byte> back(8 << 20);
  ASSERT_TRUE(image->read(0, back).ok());
  EXPECT_TRUE(std::all_of(back.begin(), back.end(), [](std::byte b) { return b == std::byte{0}; }));
  std::vector<std::byte> one(512);
  auto past = image->read(16 << 20, one);
  ASSERT_FALSE(past.ok());
  EXPECT_EQ(past.error().code, ImageErrc::kOutOfRange);
  EXPECT_EQ(image->write((16 << 20) - 256, one).error().code, ImageErrc::kOutOfRange);
  image.reset();
  EXPECT_EQ(qemu_check(q).exit_code, 0);
  auto ro = open_or_die(q, ImageFormat::kQcow2, true);
  EXPECT_EQ(ro->write(0, one).error().code, ImageErrc::kReadOnly);
}

}  // namespace

namespace {

TEST(Qcow2Write, DirectIoAlignedAndUnalignedRequestsMatchARawCopy) {
  TempDir dir("qcow2-direct");
  const std::string q = dir.file("disk.qcow2");
  const std::string r = dir.file("disk.raw");
  create_or_die(q, ImageFormat::kQcow2, 8 << 20, 16);
  create_or_die(r, ImageFormat::kRaw, 8 << 20);
  {
    auto image = open_image(OpenOptions{q, ImageFormat::kQcow2, false, true, {}});
    ASSERT_TRUE(image.ok()) << image.error().message;
    Twin twin{std::move(image).value(), open_or_die(r, ImageFormat::kRaw, false)};
    // 4 KiB-aligned buffers take the O_DIRECT path once their clusters exist.
    auto* aligned = static_cast<std::byte*>(std::aligned_alloc(4096, 1 << 20));
    ASSERT_NE(aligned, nullptr);
    std::mt19937_64 rng(11);
    for (int i = 0; i < 200; ++i) {
      const bool align = i % 2 == 0;
      const uint64_t len = align ? 4096 * (1 + rng() % 64) : 512 * (1 + rng() % 100);
      const uint64_t off = align ? (rng() % ((8 << 20) / 4096 - 64)) * 4096
                                 : (rng() % ((8 << 20) / 512 - 100)) * 512;
      auto data = pattern(off, len, i);
      if (align) {
        std::memcpy(aligned, data.data(), len);
        ASSERT_TRUE(twin.qcow2->write(off, std::span<const std::byte>(aligned, len)).ok());
        ASSERT_TRUE(twin.raw->write(off, data).ok());
        ASSERT_TRUE(twin.qcow2->read(off, std::span<std::byte>(aligned, len)).ok());
        ASSERT_EQ(std::memcmp(aligned, data.data(), len), 0) << off;
      } else {
        twin.write(off, data);
      }
    }
    std::free(aligned);
    twin.flush();
    EXPECT_EQ(read_all(*twin.qcow2), read_all(*twin.raw));
  }
  expect_clean_and_equal(q, r);
}

}  // namespace

namespace {

TEST(Qcow2Write, RacingWritesDiscardsAndZeroesOnSharedClustersKeepMetadataClean) {
  // Contents of racing requests on the same blocks are up to the order they ran in; the
  // metadata must stay consistent whatever the order (512-byte clusters: lots of allocation).
  TempDir dir("qcow2-race");
  const std::string base = dir.file("base.qcow2");
  const std::string q = dir.file("disk.qcow2");
  create_or_die(base, ImageFormat::kQcow2, 4 << 20, 9);
  {
    auto b = open_or_die(base, ImageFormat::kQcow2, false);
    ASSERT_TRUE(b->write(0, pattern(0, 4 << 20, 1)).ok());
  }
  create_or_die(q, ImageFormat::kQcow2, 4 << 20, 9, base);
  auto image = open_or_die(q, ImageFormat::kQcow2, false);
  ASSERT_TRUE(image);
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      std::mt19937_64 rng(t * 7 + 1);
      std::vector<std::byte> buf(64 * 1024);
      for (int i = 0; i < 400; ++i) {
        const uint64_t len = 512 * (1 + rng() % 128);
        const uint64_t off = (rng() % ((4 << 20) / 512 - 128)) * 512;
        bool ok = true;
        switch (rng() % 5) {
          case 0:
          case 1:
            ok = image->write(off, pattern(off, len, i)).ok();
            break;
          case 2:
            ok = image->read(off, std::span(buf.data(), len)).ok();
            break;
          case 3:
            ok = image->discard(off, len).ok();
            break;
          default:
            ok = image->write_zeroes(off, len, rng() % 2 == 0).ok();
        }
        if (!ok) ++failures;
        if (i % 100 == 99 && !image->flush().ok()) ++failures;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(failures.load(), 0);
  ASSERT_TRUE(image->flush().ok());
  // What we read now is what QEMU reads.
  const auto ours = read_all(*image);
  image.reset();
  auto check = qemu_check(q);
  EXPECT_EQ(check.exit_code, 0) << check.output;
  const std::string raw = dir.file("out.raw");
  ASSERT_EQ(run_command("qemu-img convert -O raw " + quote(q) + " " + quote(raw)).exit_code, 0);
  EXPECT_TRUE(ours == read_file(raw));
}

}  // namespace

namespace {

TEST(Qcow2Write, CopyImageImportsARawFileIntoQcow2Sparsely) {
  TempDir dir("qcow2-import");
  const std::string src = dir.file("src.raw");
  const std::string dst = dir.file("dst.qcow2");
  create_or_die(src, ImageFormat::kRaw, 32 << 20);
  {
    auto raw = open_or_die(src, ImageFormat::kRaw, false);
    ASSERT_TRUE(raw->write(3 << 20, pattern(3 << 20, 2 << 20, 1)).ok());
    ASSERT_TRUE(raw->write(30 << 20, pattern(30 << 20, 4096, 2)).ok());
  }
  create_or_die(dst, ImageFormat::kQcow2, 32 << 20);
  {
    auto in = open_or_die(src, ImageFormat::kRaw, true);
    auto out = open_or_die(dst, ImageFormat::kQcow2, false);
    uint64_t last = 0;
    auto r = copy_image(*in, *out, [&](uint64_t done, uint64_t) { last = done; });
    ASSERT_TRUE(r.ok()) << r.error().message;
    EXPECT_EQ(last, 32u << 20);
  }
  auto check = qemu_check(dst);
  EXPECT_EQ(check.exit_code, 0) << check.output;
  EXPECT_EQ(qemu_compare(src, "raw", dst, "qcow2").exit_code, 0);
  auto info = image_info(dst);
  ASSERT_TRUE(info.ok());
  EXPECT_LT(info->file_bytes, 6u << 20);  // zero runs stayed unallocated
}

TEST(Qcow2Write, AFullHostFileSystemIsNoSpaceAndTheImageStaysConsistent) {
  TempDir dir("qcow2-enospc");
  const std::string mnt = dir.file("small");
  fs::create_directories(mnt);
  auto mount = run_command("mount -t tmpfs -o size=3m tmpfs " + quote(mnt));
  ASSERT_EQ(mount.exit_code, 0) << "this test needs root to mount a 3 MiB tmpfs: " << mount.output;
  struct Unmount {
    std::string at;
    ~Unmount() { run_command("umount " + quote(at)); }
  } unmount{mnt};
  const std::string q = mnt + "/disk.qcow2";
  create_or_die(q, ImageFormat::kQcow2, 64 << 20, 16);
  uint64_t written = 0;
  ImageError last;
  {
    auto image = open_or_die(q, ImageFormat::kQcow2, false);
    ASSERT_TRUE(image);
    for (uint64_t at = 0; at < (64u << 20); at += 256 * 1024) {
      auto r = image->write(at, pattern(at, 256 * 1024, 1));
      if (!r) {
        last = r.error();
        break;
      }
      written = at + 256 * 1024;
    }
    EXPECT_EQ(last.code, ImageErrc::kNoSpace) << last.message;
    EXPECT_GT(written, 0u);
    // What was written before the error is still there and readable.
    std::vector<std::byte> back(4096);
    ASSERT_TRUE(image->read(0, back).ok());
    EXPECT_EQ(back, pattern(0, 4096, 1));
    (void)image->flush();  // may fail for lack of room too; must not corrupt
  }
  auto check = qemu_check(q);
  EXPECT_TRUE(check.exit_code == 0 || check.exit_code == 3) << check.output;
  EXPECT_EQ(check.output.find("ERROR"), std::string::npos) << check.output;
}

}  // namespace
