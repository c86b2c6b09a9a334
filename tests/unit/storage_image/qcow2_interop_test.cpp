// Images qemu-img writes (every cluster size, compressed, v2, with backing files), read by our
// code byte for byte against `qemu-img convert -O raw`; and our writes into them stay clean.
#include <gtest/gtest.h>

#include <random>

#include "qcow2_test_util.h"

using namespace flotilla::storage;
using namespace flotilla::storage::testing;

namespace {

// A raw source with data, zero runs and a tail that is not cluster-aligned.
std::string make_source(const TempDir& dir, uint64_t size) {
  const std::string src = dir.file("source.raw");
  create_or_die(src, ImageFormat::kRaw, size);
  auto raw = open_or_die(src, ImageFormat::kRaw, false);
  std::mt19937_64 rng(42);
  for (uint64_t at = 0; at < size;) {
    const uint64_t len = std::min<uint64_t>(size - at, 512 * (1 + rng() % 300));
    if (rng() % 3 != 0) {
      auto data = pattern(at, len, rng() % 4);  // few seeds: compressible repeats
      EXPECT_TRUE(raw->write(at, data).ok());
    }
    at += len;
  }
  return src;
}

void expect_reads_like(const std::string& image, const std::string& expected_raw) {
  auto ours = open_or_die(image, ImageFormat::kQcow2, true);
  ASSERT_TRUE(ours);
  const auto expected = read_file(expected_raw);
  ASSERT_EQ(ours->size_bytes(), expected.size());
  auto got = read_all(*ours);
  ASSERT_EQ(got.size(), expected.size());
  size_t first_bad = got.size();
  for (size_t i = 0; i < got.size(); ++i) {
    if (got[i] != expected[i]) {
      first_bad = i;
      break;
    }
  }
  EXPECT_EQ(first_bad, got.size()) << image << ": first differing byte";
  // Small unaligned reads too (crossing clusters).
  std::mt19937_64 rng(7);
  for (int i = 0; i < 200; ++i) {
    const uint64_t len = 1 + rng() % 5000;
    const uint64_t off = rng() % (expected.size() - len);
    std::vector<std::byte> piece(len);
    ASSERT_TRUE(ours->read(off, piece).ok());
    ASSERT_TRUE(std::equal(piece.begin(), piece.end(), expected.begin() + static_cast<long>(off)))
        << image << " at " << off << " +" << len;
  }
}

std::string to_raw(const TempDir& dir, const std::string& image, const std::string& name) {
  const std::string out = dir.file(name);
  auto r = run_command("qemu-img convert -O raw " + quote(image) + " " + quote(out));
  EXPECT_EQ(r.exit_code, 0) << r.output;
  return out;
}

class QemuWrittenTest : public ::testing::TestWithParam<uint32_t> {};

TEST_P(QemuWrittenTest, PlainCompressedAndV2ReadExactly) {
  const uint64_t cluster = GetParam();
  TempDir dir("qcow2-interop");
  const std::string src = make_source(dir, (6ull << 20) + 3 * 512);
  for (std::string variant : {"plain", "compressed", "v2"}) {
    const std::string img = dir.file(variant + ".qcow2");
    std::string opts = "-o cluster_size=" + std::to_string(cluster);
    if (variant == "compressed") opts += " -c";
    if (variant == "v2") opts += ",compat=0.10";
    auto r = run_command("qemu-img convert -O qcow2 " + opts + " " + quote(src) + " " + quote(img));
    ASSERT_EQ(r.exit_code, 0) << r.output;
    SCOPED_TRACE(variant + " " + std::to_string(cluster));
    expect_reads_like(img, to_raw(dir, img, variant + ".raw"));
    auto info = image_info(img);
    ASSERT_TRUE(info.ok()) << info.error().message;
    EXPECT_EQ(info->format, ImageFormat::kQcow2);
  }
}

INSTANTIATE_TEST_SUITE_P(ClusterSizes, QemuWrittenTest,
                         ::testing::Values(512u, 4096u, 65536u, 2097152u));

TEST(QemuWritten, BackingChainWrittenByQemuReadsExactly) {
  TempDir dir("qcow2-chain");
  const std::string base = dir.file("base.qcow2");
  const std::string mid = dir.file("mid.qcow2");
  const std::string top = dir.file("top.qcow2");
  ASSERT_EQ(run_command("qemu-img create -f qcow2 " + quote(base) + " 4M").exit_code, 0);
  ASSERT_EQ(run_command("qemu-io -c 'write -P 0x11 0 3M' " + quote(base)).exit_code, 0);
  ASSERT_EQ(run_command("qemu-img create -f qcow2 -b base.qcow2 -F qcow2 " + quote(mid) + " 6M")
                .exit_code,
            0);
  ASSERT_EQ(run_command("qemu-io -c 'write -P 0x22 1000k 100k' -c 'write -z 0 64k' " + quote(mid))
                .exit_code,
            0);
  ASSERT_EQ(run_command("qemu-img create -f qcow2 -o cluster_size=4096 -b " + quote(mid) +
                        " -F qcow2 " + quote(top))
                .exit_code,
            0);
  ASSERT_EQ(run_command("qemu-io -c 'write -P 0x33 5M 3k' -c 'discard 1024k 64k' " + quote(top))
                .exit_code,
            0);
  expect_reads_like(top, to_raw(dir, top, "top.raw"));
  auto info = image_info(top);
  ASSERT_TRUE(info.ok()) << info.error().message;
  ASSERT_EQ(info->chain.size(), 3u);
  EXPECT_EQ(info->chain[2], base);

  // Our writes on top of QEMU's chain: still clean, still what QEMU reads.
  {
    auto image = open_or_die(top, ImageFormat::kQcow2, false);
    ASSERT_TRUE(image);
    ASSERT_TRUE(image->write(1500 * 1024 + 512, pattern(0, 10000, 5)).ok());
    ASSERT_TRUE(image->write_zeroes(2 << 20, 8192, true).ok());
    ASSERT_TRUE(image->flush().ok());
  }
  EXPECT_EQ(qemu_check(top).exit_code, 0) << qemu_check(top).output;
  expect_reads_like(top, to_raw(dir, top, "top2.raw"));
}

TEST(QemuWritten, OurWritesIntoCompressedClustersStayClean) {
  TempDir dir("qcow2-cwrite");
  const std::string src = make_source(dir, 4ull << 20);
  const std::string img = dir.file("c.qcow2");
  ASSERT_EQ(run_command("qemu-img convert -c -O qcow2 " + quote(src) + " " + quote(img)).exit_code,
            0);
  const std::string expect = dir.file("expect.raw");
  ASSERT_EQ(run_command("cp " + quote(src) + " " + quote(expect)).exit_code, 0);
  {
    auto image = open_or_die(img, ImageFormat::kQcow2, false);
    auto raw = open_or_die(expect, ImageFormat::kRaw, false);
    ASSERT_TRUE(image && raw);
    std::mt19937_64 rng(3);
    for (int i = 0; i < 60; ++i) {
      const uint64_t len = 512 * (1 + rng() % 64);
      const uint64_t off = (rng() % ((4ull << 20) / 512 - 64)) * 512;
      auto data = pattern(off, len, 50 + i);
      ASSERT_TRUE(image->write(off, data).ok());
      ASSERT_TRUE(raw->write(off, data).ok());
    }
    // Whole compressed clusters zeroed: their space is given back.
    ASSERT_TRUE(image->write_zeroes(1 << 20, 1 << 20, true).ok());
    ASSERT_TRUE(raw->write_zeroes(1 << 20, 1 << 20, false).ok());
    ASSERT_TRUE(image->flush().ok());
  }
  auto check = qemu_check(img);
  EXPECT_EQ(check.exit_code, 0) << check.output;
  auto compare = qemu_compare(expect, "raw", img, "qcow2");
  EXPECT_EQ(compare.exit_code, 0) << compare.output;
}

TEST(QemuWritten, OurWritesIntoQemuImagesOfEveryClusterSizeStayClean) {
  for (uint32_t cluster : {512u, 65536u, 2097152u}) {
    TempDir dir("qcow2-qw");
    const std::string src = make_source(dir, 5ull << 20);
    const std::string img = dir.file("q.qcow2");
    ASSERT_EQ(run_command("qemu-img convert -O qcow2 -o cluster_size=" + std::to_string(cluster) +
                          " " + quote(src) + " " + quote(img))
                  .exit_code,
              0);
    {
      auto image = open_or_die(img, ImageFormat::kQcow2, false);
      auto raw = open_or_die(src, ImageFormat::kRaw, false);
      ASSERT_TRUE(image && raw);
      std::mt19937_64 rng(cluster);
      for (int i = 0; i < 80; ++i) {
        const uint64_t len = 512 * (1 + rng() % 300);
        const uint64_t off = (rng() % ((5ull << 20) / 512 - 300)) * 512;
        auto data = pattern(off, len, i);
        ASSERT_TRUE(image->write(off, data).ok());
        ASSERT_TRUE(raw->write(off, data).ok());
        if (i % 10 == 0) {
          ASSERT_TRUE(image->discard(off, len).ok());
          ASSERT_TRUE(image->write(off, data).ok());
        }
      }
      ASSERT_TRUE(image->flush().ok());
    }
    auto check = qemu_check(img);
    EXPECT_EQ(check.exit_code, 0) << cluster << ": " << check.output;
    auto compare = qemu_compare(src, "raw", img, "qcow2");
    EXPECT_EQ(compare.exit_code, 0) << cluster << ": " << compare.output;
  }
}

}  // namespace

namespace {

TEST(QemuWritten, RefcountWidthsAndLazyRefcountsTakeOurWrites) {
  for (std::string opts : {"refcount_bits=1", "refcount_bits=2", "refcount_bits=8",
                           "refcount_bits=64", "lazy_refcounts=on"}) {
    TempDir dir("qcow2-rcw");
    const std::string img = dir.file("r.qcow2");
    const std::string raw = dir.file("r.raw");
    // 512-byte clusters: many refcount blocks and table growth for the narrow widths.
    ASSERT_EQ(run_command("qemu-img create -q -f qcow2 -o cluster_size=512," + opts + " " +
                          quote(img) + " 8M")
                  .exit_code,
              0);
    create_or_die(raw, ImageFormat::kRaw, 8 << 20);
    {
      auto image = open_or_die(img, ImageFormat::kQcow2, false);
      auto r = open_or_die(raw, ImageFormat::kRaw, false);
      ASSERT_TRUE(image && r) << opts;
      std::mt19937_64 rng(5);
      for (int i = 0; i < 120; ++i) {
        const uint64_t len = 512 * (1 + rng() % 200);
        const uint64_t off = (rng() % ((8ull << 20) / 512 - 200)) * 512;
        auto data = pattern(off, len, i);
        auto w = image->write(off, data);
        ASSERT_TRUE(w.ok()) << opts << ": " << w.error().message;
        ASSERT_TRUE(r->write(off, data).ok());
      }
      ASSERT_TRUE(image->flush().ok());
    }
    auto check = qemu_check(img);
    EXPECT_EQ(check.exit_code, 0) << opts << ": " << check.output;
    auto compare = qemu_compare(raw, "raw", img, "qcow2");
    EXPECT_EQ(compare.exit_code, 0) << opts << ": " << compare.output;
  }
}

}  // namespace

namespace {

TEST(QemuWritten, DirtyLazyRefcountImageIsRecountedOnReadWriteOpen) {
  for (const char* cluster : {"65536", "512"}) {
    TempDir dir("qcow2-dirty");
    const std::string img = dir.file("lazy.qcow2");
    ASSERT_EQ(run_command("qemu-img create -q -f qcow2 -o lazy_refcounts=on,cluster_size=" +
                          std::string(cluster) + " " + quote(img) + " 16M")
                  .exit_code,
              0);
    // QEMU writes with lazy refcounts and is killed before it can fix them up.
    auto io = run_command(
        "qemu-io -c 'write -P 0x5a 0 3M' -c 'write -P 0x6b 5M 1M' "
        "-c 'sigraise 9' " +
        quote(img));
    auto dirty = run_command("qemu-img info --output=json " + quote(img));
    ASSERT_NE(dirty.output.find("\"dirty-flag\": true"), std::string::npos)
        << io.output << dirty.output;
    const std::string before = to_raw(dir, img, "before.raw");
    {
      auto image = open_or_die(img, ImageFormat::kQcow2, false);  // recounts here
      ASSERT_TRUE(image) << cluster;
      auto r = open_or_die(before, ImageFormat::kRaw, false);
      for (uint64_t at = 0; at < (16u << 20); at += 700 * 1024) {
        auto data = pattern(at, 64 * 1024, 3);
        ASSERT_TRUE(image->write(at, data).ok());
        ASSERT_TRUE(r->write(at, data).ok());
      }
      ASSERT_TRUE(image->flush().ok());
    }
    auto info = run_command("qemu-img info --output=json " + quote(img));
    EXPECT_NE(info.output.find("\"dirty-flag\": false"), std::string::npos) << info.output;
    auto check = qemu_check(img);
    EXPECT_EQ(check.exit_code, 0) << cluster << ": " << check.output;
    EXPECT_NE(check.output.find("No errors were found"), std::string::npos) << check.output;
    auto compare = qemu_compare(before, "raw", img, "qcow2");
    EXPECT_EQ(compare.exit_code, 0) << cluster << ": " << compare.output;
  }
}

}  // namespace
