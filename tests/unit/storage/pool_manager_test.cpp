// PoolManager on real files and a real SQLite store: partitioned pools (allocation, growth,
// zeroing on delete, the on-device map and rebuilding from it), dir pools, import.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "storage/image/image_tools.h"
#include "storage/image/raw_image.h"
#include "storage/pools/pool_header.h"
#include "storage/pools/pools.h"
#include "tests/unit/storage/store_test_util.h"

namespace flotilla::storage::pools {
namespace {

using storage::test::open_store;
using storage::test::TempDir;

constexpr uint64_t M = 1ULL << 20;

std::vector<std::byte> pattern(size_t n, uint8_t seed) {
  std::vector<std::byte> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = std::byte(static_cast<uint8_t>(seed + i * 7));
  return v;
}

std::vector<std::byte> read_device(const std::string& path, uint64_t offset, size_t n) {
  std::vector<std::byte> v(n);
  const int fd = ::open(path.c_str(), O_RDONLY);
  EXPECT_GE(fd, 0);
  EXPECT_EQ(::pread(fd, v.data(), n, static_cast<off_t>(offset)), static_cast<ssize_t>(n));
  ::close(fd);
  return v;
}

bool all_zero(const std::vector<std::byte>& v) {
  for (std::byte b : v) {
    if (b != std::byte{0}) return false;
  }
  return true;
}

void write_disk(const DiskRecord& d, uint64_t offset, const std::vector<std::byte>& data) {
  auto img = open_image(PoolManager::open_options(d, false));
  ASSERT_TRUE(img) << img.error().message;
  ASSERT_TRUE((*img)->write(offset, data));
  ASSERT_TRUE((*img)->flush());
}

class PoolManagerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    store_ = open_store(dir_.file("f.db"));
    ASSERT_NE(store_, nullptr);
    pools_ = std::make_unique<PoolManager>(*store_);
  }
  PoolRecord partitioned(uint64_t size = 34 * M) {
    auto p = pools_->create_pool({"part", PoolType::partitioned, dir_.file("dev.img"), size});
    EXPECT_TRUE(p) << p.error().message;
    return *p;
  }
  DiskRecord disk(const PoolRecord& pool, const std::string& name, uint64_t size) {
    auto d = pools_->create_disk(pool, {name, "raw", size, ""});
    EXPECT_TRUE(d) << d.error().message;
    return d ? *d : DiskRecord{};
  }
  TempDir dir_;
  std::unique_ptr<StateStore> store_;
  std::unique_ptr<PoolManager> pools_;
};

TEST_F(PoolManagerTest, PartitionedPoolReportsCapacityAndFragmentation) {
  PoolRecord pool = partitioned();
  EXPECT_EQ(pool.capacity_bytes, 33 * M);  // the first MiB is the header area
  DiskRecord a = disk(pool, "a", 4 * M);
  DiskRecord b = disk(pool, "b", 4 * M);
  DiskRecord c = disk(pool, "c", 4 * M);
  EXPECT_EQ(a.extents, (std::vector<DiskExtent>{{M, 4 * M}}));
  EXPECT_EQ(b.extents, (std::vector<DiskExtent>{{5 * M, 4 * M}}));
  ASSERT_TRUE(pools_->delete_disk(b));
  auto u = pools_->usage(pool);
  ASSERT_TRUE(u);
  EXPECT_EQ(u->capacity_bytes, 33 * M);
  EXPECT_EQ(u->allocated_bytes, 8 * M);
  EXPECT_EQ(u->free_bytes, 25 * M);
  EXPECT_EQ(u->largest_free_bytes, 21 * M);
  EXPECT_NEAR(u->fragmentation, 1.0 - 21.0 / 25.0, 1e-9);
  EXPECT_EQ(u->disk_count, 2u);

  // Best fit: a 3 MiB disk goes into b's old 4 MiB hole, not the 21 MiB tail.
  DiskRecord d = disk(pool, "d", 3 * M);
  EXPECT_EQ(d.extents, (std::vector<DiskExtent>{{5 * M, 3 * M}}));
  auto big = pools_->create_disk(pool, {"huge", "raw", 30 * M, ""});
  ASSERT_FALSE(big);
  EXPECT_EQ(big.error().code, PoolErrc::no_space);
  auto odd = pools_->create_disk(pool, {"odd", "raw", M + 512, ""});
  ASSERT_FALSE(odd);
  EXPECT_EQ(odd.error().field, "size_bytes");
  auto q = pools_->create_disk(pool, {"q", "qcow2", M, ""});
  ASSERT_FALSE(q);
  EXPECT_EQ(q.error().field, "format");
  EXPECT_EQ(pools_->create_disk(pool, {"a", "raw", M, ""}).error().code, PoolErrc::conflict);
  (void)c;
}

TEST_F(PoolManagerTest, GrowingAddsExtentsAndShrinkIsRefused) {
  PoolRecord pool = partitioned();
  DiskRecord a = disk(pool, "a", 2 * M);
  DiskRecord b = disk(pool, "b", 2 * M);
  auto grown = pools_->resize_disk(a, 5 * M);
  ASSERT_TRUE(grown) << grown.error().message;
  EXPECT_EQ(grown->size_bytes, 5 * M);
  ASSERT_EQ(grown->extents.size(), 2u);
  EXPECT_EQ(grown->extents[0], (DiskExtent{M, 2 * M}));
  EXPECT_EQ(grown->extents[1], (DiskExtent{5 * M, 3 * M}));
  EXPECT_EQ(store_->get_disk(a.id)->extents, grown->extents);
  auto shrink = pools_->resize_disk(*grown, 4 * M);
  ASSERT_FALSE(shrink);
  EXPECT_EQ(shrink.error().code, PoolErrc::invalid_argument);
  EXPECT_EQ(shrink.error().field, "size_bytes");
  // b grows in place (the space after it is free now? no: a's new extent follows it).
  auto b2 = pools_->resize_disk(b, 3 * M);
  ASSERT_TRUE(b2);
  EXPECT_EQ(b2->extents.size(), 2u);
  // The on-device map follows every change.
  auto h = read_pool_header(pool.path);
  ASSERT_TRUE(h) << h.error().message;
  ASSERT_EQ(h->disks.size(), 2u);
  EXPECT_EQ(h->disks[0].extents, grown->extents);
  EXPECT_EQ(h->disks[1].extents, b2->extents);
}

TEST_F(PoolManagerTest, DeleteZeroesTheExtentsSoTheNextOwnerReadsNothingOld) {
  PoolRecord pool = partitioned();
  DiskRecord a = disk(pool, "a", 4 * M);
  DiskRecord neighbour = disk(pool, "n", 2 * M);
  const auto data = pattern(4 * M, 3);
  write_disk(a, 0, data);
  write_disk(neighbour, 0, pattern(2 * M, 9));
  EXPECT_EQ(read_device(pool.path, M, 4 * M), data);  // a lives at [1 MiB, 5 MiB)
  ASSERT_TRUE(pools_->delete_disk(a));
  EXPECT_TRUE(all_zero(read_device(pool.path, M, 4 * M)));
  EXPECT_EQ(read_device(pool.path, 5 * M, 2 * M), pattern(2 * M, 9));  // neighbour untouched

  DiskRecord next = disk(pool, "next", 4 * M);
  EXPECT_EQ(next.extents, a.extents);
  auto img = open_image(PoolManager::open_options(next, true));
  ASSERT_TRUE(img);
  std::vector<std::byte> got(4 * M);
  ASSERT_TRUE((*img)->read(0, got));
  EXPECT_TRUE(all_zero(got));
  // Nothing past the disk's own extents: a read past its end is refused.
  std::vector<std::byte> one(512);
  EXPECT_FALSE((*img)->read(4 * M, one));
}

TEST_F(PoolManagerTest, WritesLandOnlyInsideTheDisksExtents) {
  PoolRecord pool = partitioned(10 * M);  // data area [1, 10) MiB
  DiskRecord a = disk(pool, "a", 2 * M);  // [1, 3)
  DiskRecord b = disk(pool, "b", 2 * M);  // [3, 5)
  ASSERT_TRUE(pools_->delete_disk(a));
  DiskRecord c = disk(pool, "c", 6 * M);  // no hole holds 6 MiB: [5, 10) then [1, 2)
  ASSERT_EQ(c.extents, (std::vector<DiskExtent>{{5 * M, 5 * M}, {M, M}}));
  const auto data = pattern(6 * M, 1);
  write_disk(c, 0, data);
  EXPECT_EQ(read_device(pool.path, 5 * M, 5 * M),
            std::vector<std::byte>(data.begin(), data.begin() + 5 * M));
  EXPECT_EQ(read_device(pool.path, M, M), std::vector<std::byte>(data.begin() + 5 * M, data.end()));
  EXPECT_TRUE(all_zero(read_device(pool.path, 2 * M, 3 * M)));   // the free MiB and b
  EXPECT_TRUE(all_zero(read_device(pool.path, 0, M)) == false);  // the header lives there
  EXPECT_EQ(b.extents, (std::vector<DiskExtent>{{3 * M, 2 * M}}));
}

TEST_F(PoolManagerTest, RebuildFromTheDeviceAloneGivesTheSameMaps) {
  PoolRecord pool = partitioned();
  DiskRecord a = disk(pool, "a", 2 * M);
  DiskRecord b = disk(pool, "b", 3 * M);
  ASSERT_TRUE(pools_->resize_disk(a, 6 * M));
  auto before = store_->list_disks(pool.id);
  ASSERT_TRUE(before);
  // Wipe the rows (not the device), then rebuild from the device.
  for (const auto& d : *before) ASSERT_TRUE(store_->delete_disk(d.id));
  ASSERT_EQ(store_->list_disks(pool.id)->size(), 0u);
  auto rebuilt = pools_->rebuild_from_device(pool);
  ASSERT_TRUE(rebuilt) << rebuilt.error().message;
  ASSERT_EQ(rebuilt->size(), before->size());
  for (const auto& d : *before) {
    auto r = store_->get_disk(d.id);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->name, d.name);
    EXPECT_EQ(r->size_bytes, d.size_bytes);
    EXPECT_EQ(r->extents, d.extents);
  }
  // Rebuilding again is a no-op.
  EXPECT_EQ(pools_->rebuild_from_device(pool)->size(), 2u);
  (void)b;
}

TEST_F(PoolManagerTest, AFreshStoreAdoptsAPoolDevice) {
  PoolRecord pool = partitioned();
  DiskRecord a = disk(pool, "a", 2 * M);
  write_disk(a, 0, pattern(2 * M, 5));
  TempDir other;
  auto store2 = open_store(other.file("g.db"));
  ASSERT_NE(store2, nullptr);
  PoolManager pools2(*store2);
  auto adopted = pools2.create_pool({"again", PoolType::partitioned, pool.path, 0});
  ASSERT_TRUE(adopted) << adopted.error().message;
  EXPECT_EQ(adopted->id, pool.id);
  auto d = store2->get_disk_by_name("a");
  ASSERT_TRUE(d) << d.error().message;
  EXPECT_EQ(d->extents, a.extents);
  EXPECT_EQ(read_device(pool.path, M, 2 * M), pattern(2 * M, 5));  // data kept
}

TEST_F(PoolManagerTest, ACorruptHeaderIsRefusedAtRebuild) {
  PoolRecord pool = partitioned();
  disk(pool, "a", 2 * M);
  const int fd = ::open(pool.path.c_str(), O_RDWR);
  ASSERT_GE(fd, 0);
  const char junk[8] = {'j', 'u', 'n', 'k', 'j', 'u', 'n', 'k'};
  ASSERT_EQ(::pwrite(fd, junk, 8, 0), 8);
  ASSERT_EQ(::pwrite(fd, junk, 8, static_cast<off_t>(kSlotBytes)), 8);
  ::close(fd);
  auto r = pools_->rebuild_from_device(pool);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, PoolErrc::corrupt);
}

TEST_F(PoolManagerTest, PoolDeleteRefusedWhileItHoldsDisksAndWipesTheMap) {
  PoolRecord pool = partitioned();
  DiskRecord a = disk(pool, "a", 2 * M);
  EXPECT_EQ(pools_->delete_pool(pool).error().code, PoolErrc::invalid_state);
  ASSERT_TRUE(pools_->delete_disk(a));
  ASSERT_TRUE(pools_->delete_pool(pool));
  EXPECT_FALSE(read_pool_header(pool.path));
  EXPECT_EQ(store_->get_pool(pool.id).error().code, StoreErrc::not_found);
}

TEST_F(PoolManagerTest, DeleteRefusedWhileAttached) {
  PoolRecord pool = partitioned();
  DiskRecord a = disk(pool, "a", 2 * M);
  auto vm = store_->create_vm(storage::test::sample_spec("vm"));
  ASSERT_TRUE(vm);
  ASSERT_TRUE(pools_->attach_disk(vm->id, a, false));
  write_disk(a, 0, pattern(M, 1));
  auto del = pools_->delete_disk(*store_->get_disk(a.id));
  ASSERT_FALSE(del);
  EXPECT_EQ(del.error().code, PoolErrc::invalid_state);
  EXPECT_EQ(read_device(pool.path, M, M), pattern(M, 1));  // not zeroed
  ASSERT_TRUE(pools_->detach_disk(vm->id, a));
  EXPECT_TRUE(pools_->delete_disk(a));
}

TEST_F(PoolManagerTest, DirPoolOneFilePerDisk) {
  auto pool = pools_->create_pool({"files", PoolType::dir, dir_.file("pool"), 0});
  ASSERT_TRUE(pool) << pool.error().message;
  EXPECT_TRUE(std::filesystem::is_directory(dir_.file("pool")));
  auto d = pools_->create_disk(*pool, {"root", "raw", 8 * M, ""});
  ASSERT_TRUE(d) << d.error().message;
  EXPECT_EQ(d->path, dir_.file("pool") + "/" + d->id + ".raw");
  EXPECT_EQ(std::filesystem::file_size(d->path), 8 * M);
  auto bad = pools_->create_disk(*pool, {"odd", "raw", 1000, ""});
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().field, "size_bytes");
  auto grown = pools_->resize_disk(*d, 12 * M);
  ASSERT_TRUE(grown) << grown.error().message;
  EXPECT_EQ(std::filesystem::file_size(d->path), 12 * M);
  EXPECT_EQ(pools_->resize_disk(*grown, 12 * M).error().code, PoolErrc::invalid_argument);
  auto u = pools_->usage(*pool);
  ASSERT_TRUE(u);
  EXPECT_GT(u->capacity_bytes, 0u);
  EXPECT_EQ(u->disk_count, 1u);
  ASSERT_TRUE(pools_->delete_disk(*grown));
  EXPECT_FALSE(std::filesystem::exists(d->path));
  EXPECT_TRUE(pools_->delete_pool(*pool));
}

TEST_F(PoolManagerTest, ImportCopiesWithProgressIntoBothPoolKinds) {
  const std::string src = dir_.file("src.raw");
  {
    const int fd = ::open(src.c_str(), O_RDWR | O_CREAT, 0600);
    ASSERT_GE(fd, 0);
    const auto data = pattern(3 * M + 4096, 2);
    ASSERT_EQ(::pwrite(fd, data.data(), data.size(), 0), static_cast<ssize_t>(data.size()));
    ::close(fd);
  }
  auto dir_pool = pools_->create_pool({"files", PoolType::dir, dir_.file("pool"), 0});
  ASSERT_TRUE(dir_pool);
  PoolRecord part = partitioned();
  for (const PoolRecord& pool : {*dir_pool, part}) {
    const std::string name = "img-" + pool.name;
    ASSERT_TRUE(pools_->check_import(pool, {name, src, ""}));
    uint64_t last = 0, total = 0;
    auto d = pools_->import_disk(pool, {name, src, ""}, [&](uint64_t done, uint64_t all) {
      last = done;
      total = all;
    });
    ASSERT_TRUE(d) << d.error().message;
    EXPECT_EQ(last, total);
    EXPECT_EQ(d->format, "raw");
    auto img = open_image(PoolManager::open_options(*d, true));
    ASSERT_TRUE(img);
    std::vector<std::byte> got(3 * M + 4096);
    ASSERT_TRUE((*img)->read(0, got));
    EXPECT_EQ(got, pattern(3 * M + 4096, 2));
    EXPECT_EQ(pools_->check_import(pool, {name, src, ""}).error().code, PoolErrc::conflict);
  }
  EXPECT_EQ(store_->get_disk_by_name("img-part")->size_bytes, 4 * M);  // rounded to a MiB
}

TEST_F(PoolManagerTest, AFailedImportLeavesNoRowAndNoFile) {
  auto pool = pools_->create_pool({"files", PoolType::dir, dir_.file("pool"), 0});
  ASSERT_TRUE(pool);
  auto missing = pools_->import_disk(*pool, {"x", dir_.file("nope.raw"), ""}, nullptr);
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().field, "source_path");
  const std::string src = dir_.file("src.raw");
  {
    const int fd = ::open(src.c_str(), O_RDWR | O_CREAT, 0600);
    ASSERT_EQ(::ftruncate(fd, 8 * M), 0);
    ::close(fd);
  }
  std::atomic<bool> cancel{true};
  auto cancelled = pools_->import_disk(*pool, {"x", src, ""}, nullptr, &cancel);
  ASSERT_FALSE(cancelled);
  EXPECT_EQ(store_->list_disks("")->size(), 0u);
  EXPECT_TRUE(std::filesystem::is_empty(dir_.file("pool")));

  PoolRecord part = partitioned();
  auto p = pools_->import_disk(part, {"y", src, ""}, nullptr, &cancel);
  ASSERT_FALSE(p);
  EXPECT_EQ(store_->list_disks("")->size(), 0u);
  EXPECT_EQ(pools_->usage(part)->free_bytes, part.capacity_bytes);  // reservation returned
}

}  // namespace
}  // namespace flotilla::storage::pools

namespace flotilla::storage::pools {
namespace {

TEST_F(PoolManagerTest, DirPoolQcow2DisksOverlaysAndImport) {
  auto pool = pools_->create_pool({"files", PoolType::dir, dir_.file("pool"), 0});
  ASSERT_TRUE(pool) << pool.error().message;
  auto base = pools_->create_disk(*pool, {"base", "raw", 4 * M, ""});
  ASSERT_TRUE(base) << base.error().message;
  write_disk(*base, 0, pattern(M, 4));
  auto q = pools_->create_disk(*pool, {"q", "qcow2", 8 * M, ""});
  ASSERT_TRUE(q) << q.error().message;
  EXPECT_EQ(q->path, dir_.file("pool") + "/" + q->id + ".qcow2");
  auto info = image_info(q->path);
  ASSERT_TRUE(info) << info.error().message;
  EXPECT_EQ(info->format, ImageFormat::kQcow2);
  EXPECT_EQ(info->size_bytes, 8 * M);
  auto grown = pools_->resize_disk(*q, 16 * M);
  ASSERT_TRUE(grown) << grown.error().message;
  EXPECT_EQ(image_info(q->path)->size_bytes, 16 * M);

  // An overlay reads its backing disk's data; the backing disk cannot go while it is used.
  auto overlay = pools_->create_disk(*pool, {"over", "qcow2", 4 * M, base->id});
  ASSERT_TRUE(overlay) << overlay.error().message;
  EXPECT_EQ(overlay->backing_disk_id, base->id);
  {
    auto img = open_image(PoolManager::open_options(*overlay, true));
    ASSERT_TRUE(img) << img.error().message;
    std::vector<std::byte> got(M);
    ASSERT_TRUE((*img)->read(0, got));
    EXPECT_EQ(got, pattern(M, 4));
  }
  EXPECT_EQ(pools_->delete_disk(*base).error().code, PoolErrc::invalid_state);
  EXPECT_EQ(pools_->create_disk(*pool, {"bad", "raw", M, base->id}).error().field, "backing");

  // A qcow2 source imports as qcow2 by default, or converted to raw.
  auto as_qcow2 = pools_->import_disk(*pool, {"imp-q", q->path, ""}, nullptr);
  ASSERT_TRUE(as_qcow2) << as_qcow2.error().message;
  EXPECT_EQ(as_qcow2->format, "qcow2");
  auto as_raw = pools_->import_disk(*pool, {"imp-r", overlay->path, "raw"}, nullptr);
  ASSERT_TRUE(as_raw) << as_raw.error().message;
  EXPECT_EQ(as_raw->format, "raw");
  auto img = open_image(PoolManager::open_options(*as_raw, true));
  ASSERT_TRUE(img);
  std::vector<std::byte> got(M);
  ASSERT_TRUE((*img)->read(0, got));
  EXPECT_EQ(got, pattern(M, 4));  // the overlay's backing data, flattened
}

}  // namespace
}  // namespace flotilla::storage::pools

namespace flotilla::storage::pools {
namespace {

// A loop device over a file, detached on destruction.
class LoopDevice {
 public:
  explicit LoopDevice(const std::string& file) {
    FILE* p = ::popen(("losetup --find --show " + file + " 2>&1").c_str(), "r");
    if (p == nullptr) return;
    char buf[256] = {};
    if (std::fgets(buf, sizeof buf, p) != nullptr) output_ = buf;
    const int status = ::pclose(p);
    while (!output_.empty() && (output_.back() == '\n' || output_.back() == ' ')) {
      output_.pop_back();
    }
    if (status == 0 && output_.rfind("/dev/loop", 0) == 0) path_ = output_;
  }
  ~LoopDevice() {
    if (!path_.empty()) (void)std::system(("losetup -d " + path_).c_str());
  }
  const std::string& path() const { return path_; }
  const std::string& output() const { return output_; }

 private:
  std::string path_;
  std::string output_;
};

TEST_F(PoolManagerTest, PartitionedPoolOnABlockDevice) {
  const std::string file = dir_.file("loop.img");
  {
    const int fd = ::open(file.c_str(), O_RDWR | O_CREAT, 0600);
    ASSERT_GE(fd, 0);
    const auto junk = pattern(16 * M, 77);  // old data the pool must never hand out
    ASSERT_EQ(::pwrite(fd, junk.data(), junk.size(), 0), static_cast<ssize_t>(junk.size()));
    ::close(fd);
  }
  LoopDevice loop(file);
  ASSERT_FALSE(loop.path().empty())
      << "this test needs a loop device (root, /dev/loop-control): " << loop.output();
  auto pool = pools_->create_pool({"blk", PoolType::partitioned, loop.path(), 0});
  ASSERT_TRUE(pool) << pool.error().message;
  EXPECT_EQ(pool->capacity_bytes, 15 * M);
  DiskRecord a = disk(*pool, "a", 4 * M);
  auto img = open_image(PoolManager::open_options(a, true));
  ASSERT_TRUE(img) << img.error().message;
  std::vector<std::byte> got(4 * M);
  ASSERT_TRUE((*img)->read(0, got));
  EXPECT_TRUE(all_zero(got)) << "a new disk shows the device's old data";
  img->reset();
  write_disk(a, 0, pattern(4 * M, 5));
  ASSERT_TRUE(pools_->delete_disk(a));
  EXPECT_TRUE(all_zero(read_device(loop.path(), M, 4 * M)));
  DiskRecord b = disk(*pool, "b", 2 * M);
  auto h = read_pool_header(loop.path());
  ASSERT_TRUE(h) << h.error().message;
  ASSERT_EQ(h->disks.size(), 1u);
  EXPECT_EQ(h->disks[0].extents, b.extents);
  ASSERT_TRUE(pools_->delete_disk(b));
  ASSERT_TRUE(pools_->delete_pool(*pool));
}

}  // namespace
}  // namespace flotilla::storage::pools

namespace flotilla::storage::pools {
namespace {

// What a daemon killed mid-import leaves: bytes in free space. New disks and grown tails must
// still read as zeroes.
TEST_F(PoolManagerTest, LeftoverBytesInFreeSpaceNeverReachANewOwner) {
  PoolRecord pool = partitioned(16 * M);
  DiskRecord a = disk(pool, "a", 2 * M);  // [1, 3)
  {
    const int fd = ::open(pool.path.c_str(), O_RDWR);
    ASSERT_GE(fd, 0);
    const auto junk = pattern(13 * M, 99);
    ASSERT_EQ(::pwrite(fd, junk.data(), junk.size(), static_cast<off_t>(3 * M)),
              static_cast<ssize_t>(junk.size()));
    ::close(fd);
  }
  auto grown = pools_->resize_disk(a, 4 * M);  // in place: [1, 5)
  ASSERT_TRUE(grown) << grown.error().message;
  DiskRecord b = disk(pool, "b", 3 * M);
  for (const DiskRecord& d : {*grown, b}) {
    auto img = open_image(PoolManager::open_options(d, true));
    ASSERT_TRUE(img);
    std::vector<std::byte> got(d.size_bytes);
    ASSERT_TRUE((*img)->read(0, got));
    EXPECT_TRUE(all_zero(got)) << d.name;
  }
}

}  // namespace
}  // namespace flotilla::storage::pools

namespace flotilla::storage::pools {
namespace {

TEST_F(PoolManagerTest, OrphanImagesOfADirPoolAreRemovedAtStart) {
  auto pool = pools_->create_pool({"files", PoolType::dir, dir_.file("pool"), 0});
  ASSERT_TRUE(pool);
  auto kept = pools_->create_disk(*pool, {"kept", "raw", M, ""});
  ASSERT_TRUE(kept);
  const std::string orphan = dir_.file("pool") + "/0b5e8a57-1c1e-4f51-9d7c-6a4f3a2b1c0d.raw";
  const std::string other = dir_.file("pool") + "/notes.txt";
  std::ofstream(orphan) << "left by a killed import";
  std::ofstream(other) << "not ours";
  auto removed = pools_->remove_orphans();
  EXPECT_EQ(removed, std::vector<std::string>{orphan});
  EXPECT_FALSE(std::filesystem::exists(orphan));
  EXPECT_TRUE(std::filesystem::exists(other));
  EXPECT_TRUE(std::filesystem::exists(kept->path));
}

}  // namespace
}  // namespace flotilla::storage::pools
