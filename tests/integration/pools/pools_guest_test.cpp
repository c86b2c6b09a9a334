// A probe guest under a real flotilla-vmm, started through flotillad, writes through a
// partitioned-pool disk made of two extents: the monitor accepts the supervisor's disk config,
// the data lands in the disk's extents (in order) and nowhere else on the device; attach and
// detach are refused while the VM runs.
#include <fcntl.h>
#include <unistd.h>

#include "tests/integration/supervisor/fleet_harness.h"
#include "tests/support/blk_pattern.h"

namespace flotilla::supervisor_test {
namespace {

constexpr uint64_t M = 1ULL << 20;

std::vector<uint8_t> read_at(const std::string& path, uint64_t offset, size_t n) {
  std::vector<uint8_t> v(n);
  const int fd = ::open(path.c_str(), O_RDONLY);
  EXPECT_GE(fd, 0) << path;
  EXPECT_EQ(::pread(fd, v.data(), n, static_cast<off_t>(offset)), static_cast<ssize_t>(n));
  ::close(fd);
  return v;
}

bool all_zero(const std::vector<uint8_t>& v) {
  for (uint8_t b : v) {
    if (b != 0) return false;
  }
  return true;
}

// The host offset of virtual byte `at` of a disk with these extents.
uint64_t host_offset(const json& extents, uint64_t at) {
  for (const auto& e : extents) {
    const uint64_t len = e.value("length", 0ULL);
    if (at < len) return e.value("host_offset", 0ULL) + at;
    at -= len;
  }
  ADD_FAILURE() << "offset past the disk";
  return 0;
}

TEST(PoolsGuestTest, ProbeWritesLandOnlyInsideThePartitionedDisksExtents) {
  auto daemon = start_daemon();
  ASSERT_NE(daemon, nullptr);
  Fleet f(*daemon);
  auto api = daemon->client();
  const std::string dev = daemon->work_dir() + "/pool.img";
  auto pool = api.post(
      "/v1/pools",
      json{{"name", "part"}, {"type", "partitioned"}, {"path", dev}, {"size_bytes", 8 * M}}.dump());
  ASSERT_EQ(pool.status, 201) << pool.body;
  // a = [1,3) MiB, b = [3,5); a deleted: the 5 MiB disk is [5,8) then [1,3).
  ASSERT_EQ(api.post("/v1/disks", R"({"name":"a","pool":"part","size_bytes":2097152})").status,
            201);
  auto b = api.post("/v1/disks", R"({"name":"b","pool":"part","size_bytes":2097152})");
  ASSERT_EQ(b.status, 201);
  ASSERT_EQ(api.del("/v1/disks/a").status, 204);
  auto d = api.post("/v1/disks", R"({"name":"guest-data","pool":"part","size_bytes":5242880})");
  ASSERT_EQ(d.status, 201) << d.body;
  const json extents = d.json()["extents"];
  ASSERT_EQ(extents.size(), 2u) << d.body;
  EXPECT_EQ(extents[0].value("host_offset", 0ULL), 5 * M);
  EXPECT_EQ(extents[1].value("host_offset", 0ULL), 1 * M);

  const std::string id = f.create("disk-vm");
  ASSERT_FALSE(id.empty());
  auto att = api.post("/v1/vms/disk-vm/disks", R"({"disk":"guest-data"})");
  ASSERT_EQ(att.status, 200) << att.body;
  f.act_and_wait(id, "start");
  ASSERT_EQ(f.state(id), "running") << daemon->stderr_log();
  ASSERT_TRUE(f.wait_console(id, "flotilla-probe ready")) << f.console_tail(id);

  const std::string info = f.run_on_console(id, "blk info");
  EXPECT_NE(info.find("blk dev=0 sectors=10240 size_bytes=5242880"), std::string::npos) << info;
  EXPECT_NE(info.find("id=guest-data"), std::string::npos) << info;

  // 16 sectors across the boundary between the two extents (LBA 6144 = 3 MiB), then the last
  // sectors of the disk.
  const std::string w = f.run_on_console(id, "blk write 6136 16 42");
  EXPECT_NE(w.find("blk write lba=6136 count=16 seed=42"), std::string::npos) << w;
  const std::string w2 = f.run_on_console(id, "blk write 10232 8 43");
  EXPECT_NE(w2.find("blk write lba=10232 count=8 seed=43"), std::string::npos) << w2;
  const std::string fl = f.run_on_console(id, "blk flush");
  EXPECT_NE(fl.find("blk flush"), std::string::npos) << fl;
  // A write past the disk's end is an error to the guest, not a write elsewhere.
  const std::string past = f.run_on_console(id, "blk write 10240 1 44");
  EXPECT_NE(past.find("ERR"), std::string::npos) << past;

  // Running: no attach, no detach.
  auto late = api.post("/v1/vms/disk-vm/disks", R"({"disk":"b"})");
  EXPECT_EQ(late.status, 409) << late.body;
  EXPECT_EQ(late.json()["error"].value("code", ""), "invalid_state");
  auto off = api.del("/v1/vms/disk-vm/disks/guest-data");
  EXPECT_EQ(off.status, 409) << off.body;
  EXPECT_EQ(api.del("/v1/disks/guest-data").status, 409);

  f.act_and_wait(id, "stop");
  ASSERT_EQ(f.state(id), "stopped");

  uint8_t want[512];
  for (uint64_t lba = 6136; lba < 6152; ++lba) {
    blk_pattern_sector(42, lba, want);
    EXPECT_EQ(read_at(dev, host_offset(extents, lba * 512), 512),
              std::vector<uint8_t>(want, want + 512))
        << "lba " << lba;
  }
  for (uint64_t lba = 10232; lba < 10240; ++lba) {
    blk_pattern_sector(43, lba, want);
    EXPECT_EQ(read_at(dev, host_offset(extents, lba * 512), 512),
              std::vector<uint8_t>(want, want + 512))
        << "lba " << lba;
  }
  // Nothing outside the written sectors: b's extent and the rest of the disk stay zero.
  EXPECT_TRUE(all_zero(read_at(dev, 3 * M, 2 * M))) << "disk b was written";
  EXPECT_TRUE(all_zero(read_at(dev, 5 * M, 6136 * 512)));  // before the first write
  EXPECT_TRUE(all_zero(read_at(dev, 1 * M + 8 * 512, 2 * M - 8 * 512 - 8 * 512)));

  // Stopped: detach works, then the disk can go (its extents zeroed).
  ASSERT_EQ(api.del("/v1/vms/disk-vm/disks/guest-data").status, 200);
  ASSERT_EQ(api.del("/v1/disks/guest-data").status, 204);
  EXPECT_TRUE(all_zero(read_at(dev, 5 * M, 3 * M)));
  EXPECT_TRUE(all_zero(read_at(dev, 1 * M, 2 * M)));
}

}  // namespace
}  // namespace flotilla::supervisor_test
