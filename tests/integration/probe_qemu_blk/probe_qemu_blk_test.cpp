// The probe guest's virtio-blk driver (guest/probe/virtio/virtio_blk.c, `blk` shell command of
// team/STORAGE.md) against QEMU's virtio-blk-device on -M microvm: an implementation our driver
// does not share code with. The bytes the guest writes are checked in the host file with the
// shared pattern (tests/support/blk_pattern.h), and bytes the host writes are verified by the
// guest, so the driver, the pattern and the device agree independently.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>
#include <regex>
#include <string>
#include <vector>

#include "tests/support/blk_pattern.h"
#include "tests/support/guest_console.h"

namespace flotilla::test {
namespace {

using namespace std::chrono_literals;
namespace fs = std::filesystem;

constexpr auto kBootTimeout = 20s;
constexpr auto kCommandTimeout = 60s;
constexpr uint64_t kMiB = 1ull << 20;

std::vector<std::string> qemu_argv() {
  return {"qemu-system-x86_64",
          "-M",
          "microvm,x-option-roms=off,rtc=on",
          "-enable-kvm",
          "-cpu",
          "host,-arch-capabilities",
          "-m",
          "128M",
          "-smp",
          "1",
          "-nodefaults",
          "-no-user-config",
          "-nographic",
          "-serial",
          "stdio",
          "-no-reboot",
          "-kernel",
          FLOTILLA_PROBE_ELF,
          "-device",
          "isa-debug-exit,iobase=0xf4,iosize=1",
          "-global",
          "virtio-mmio.force-legacy=false"};
}

// `-drive ... -device virtio-blk-device,...` for one disk.
std::vector<std::string> disk_args(const std::string& id, const std::string& path,
                                   const std::string& format, const std::string& serial = "",
                                   const std::string& drive_extra = "") {
  std::string drive = "file=" + path + ",if=none,id=" + id + ",format=" + format;
  if (!drive_extra.empty()) drive += "," + drive_extra;
  std::string dev = "virtio-blk-device,drive=" + id;
  if (!serial.empty()) dev += ",serial=" + serial;
  return {"-drive", drive, "-device", dev};
}

// Runs a host command (qemu-img); returns its exit status and stdout+stderr.
std::pair<int, std::string> run_host(const std::string& cmd) {
  std::string out;
  FILE* p = ::popen((cmd + " 2>&1").c_str(), "r");
  if (!p) return {-1, "popen failed"};
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  const int st = ::pclose(p);
  return {WIFEXITED(st) ? WEXITSTATUS(st) : -1, out};
}

std::vector<uint8_t> read_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return std::vector<uint8_t>(std::istreambuf_iterator<char>(f), {});
}

void make_sparse(const std::string& path, uint64_t bytes) {
  std::ofstream(path, std::ios::binary).close();
  fs::resize_file(path, bytes);
}

// Writes the pattern for `seed` into sectors [lba, lba + count) of a raw file.
void host_write_pattern(const std::string& path, uint64_t lba, uint64_t count, uint64_t seed) {
  std::fstream f(path, std::ios::binary | std::ios::in | std::ios::out);
  f.seekp(static_cast<std::streamoff>(lba * 512));
  uint8_t sector[512];
  for (uint64_t s = 0; s < count; ++s) {
    blk_pattern_sector(seed, lba + s, sector);
    f.write(reinterpret_cast<const char*>(sector), sizeof sector);
  }
}

// Sectors of [lba, lba + count) in `image` that differ from the pattern (or from zeroes when
// seed is nullopt).
uint64_t host_mismatches(const std::vector<uint8_t>& image, uint64_t lba, uint64_t count,
                         std::optional<uint64_t> seed) {
  uint64_t bad = 0;
  uint8_t want[512] = {};
  for (uint64_t s = lba; s < lba + count; ++s) {
    if ((s + 1) * 512 > image.size()) {
      ++bad;
      continue;
    }
    if (seed) blk_pattern_sector(*seed, s, want);
    if (std::memcmp(image.data() + s * 512, want, 512) != 0) ++bad;
  }
  return bad;
}

class ProbeQemuBlkTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/probe-qemu-blk-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override {
    console_.reset();
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }

  std::string path(const std::string& name) const { return dir_ + "/" + name; }

  void boot(const std::vector<std::string>& extra) {
    ASSERT_EQ(access(FLOTILLA_PROBE_ELF, R_OK), 0) << "probe image missing: " << FLOTILLA_PROBE_ELF;
    ASSERT_EQ(access("/dev/kvm", R_OK | W_OK), 0) << "/dev/kvm is not usable";
    std::vector<std::string> argv = qemu_argv();
    argv.insert(argv.end(), extra.begin(), extra.end());
    auto c = GuestConsole::spawn(argv);
    ASSERT_TRUE(c) << c.error().message;
    console_ = std::move(c.value());
    ASSERT_TRUE(console_->wait_for(std::regex("flotilla-probe ready\r?\n"), kBootTimeout))
        << "no boot marker (is qemu-system-x86_64 installed?)\nstdout:\n"
        << console_->output() << "\nstderr:\n"
        << console_->stderr_output();
    ASSERT_TRUE(console_->wait_for(std::regex("probe> "), kCommandTimeout));
  }

  CommandOutput run(const std::string& cmd) {
    auto r = console_->run_command(cmd, kCommandTimeout);
    EXPECT_TRUE(r) << "no status line for '" << cmd << "'; output:\n" << console_->output();
    return r ? *r : CommandOutput{{}, "(timeout)"};
  }

  // A command that must succeed with exactly one output line matching `re`; returns the groups.
  std::vector<std::string> run_ok(const std::string& cmd, const std::string& re) {
    CommandOutput r = run(cmd);
    EXPECT_TRUE(r.ok()) << cmd << " -> " << r.status;
    EXPECT_EQ(r.lines.size(), 1u) << "output of '" << cmd << "':\n" << console_->output();
    if (r.lines.size() != 1) return {};
    std::smatch m;
    if (!std::regex_match(r.lines[0], m, std::regex(re))) {
      ADD_FAILURE() << "'" << r.lines[0] << "' does not match " << re;
      return {};
    }
    last_groups_.assign(m.begin(), m.end());
    return last_groups_;
  }

  // A command that must fail with exactly `status`.
  void run_err(const std::string& cmd, const std::string& status) {
    CommandOutput r = run(cmd);
    EXPECT_EQ(r.status, status) << cmd;
  }

  // The `blk info` lines, one per disk.
  std::vector<std::string> info() {
    CommandOutput r = run("blk info");
    EXPECT_TRUE(r.ok()) << r.status;
    return r.lines;
  }

  // poweroff: QEMU exits (isa-debug-exit: status 1) and has written everything to its files.
  void poweroff() {
    ASSERT_TRUE(console_->send_line("poweroff"));
    auto st = console_->wait_exit(20s);
    ASSERT_TRUE(st) << "QEMU still running after poweroff";
    EXPECT_TRUE(st->exited);
    EXPECT_EQ(st->code, 1);
    console_.reset();
  }

  std::string dir_;
  std::unique_ptr<GuestConsole> console_;
  std::vector<std::string> last_groups_;  // run_ok's last match
};

const char kInfoRe[] =
    R"(blk dev=(\d+) sectors=(\d+) size_bytes=(\d+) features=0x([0-9a-f]+) ro=([01]) seg_max=(\d+) id=(\S+))";

TEST_F(ProbeQemuBlkTest, InfoReportsCapacityFeaturesAndSerial) {
  make_sparse(path("a.raw"), 64 * kMiB);
  boot(disk_args("d0", path("a.raw"), "raw", "flt-serial-0123"));
  auto lines = info();
  ASSERT_EQ(lines.size(), 1u);
  std::smatch m;
  ASSERT_TRUE(std::regex_match(lines[0], m, std::regex(kInfoRe))) << lines[0];
  EXPECT_EQ(m.str(1), "0");
  EXPECT_EQ(std::stoull(m.str(2)), 64 * kMiB / 512);
  EXPECT_EQ(std::stoull(m.str(3)), 64 * kMiB);
  const uint64_t features = std::stoull(m.str(4), nullptr, 16);
  EXPECT_TRUE(features & (1ull << 32)) << "VIRTIO_F_VERSION_1";
  EXPECT_TRUE(features & (1ull << 9)) << "VIRTIO_BLK_F_FLUSH";
  EXPECT_TRUE(features & (1ull << 2)) << "VIRTIO_BLK_F_SEG_MAX";
  EXPECT_TRUE(features & (1ull << 13)) << "VIRTIO_BLK_F_DISCARD";
  EXPECT_TRUE(features & (1ull << 14)) << "VIRTIO_BLK_F_WRITE_ZEROES";
  EXPECT_FALSE(features & (1ull << 5)) << "VIRTIO_BLK_F_RO on a writable disk";
  EXPECT_EQ(m.str(5), "0");
  EXPECT_GE(std::stoul(m.str(6)), 1u);
  EXPECT_EQ(m.str(7), "flt-serial-0123");
  run_ok("blk use 0", "blk dev=0");
  run_err("blk use 1", "ERR no such blk device");
  run_err("blk frobnicate", std::string("ERR usage: blk info | use N | write LBA COUNT SEED | "
                                        "verify LBA COUNT SEED | flush | discard LBA COUNT | "
                                        "zeroes LBA COUNT | bench seq|rand read|write MIB"));
}

TEST_F(ProbeQemuBlkTest, NoDiskIsAnError) {
  boot({});
  run_err("blk info", "ERR no virtio-blk device");
  run_err("blk write 0 1 1", "ERR no virtio-blk device");
}

TEST_F(ProbeQemuBlkTest, WrittenSectorsAreThePatternInTheHostFile) {
  make_sparse(path("a.raw"), 64 * kMiB);
  boot(disk_args("d0", path("a.raw"), "raw", "pattern"));
  run_ok("blk write 0 8 11", "blk write lba=0 count=8 seed=11");
  // 10 MiB + 3 sectors from an odd LBA: many 1 MiB requests in flight, a short last one.
  run_ok("blk write 4097 20483 12", "blk write lba=4097 count=20483 seed=12");
  run_ok("blk write 131071 1 13", "blk write lba=131071 count=1 seed=13");  // the last sector
  run_ok("blk verify 0 8 11", "blk verify lba=0 count=8 seed=11 mismatches=0 first_bad=-");
  run_ok("blk verify 4097 20483 12",
         "blk verify lba=4097 count=20483 seed=12 mismatches=0 first_bad=-");
  run_ok("blk verify 131071 1 13",
         "blk verify lba=131071 count=1 seed=13 mismatches=0 first_bad=-");
  // The wrong seed, and a range that starts in unwritten (zero) sectors.
  CommandOutput r = run("blk verify 4 8 11");
  EXPECT_EQ(r.status, "ERR verify failed");
  ASSERT_EQ(r.lines.size(), 1u);
  EXPECT_EQ(r.lines[0], "blk verify lba=4 count=8 seed=11 mismatches=4 first_bad=8");
  r = run("blk verify 4097 16 99");
  EXPECT_EQ(r.status, "ERR verify failed");
  ASSERT_EQ(r.lines.size(), 1u);
  EXPECT_EQ(r.lines[0], "blk verify lba=4097 count=16 seed=99 mismatches=16 first_bad=4097");
  run_ok("blk flush", "blk flush");
  poweroff();

  const auto image = read_file(path("a.raw"));
  ASSERT_EQ(image.size(), 64 * kMiB);
  EXPECT_EQ(host_mismatches(image, 0, 8, 11), 0u);
  EXPECT_EQ(host_mismatches(image, 4097, 20483, 12), 0u);
  EXPECT_EQ(host_mismatches(image, 131071, 1, 13), 0u);
  EXPECT_EQ(host_mismatches(image, 8, 4089, std::nullopt), 0u) << "untouched sectors stay zero";
  EXPECT_EQ(host_mismatches(image, 4097 + 20483, 1000, std::nullopt), 0u);
}

TEST_F(ProbeQemuBlkTest, GuestVerifiesWhatTheHostWrote) {
  make_sparse(path("a.raw"), 16 * kMiB);
  host_write_pattern(path("a.raw"), 100, 3000, 424242);
  boot(disk_args("d0", path("a.raw"), "raw"));
  run_ok("blk verify 100 3000 424242",
         "blk verify lba=100 count=3000 seed=424242 mismatches=0 first_bad=-");
  CommandOutput r = run("blk verify 99 3002 424242");
  EXPECT_EQ(r.status, "ERR verify failed");
  ASSERT_EQ(r.lines.size(), 1u);
  EXPECT_EQ(r.lines[0], "blk verify lba=99 count=3002 seed=424242 mismatches=2 first_bad=99");
}

TEST_F(ProbeQemuBlkTest, DiscardAndWriteZeroesLeaveZeroesInTheHostFile) {
  make_sparse(path("a.raw"), 32 * kMiB);
  // discard=unmap: QEMU punches holes in the raw file for DISCARD.
  boot(disk_args("d0", path("a.raw"), "raw", "", "discard=unmap"));
  run_ok("blk write 0 8192 5", "blk write lba=0 count=8192 seed=5");
  run_ok("blk discard 2048 2048", "blk discard lba=2048 count=2048");
  run_ok("blk zeroes 6000 100", "blk zeroes lba=6000 count=100");
  CommandOutput r = run("blk verify 5990 120 5");
  EXPECT_EQ(r.status, "ERR verify failed");
  ASSERT_EQ(r.lines.size(), 1u);
  EXPECT_EQ(r.lines[0], "blk verify lba=5990 count=120 seed=5 mismatches=100 first_bad=6000");
  run_ok("blk verify 0 2048 5", "blk verify lba=0 count=2048 seed=5 mismatches=0 first_bad=-");
  run_ok("blk flush", "blk flush");
  poweroff();

  const auto image = read_file(path("a.raw"));
  EXPECT_EQ(host_mismatches(image, 0, 2048, 5), 0u);
  EXPECT_EQ(host_mismatches(image, 2048, 2048, std::nullopt), 0u) << "discarded range reads zero";
  EXPECT_EQ(host_mismatches(image, 4096, 1904, 5), 0u);
  EXPECT_EQ(host_mismatches(image, 6000, 100, std::nullopt), 0u) << "write-zeroes range";
  EXPECT_EQ(host_mismatches(image, 6100, 2092, 5), 0u);
}

TEST_F(ProbeQemuBlkTest, TwoDisksAreNumberedByAscendingSlot) {
  make_sparse(path("first.raw"), 8 * kMiB);
  make_sparse(path("second.raw"), 16 * kMiB);
  std::vector<std::string> extra = disk_args("d0", path("first.raw"), "raw", "first");
  auto more = disk_args("d1", path("second.raw"), "raw", "second");
  extra.insert(extra.end(), more.begin(), more.end());
  boot(extra);
  auto lines = info();
  ASSERT_EQ(lines.size(), 2u);
  // QEMU microvm gives the first -device the highest slot, so it is found last.
  std::smatch m0, m1;
  ASSERT_TRUE(std::regex_match(lines[0], m0, std::regex(kInfoRe))) << lines[0];
  ASSERT_TRUE(std::regex_match(lines[1], m1, std::regex(kInfoRe))) << lines[1];
  EXPECT_EQ(m0.str(1), "0");
  EXPECT_EQ(m0.str(7), "second");
  EXPECT_EQ(std::stoull(m0.str(2)), 16 * kMiB / 512);
  EXPECT_EQ(m1.str(1), "1");
  EXPECT_EQ(m1.str(7), "first");
  EXPECT_EQ(std::stoull(m1.str(2)), 8 * kMiB / 512);

  run_ok("blk write 10 100 1", "blk write lba=10 count=100 seed=1");  // default: disk 0
  run_ok("blk use 1", "blk dev=1");
  run_ok("blk write 10 100 2", "blk write lba=10 count=100 seed=2");
  run_ok("blk verify 10 100 2", "blk verify lba=10 count=100 seed=2 mismatches=0 first_bad=-");
  run_ok("blk use 0", "blk dev=0");
  run_ok("blk verify 10 100 1", "blk verify lba=10 count=100 seed=1 mismatches=0 first_bad=-");
  run_ok("blk flush", "blk flush");
  run_ok("blk use 1", "blk dev=1");
  run_ok("blk flush", "blk flush");
  poweroff();

  EXPECT_EQ(host_mismatches(read_file(path("second.raw")), 10, 100, 1), 0u);
  EXPECT_EQ(host_mismatches(read_file(path("first.raw")), 10, 100, 2), 0u);
}

TEST_F(ProbeQemuBlkTest, ReadOnlyDiskRefusesWrites) {
  make_sparse(path("ro.raw"), 8 * kMiB);
  host_write_pattern(path("ro.raw"), 0, 64, 77);
  const auto before = read_file(path("ro.raw"));
  boot(disk_args("d0", path("ro.raw"), "raw", "ro-disk", "readonly=on"));
  auto lines = info();
  ASSERT_EQ(lines.size(), 1u);
  std::smatch m;
  ASSERT_TRUE(std::regex_match(lines[0], m, std::regex(kInfoRe))) << lines[0];
  EXPECT_EQ(m.str(5), "1");
  EXPECT_TRUE(std::stoull(m.str(4), nullptr, 16) & (1ull << 5)) << "VIRTIO_BLK_F_RO";
  run_ok("blk verify 0 64 77", "blk verify lba=0 count=64 seed=77 mismatches=0 first_bad=-");
  run_err("blk write 16 8 1", "ERR blk status=IOERR lba=16");
  run_ok("blk verify 0 64 77", "blk verify lba=0 count=64 seed=77 mismatches=0 first_bad=-");
  poweroff();
  EXPECT_TRUE(read_file(path("ro.raw")) == before) << "a read-only disk changed on the host";
}

TEST_F(ProbeQemuBlkTest, RequestsPastTheEndFailWithTheDevicesStatus) {
  make_sparse(path("a.raw"), 4 * kMiB);  // 8192 sectors
  boot(disk_args("d0", path("a.raw"), "raw"));
  run_err("blk write 8190 4 1", "ERR blk status=IOERR lba=8190");
  run_err("blk verify 9000 1 1", "ERR blk status=IOERR lba=9000");
  run_ok("blk write 8188 4 1", "blk write lba=8188 count=4 seed=1");
  run_err("blk bench seq read 8", "ERR bench range larger than the disk");
  run_ok("echo still answering", "still answering");
}

TEST_F(ProbeQemuBlkTest, Qcow2ImageFromQemuImg) {
  const std::string img = path("a.qcow2");
  auto [rc, out] = run_host("qemu-img create -f qcow2 " + img + " 64M");
  ASSERT_EQ(rc, 0) << out;
  boot(disk_args("d0", img, "qcow2", "qcow"));
  auto lines = info();
  ASSERT_EQ(lines.size(), 1u);
  std::smatch m;
  ASSERT_TRUE(std::regex_match(lines[0], m, std::regex(kInfoRe))) << lines[0];
  EXPECT_EQ(std::stoull(m.str(3)), 64 * kMiB);
  run_ok("blk write 1000 5000 21", "blk write lba=1000 count=5000 seed=21");
  run_ok("blk zeroes 2000 128", "blk zeroes lba=2000 count=128");
  run_ok("blk write 100000 8 22", "blk write lba=100000 count=8 seed=22");
  run_ok("blk verify 100000 8 22",
         "blk verify lba=100000 count=8 seed=22 mismatches=0 first_bad=-");
  run_ok("blk flush", "blk flush");
  poweroff();

  std::tie(rc, out) = run_host("qemu-img check " + img);
  EXPECT_EQ(rc, 0) << out;
  const std::string raw = path("a.raw");
  std::tie(rc, out) = run_host("qemu-img convert -f qcow2 -O raw " + img + " " + raw);
  ASSERT_EQ(rc, 0) << out;
  const auto image = read_file(raw);
  ASSERT_EQ(image.size(), 64 * kMiB);
  EXPECT_EQ(host_mismatches(image, 1000, 1000, 21), 0u);
  EXPECT_EQ(host_mismatches(image, 2000, 128, std::nullopt), 0u);
  EXPECT_EQ(host_mismatches(image, 2128, 3872, 21), 0u);
  EXPECT_EQ(host_mismatches(image, 100000, 8, 22), 0u);
  EXPECT_EQ(host_mismatches(image, 0, 1000, std::nullopt), 0u);
}

TEST_F(ProbeQemuBlkTest, Qcow2OverlayReadsItsBackingFileAndLeavesItAlone) {
  const std::string base = path("base.raw");
  make_sparse(base, 16 * kMiB);
  host_write_pattern(base, 0, 2048, 31);
  const auto base_before = read_file(base);
  const std::string top = path("top.qcow2");
  auto [rc, out] = run_host("qemu-img create -f qcow2 -F raw -b " + base + " " + top);
  ASSERT_EQ(rc, 0) << out;
  boot(disk_args("d0", top, "qcow2"));
  run_ok("blk verify 0 2048 31", "blk verify lba=0 count=2048 seed=31 mismatches=0 first_bad=-");
  run_ok("blk write 512 64 32", "blk write lba=512 count=64 seed=32");
  run_ok("blk verify 512 64 32", "blk verify lba=512 count=64 seed=32 mismatches=0 first_bad=-");
  run_ok("blk verify 0 512 31", "blk verify lba=0 count=512 seed=31 mismatches=0 first_bad=-");
  run_ok("blk flush", "blk flush");
  poweroff();
  EXPECT_TRUE(read_file(base) == base_before) << "the backing file changed";
  std::tie(rc, out) = run_host("qemu-img check " + top);
  EXPECT_EQ(rc, 0) << out;
}

// queue-size=4: one request of header + data + status at a time (seg_max 2), the driver's
// depths shrink to fit; a 16 MiB guest: the data buffers shrink to what the heap has.
TEST_F(ProbeQemuBlkTest, SmallRingAndSmallGuestStillMoveLargeTransfers) {
  make_sparse(path("a.raw"), 32 * kMiB);
  std::vector<std::string> extra = {
      "-drive",  "file=" + path("a.raw") + ",if=none,id=d0,format=raw",
      "-device", "virtio-blk-device,drive=d0,queue-size=4",
      "-m",      "16M"};
  boot(extra);
  auto lines = info();
  ASSERT_EQ(lines.size(), 1u);
  std::smatch m;
  ASSERT_TRUE(std::regex_match(lines[0], m, std::regex(kInfoRe))) << lines[0];
  EXPECT_EQ(m.str(6), "2");
  run_ok("blk bench rand write 2",
         R"(blk bench pattern=rand op=write mib=2 ms=\d+ mib_per_s=[\d.]+ iops=\d+)");
  run_ok("blk write 3 20000 4", "blk write lba=3 count=20000 seed=4");
  run_ok("blk verify 3 20000 4", "blk verify lba=3 count=20000 seed=4 mismatches=0 first_bad=-");
  run_ok("mem", R"(mem ram_bytes=(\d+) regions=\d+)");
  EXPECT_LT(std::stoull(last_groups_.at(1)), 17 * kMiB) << "QEMU did not take -m 16M";
  run_ok("blk flush", "blk flush");
  poweroff();
  EXPECT_EQ(host_mismatches(read_file(path("a.raw")), 3, 20000, 4), 0u);
}

TEST_F(ProbeQemuBlkTest, BenchPrintsThroughputAndIops) {
  make_sparse(path("a.raw"), 64 * kMiB);
  boot(disk_args("d0", path("a.raw"), "raw", "", "cache=none,aio=native"));
  const std::string re =
      R"(blk bench pattern=(seq|rand) op=(read|write) mib=(\d+) ms=(\d+) mib_per_s=(\d+)\.(\d) iops=(\d+))";
  for (const char* cmd : {"blk bench seq write 32", "blk bench seq read 32",
                          "blk bench rand write 4", "blk bench rand read 4"}) {
    SCOPED_TRACE(cmd);
    auto g = run_ok(cmd, re);
    ASSERT_EQ(g.size(), 8u);
    const double mibps = std::stod(g[5] + "." + g[6]);
    const uint64_t iops = std::stoull(g[7]);
    EXPECT_GT(mibps, 0.0);
    EXPECT_GT(iops, 0u);
    // Consistency: seq requests are 1 MiB, rand 4 KiB.
    const double per_request = g[1] == "seq" ? 1.0 : 1.0 / 256;
    EXPECT_NEAR(static_cast<double>(iops) * per_request, mibps, mibps * 0.05 + 1);
  }
  // The write benchmark wrote the disk: the data path still works afterwards.
  run_ok("blk write 0 16 3", "blk write lba=0 count=16 seed=3");
  run_ok("blk verify 0 16 3", "blk verify lba=0 count=16 seed=3 mismatches=0 first_bad=-");
}

}  // namespace
}  // namespace flotilla::test
