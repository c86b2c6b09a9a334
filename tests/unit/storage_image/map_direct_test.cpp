// BlockImage::map_direct (the seam virtio-blk's io_uring path uses): the segments it returns
// must hold exactly the bytes readv returns (checked with pread on the returned fd), writes
// through them must be what a later readv (ours and qemu-img's) sees, and every range it
// cannot serve as plain host bytes must answer false, with bounds and read-only refused.
#include <gtest/gtest.h>
#include <unistd.h>

#include "storage/image/block_image.h"
#include "tests/unit/storage_image/qcow2_test_util.h"

namespace flotilla::storage {
namespace {

using testing::create_or_die;
using testing::open_or_die;
using testing::pattern;
using testing::qemu_check;
using testing::quote;
using testing::run_command;
using testing::TempDir;

// Reads every segment with pread and returns the concatenation (request order).
std::vector<std::byte> pread_segments(const std::vector<HostSegment>& segs, uint64_t length) {
  std::vector<std::byte> out(length);
  for (const HostSegment& s : segs) {
    EXPECT_GE(s.fd, 0);
    EXPECT_LE(s.request_offset + s.length, length);
    const ssize_t n =
        ::pread(s.fd, out.data() + s.request_offset, s.length, static_cast<off_t>(s.host_offset));
    EXPECT_EQ(n, static_cast<ssize_t>(s.length));
  }
  return out;
}

TEST(MapDirect, RawWholeFileIsOneSegmentAndBoundsAreChecked) {
  TempDir dir("mapdirect");
  const std::string path = dir.file("disk.raw");
  create_or_die(path, ImageFormat::kRaw, 1 << 20);
  auto image = open_or_die(path, ImageFormat::kRaw, false);
  ASSERT_TRUE(image);
  const auto data = pattern(4096, 65536, 1);
  ASSERT_TRUE(image->write(4096, data).ok());
  std::vector<HostSegment> segs;
  auto m = image->map_direct(4096, 65536, false, segs);
  ASSERT_TRUE(m.ok()) << m.error().message;
  ASSERT_TRUE(*m);
  ASSERT_EQ(segs.size(), 1u);
  EXPECT_EQ(segs[0].host_offset, 4096u);
  EXPECT_EQ(segs[0].request_offset, 0u);
  EXPECT_EQ(segs[0].direct_fd, -1);  // not opened with direct
  EXPECT_EQ(pread_segments(segs, 65536), data);
  // Past the end: refused, nothing appended.
  segs.clear();
  auto past = image->map_direct((1 << 20) - 512, 1024, false, segs);
  ASSERT_FALSE(past.ok());
  EXPECT_EQ(past.error().code, ImageErrc::kOutOfRange);
  EXPECT_TRUE(segs.empty());
  auto overflow = image->map_direct(~0ull - 511, 1024, true, segs);
  ASSERT_FALSE(overflow.ok());
  EXPECT_EQ(overflow.error().code, ImageErrc::kOutOfRange);
  // Read-only: reads map, writes are refused.
  auto ro = open_or_die(path, ImageFormat::kRaw, true);
  ASSERT_TRUE(ro);
  auto w = ro->map_direct(0, 512, true, segs);
  ASSERT_FALSE(w.ok());
  EXPECT_EQ(w.error().code, ImageErrc::kReadOnly);
  auto r = ro->map_direct(0, 512, false, segs);
  ASSERT_TRUE(r.ok() && *r);
}

TEST(MapDirect, RawExtentsSplitAtTheirBoundariesAndStayInside) {
  TempDir dir("mapdirect");
  const std::string path = dir.file("pool.raw");
  create_or_die(path, ImageFormat::kRaw, 4 << 20);
  OpenOptions o;
  o.path = path;
  o.direct = true;
  o.extents = {{3 << 20, 1 << 20}, {1 << 20, 512 << 10}};
  auto opened = open_image(o);
  ASSERT_TRUE(opened.ok()) << opened.error().message;
  auto& image = *opened.value();
  EXPECT_EQ(image.size_bytes(), uint64_t{(1 << 20) + (512 << 10)});
  const auto data = pattern(0, 256 << 10, 2);
  ASSERT_TRUE(image.write((1 << 20) - (128 << 10), data).ok());
  std::vector<HostSegment> segs;
  auto m = image.map_direct((1 << 20) - (128 << 10), 256 << 10, true, segs);
  ASSERT_TRUE(m.ok() && *m);
  ASSERT_EQ(segs.size(), 2u);
  EXPECT_EQ(segs[0].host_offset, uint64_t{(4 << 20) - (128 << 10)});
  EXPECT_EQ(segs[0].length, uint64_t{128 << 10});
  EXPECT_EQ(segs[1].host_offset, uint64_t{1 << 20});
  EXPECT_EQ(segs[1].length, uint64_t{128 << 10});
  EXPECT_EQ(segs[1].request_offset, uint64_t{128 << 10});
  EXPECT_EQ(pread_segments(segs, 256 << 10), data);
  // The direct fd is offered where the file system has O_DIRECT (tmpfs has not).
  for (const HostSegment& s : segs) EXPECT_NE(s.direct_fd, s.fd);
  segs.clear();
  auto past = image.map_direct((1 << 20) + (512 << 10) - 512, 1024, false, segs);
  ASSERT_FALSE(past.ok());
  EXPECT_EQ(past.error().code, ImageErrc::kOutOfRange);
}

TEST(MapDirect, Qcow2MapsOnlyPlainDataClusters) {
  TempDir dir("mapdirect");
  const std::string path = dir.file("disk.qcow2");
  create_or_die(path, ImageFormat::kQcow2, 8 << 20, 16);
  auto image = open_or_die(path, ImageFormat::kQcow2, false);
  ASSERT_TRUE(image);
  std::vector<HostSegment> segs;
  // Unallocated: reads need the image's code (zeroes), writes need an allocation.
  auto m = image->map_direct(0, 65536, false, segs);
  ASSERT_TRUE(m.ok());
  EXPECT_FALSE(*m);
  m = image->map_direct(0, 65536, true, segs);
  ASSERT_TRUE(m.ok());
  EXPECT_FALSE(*m);
  EXPECT_TRUE(segs.empty());
  // Allocate clusters 1-3 (one write), then map part of that run, reads and writes alike.
  const auto data = pattern(65536, 3 * 65536, 3);
  ASSERT_TRUE(image->write(65536, data).ok());
  for (bool write : {false, true}) {
    segs.clear();
    m = image->map_direct(65536 + 4096, 2 * 65536, write, segs);
    ASSERT_TRUE(m.ok() && *m);
    ASSERT_FALSE(segs.empty());
    uint64_t covered = 0;
    for (const HostSegment& s : segs) covered += s.length;
    EXPECT_EQ(covered, uint64_t{2 * 65536});
    const auto got = pread_segments(segs, 2 * 65536);
    EXPECT_TRUE(std::equal(got.begin(), got.end(), data.begin() + 4096));
  }
  // A range reaching into an unallocated cluster is refused as a whole, nothing appended.
  segs.clear();
  m = image->map_direct(65536, 4 * 65536, false, segs);
  ASSERT_TRUE(m.ok());
  EXPECT_FALSE(*m);
  EXPECT_TRUE(segs.empty());
  // Zeroed cluster (zero flag, host cluster kept): the image's code.
  ASSERT_TRUE(image->write_zeroes(2 * 65536, 65536, false).ok());
  m = image->map_direct(2 * 65536, 65536, false, segs);
  ASSERT_TRUE(m.ok());
  EXPECT_FALSE(*m);
  // Write through the mapping, then ours and qemu-img read it back; the image stays clean.
  segs.clear();
  m = image->map_direct(3 * 65536, 65536, true, segs);
  ASSERT_TRUE(m.ok() && *m);
  const auto fresh = pattern(3 * 65536, 65536, 4);
  for (const HostSegment& s : segs) {
    ASSERT_EQ(::pwrite(s.fd, fresh.data() + s.request_offset, s.length,
                       static_cast<off_t>(s.host_offset)),
              static_cast<ssize_t>(s.length));
  }
  std::vector<std::byte> back(65536);
  ASSERT_TRUE(image->read(3 * 65536, back).ok());
  EXPECT_EQ(back, fresh);
  ASSERT_TRUE(image->flush().ok());
  image.reset();
  EXPECT_EQ(qemu_check(path).exit_code, 0);
  const std::string raw = dir.file("out.raw");
  ASSERT_EQ(
      run_command("qemu-img convert -f qcow2 -O raw " + quote(path) + " " + quote(raw)).exit_code,
      0);
  const auto bytes = testing::read_file(raw);
  ASSERT_GE(bytes.size(), size_t{4 * 65536});
  EXPECT_TRUE(std::equal(fresh.begin(), fresh.end(), bytes.begin() + 3 * 65536));
  // Read-only qcow2: writes refused, out of range refused.
  auto ro = open_or_die(path, ImageFormat::kQcow2, true);
  ASSERT_TRUE(ro);
  auto w = ro->map_direct(65536, 512, true, segs);
  ASSERT_FALSE(w.ok());
  EXPECT_EQ(w.error().code, ImageErrc::kReadOnly);
  auto past = ro->map_direct((8 << 20) - 512, 1024, false, segs);
  ASSERT_FALSE(past.ok());
  EXPECT_EQ(past.error().code, ImageErrc::kOutOfRange);
}

TEST(MapDirect, Qcow2OverlayFallsThroughToTheBackingFile) {
  TempDir dir("mapdirect");
  const std::string base = dir.file("base.raw");
  const std::string top = dir.file("top.qcow2");
  create_or_die(base, ImageFormat::kRaw, 1 << 20);
  create_or_die(top, ImageFormat::kQcow2, 1 << 20, 16, base);
  auto image = open_or_die(top, ImageFormat::kQcow2, false);
  ASSERT_TRUE(image);
  std::vector<HostSegment> segs;
  auto m = image->map_direct(0, 4096, false, segs);
  ASSERT_TRUE(m.ok());
  EXPECT_FALSE(*m);  // the bytes are the backing file's: readv's business
}

}  // namespace
}  // namespace flotilla::storage
