// virtio-blk under flotilla-vmm with the probe guest's driver (team/STORAGE.md `blk` commands):
// two disks per guest, the bytes the guest writes checked in the host files with the shared
// pattern (tests/support/blk_pattern.h) and host-written bytes verified by the guest;
// read-only disks refuse writes; data written and flushed survives SIGKILL of the monitor;
// a full host file system is an I/O error for the guest, counted in `stats`, never a crash;
// a bad disk is refused before the VM exists.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/wait.h>

#include <cerrno>
#include <fstream>
#include <regex>

#include "tests/integration/vmm/vmm_harness.h"
#include "tests/support/blk_pattern.h"

namespace flotilla::vmm::test {
namespace {

namespace fs = std::filesystem;
using flotilla::test::CommandOutput;

constexpr auto kCmd = 60s;
constexpr uint64_t kMiB = 1ull << 20;
const char kInfoRe[] =
    R"(blk dev=(\d+) sectors=(\d+) size_bytes=(\d+) features=0x([0-9a-f]+) ro=([01]) seg_max=(\d+) id=(\S+))";

void make_sparse(const std::string& path, uint64_t bytes) {
  std::ofstream(path, std::ios::binary).close();
  fs::resize_file(path, bytes);
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

std::vector<uint8_t> read_all(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return std::vector<uint8_t>(std::istreambuf_iterator<char>(f), {});
}

void host_write_pattern(const std::string& path, uint64_t lba, uint64_t count, uint64_t seed) {
  std::fstream f(path, std::ios::binary | std::ios::in | std::ios::out);
  f.seekp(static_cast<std::streamoff>(lba * 512));
  uint8_t sector[512];
  for (uint64_t s = 0; s < count; ++s) {
    blk_pattern_sector(seed, lba + s, sector);
    f.write(reinterpret_cast<const char*>(sector), sizeof sector);
  }
}

// Sectors of [lba, lba+count) differing from the pattern (or zeroes when seed is nullopt).
uint64_t mismatches(const std::string& path, uint64_t lba, uint64_t count,
                    std::optional<uint64_t> seed) {
  const auto image = read_all(path);
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

// The child's stderr once it contains `needle` (the reader thread may lag its exit), or what
// arrived by the deadline.
std::string stderr_with(GuestConsole& c, const std::string& needle) {
  const auto deadline = ConsoleClock::now() + 5s;
  while (c.stderr_output().find(needle) == std::string::npos && ConsoleClock::now() < deadline) {
    std::this_thread::sleep_for(10ms);
  }
  return c.stderr_output();
}

class VmmBlkTest : public ::testing::Test {
 protected:
  void TearDown() override { console_.reset(); }

  void boot(std::vector<std::string> extra) {
    ASSERT_EQ(::access(kProbe.c_str(), R_OK), 0) << "probe image missing: " << kProbe;
    control_ = dir_.file("control.sock");
    extra.insert(extra.end(), {"--control-socket", control_});
    console_ = start_vmm(extra);
    ASSERT_NE(console_, nullptr);
    ASSERT_TRUE(wait_ready(*console_)) << console_->output() << console_->stderr_output();
    ASSERT_TRUE(console_->wait_for(std::regex("probe> "), kCmd));
  }
  CommandOutput run(const std::string& cmd) {
    auto r = console_->run_command(cmd, kCmd);
    EXPECT_TRUE(r) << "no status line for '" << cmd << "'; output:\n" << console_->output();
    return r ? *r : CommandOutput{{}, "(timeout)"};
  }
  std::string run_ok(const std::string& cmd) {
    CommandOutput r = run(cmd);
    EXPECT_TRUE(r.ok()) << cmd << " -> " << r.status << "\n" << console_->stderr_output();
    EXPECT_EQ(r.lines.size(), 1u) << cmd;
    return r.lines.empty() ? "" : r.lines[0];
  }
  nlohmann::json stats() {
    auto client = ControlClient::connect(control_);
    EXPECT_TRUE(client) << "control socket " << control_;
    if (!client) return {};
    auto reply = client->request({{"cmd", "stats"}});
    EXPECT_TRUE(reply && (*reply)["ok"] == true);
    return reply ? (*reply)["stats"] : nlohmann::json();
  }
  void poweroff() {
    ASSERT_TRUE(console_->send_line("poweroff"));
    auto st = console_->wait_exit(20s);
    ASSERT_TRUE(st) << "monitor still running after poweroff";
    EXPECT_TRUE(st->exited);
    EXPECT_EQ(st->code, 0) << console_->stderr_output();
    console_.reset();
  }

  TempDir dir_;
  std::string control_;
  std::unique_ptr<GuestConsole> console_;
};

TEST_F(VmmBlkTest, TwoDisksReadWriteFlushDiscardZeroesCheckedOnTheHost) {
  const std::string d0 = dir_.file("d0.raw"), d1 = dir_.file("d1.raw");
  make_sparse(d0, 64 * kMiB);
  make_sparse(d1, 8 * kMiB);
  host_write_pattern(d1, 1000, 64, 99);  // for the guest to verify
  boot({"--disk", d0 + ",serial=disk-zero", "--disk", d1 + ",serial=disk-one"});

  CommandOutput info = run("blk info");
  ASSERT_TRUE(info.ok()) << info.status;
  ASSERT_EQ(info.lines.size(), 2u);
  std::smatch m;
  ASSERT_TRUE(std::regex_match(info.lines[0], m, std::regex(kInfoRe))) << info.lines[0];
  EXPECT_EQ(m[2], std::to_string(64 * kMiB / 512));
  EXPECT_EQ(m[5], "0");
  EXPECT_EQ(m[6], "254");
  EXPECT_EQ(m[7], "disk-zero");
  ASSERT_TRUE(std::regex_match(info.lines[1], m, std::regex(kInfoRe))) << info.lines[1];
  EXPECT_EQ(m[2], std::to_string(8 * kMiB / 512));
  EXPECT_EQ(m[7], "disk-one");

  // 3 MiB + 1 sector from an odd LBA (several 1 MiB requests, unaligned tail), and the last
  // sectors of the disk.
  const uint64_t last = 64 * kMiB / 512;
  EXPECT_EQ(run_ok("blk write 7 6145 11"), "blk write lba=7 count=6145 seed=11");
  EXPECT_EQ(run_ok("blk write " + std::to_string(last - 8) + " 8 12"),
            "blk write lba=" + std::to_string(last - 8) + " count=8 seed=12");
  EXPECT_EQ(run_ok("blk verify 7 6145 11"),
            "blk verify lba=7 count=6145 seed=11 mismatches=0 first_bad=-");
  EXPECT_EQ(run_ok("blk flush"), "blk flush");
  EXPECT_EQ(mismatches(d0, 7, 6145, 11), 0u);
  EXPECT_EQ(mismatches(d0, last - 8, 8, 12), 0u);
  EXPECT_EQ(mismatches(d0, 0, 7, std::nullopt), 0u);  // nothing before the write

  // Past the end: the device refuses, the guest sees IOERR.
  EXPECT_EQ(run("blk write " + std::to_string(last - 4) + " 8 1").status,
            "ERR blk status=IOERR lba=" + std::to_string(last - 4));

  // Disk 1: verify the host's bytes, write its own, zero and discard ranges.
  EXPECT_EQ(run_ok("blk use 1"), "blk dev=1");
  EXPECT_EQ(run_ok("blk verify 1000 64 99"),
            "blk verify lba=1000 count=64 seed=99 mismatches=0 first_bad=-");
  EXPECT_EQ(run("blk verify 1000 64 98").status, "ERR verify failed");
  EXPECT_EQ(run_ok("blk write 0 2048 5"), "blk write lba=0 count=2048 seed=5");
  EXPECT_EQ(run_ok("blk zeroes 100 50"), "blk zeroes lba=100 count=50");
  EXPECT_EQ(run_ok("blk discard 512 512"), "blk discard lba=512 count=512");
  EXPECT_EQ(run_ok("blk flush"), "blk flush");
  EXPECT_EQ(mismatches(d1, 0, 100, 5), 0u);
  EXPECT_EQ(mismatches(d1, 100, 50, std::nullopt), 0u);
  EXPECT_EQ(mismatches(d1, 150, 362, 5), 0u);
  // A discarded range reads as zeroes or as the old bytes, never as anything else.
  const uint64_t discarded_zero = 512 - mismatches(d1, 512, 512, std::nullopt);
  const uint64_t discarded_old = 512 - mismatches(d1, 512, 512, 5);
  EXPECT_EQ(discarded_zero + discarded_old, 512u);
  EXPECT_EQ(mismatches(d1, 1024, 1024, 5), 0u);
  EXPECT_EQ(run_ok("blk verify 0 100 5"),
            "blk verify lba=0 count=100 seed=5 mismatches=0 first_bad=-");

  const nlohmann::json s = stats();
  ASSERT_TRUE(s.contains("disks")) << s.dump();
  ASSERT_EQ(s["disks"].size(), 2u);
  const auto& s0 = s["disks"][0];
  EXPECT_EQ(s0["serial"], "disk-zero");
  EXPECT_EQ(s0["path"], d0);
  EXPECT_GE(s0["write_ops"].get<uint64_t>(), 4u);
  EXPECT_EQ(s0["write_bytes"].get<uint64_t>(), (6145u + 8u) * 512);
  EXPECT_GE(s0["read_bytes"].get<uint64_t>(), 6145u * 512);
  EXPECT_GE(s0["flush_ops"].get<uint64_t>(), 1u);
  EXPECT_EQ(s0["errors"].get<uint64_t>(), 1u);  // the write past the end
  EXPECT_EQ(s0["no_space_errors"].get<uint64_t>(), 0u);
  const auto& s1 = s["disks"][1];
  EXPECT_GE(s1["discard_ops"].get<uint64_t>(), 1u);
  EXPECT_GE(s1["write_zeroes_ops"].get<uint64_t>(), 1u);
  EXPECT_EQ(s1["errors"].get<uint64_t>(), 0u);
  for (const char* key : {"read_ops", "write_ops", "flush_ops", "discard_ops", "write_zeroes_ops",
                          "read_bytes", "write_bytes", "errors", "no_space_errors", "last_error"}) {
    EXPECT_TRUE(s1.contains(key)) << key;
  }
  poweroff();
}

// `direct`: O_DIRECT through io_uring, the guest's buffers registered with the ring (fixed
// buffers, vmm/devices/virtio/blk/fixed_buffers.h); aligned and unaligned requests alike.
TEST_F(VmmBlkTest, DirectDiskGivesTheSameBytesToGuestAndHost) {
  const std::string d = dir_.file("direct.raw");
  make_sparse(d, 32 * kMiB);
  host_write_pattern(d, 40000, 2048, 31);
  boot({"--disk", d + ",direct,serial=direct"});
  EXPECT_EQ(run_ok("blk verify 40000 2048 31"),
            "blk verify lba=40000 count=2048 seed=31 mismatches=0 first_bad=-");
  EXPECT_EQ(run_ok("blk write 8 16384 32"), "blk write lba=8 count=16384 seed=32");
  EXPECT_EQ(run_ok("blk write 20001 777 33"), "blk write lba=20001 count=777 seed=33");
  EXPECT_EQ(run_ok("blk flush"), "blk flush");
  EXPECT_EQ(mismatches(d, 8, 16384, 32), 0u);
  EXPECT_EQ(mismatches(d, 20001, 777, 33), 0u);
  EXPECT_EQ(mismatches(d, 0, 8, std::nullopt), 0u);
  EXPECT_EQ(run_ok("blk verify 8 16384 32"),
            "blk verify lba=8 count=16384 seed=32 mismatches=0 first_bad=-");
  EXPECT_EQ(run_ok("blk verify 20001 777 33"),
            "blk verify lba=20001 count=777 seed=33 mismatches=0 first_bad=-");
  EXPECT_EQ(stats()["disks"][0]["errors"].get<uint64_t>(), 0u);
  poweroff();
}

TEST_F(VmmBlkTest, ReadOnlyDiskRefusesWritesFromTheConfigFile) {
  const std::string rw = dir_.file("rw.raw"), ro = dir_.file("ro.raw");
  make_sparse(rw, 4 * kMiB);
  make_sparse(ro, 4 * kMiB);
  host_write_pattern(ro, 0, 256, 42);
  const auto before = read_all(ro);
  const std::string json = dir_.file("vm.json");
  std::ofstream(json) << nlohmann::json{{"kernel", kProbe},
                                        {"disks",
                                         {{{"path", rw}, {"serial", "rw"}},
                                          {{"path", ro}, {"read_only", true}, {"serial", "ro"}}}}}
                             .dump();
  boot({"--config", json});
  CommandOutput info = run("blk info");
  ASSERT_EQ(info.lines.size(), 2u);
  std::smatch m;
  ASSERT_TRUE(std::regex_match(info.lines[1], m, std::regex(kInfoRe))) << info.lines[1];
  EXPECT_EQ(m[5], "1");
  EXPECT_EQ(m[7], "ro");
  EXPECT_EQ(run_ok("blk use 1"), "blk dev=1");
  EXPECT_EQ(run_ok("blk verify 0 256 42"),
            "blk verify lba=0 count=256 seed=42 mismatches=0 first_bad=-");
  EXPECT_EQ(run("blk write 0 8 1").status, "ERR blk status=IOERR lba=0");
  const CommandOutput z = run("blk zeroes 0 8");
  EXPECT_TRUE(z.status == "ERR blk status=UNSUPP lba=0" || z.status == "ERR blk status=IOERR lba=0")
      << z.status;
  EXPECT_EQ(run_ok("blk flush"), "blk flush");
  EXPECT_EQ(read_all(ro), before);
  EXPECT_EQ(run_ok("blk use 0"), "blk dev=0");
  EXPECT_EQ(run_ok("blk write 0 8 1"), "blk write lba=0 count=8 seed=1");
  poweroff();
  EXPECT_EQ(mismatches(rw, 0, 8, 1), 0u);
}

TEST_F(VmmBlkTest, FlushedWritesSurviveSigkillOfTheMonitor) {
  const std::string d = dir_.file("durable.raw");
  make_sparse(d, 32 * kMiB);
  boot({"--disk", d});
  EXPECT_EQ(run_ok("blk write 100 4096 77"), "blk write lba=100 count=4096 seed=77");
  EXPECT_EQ(run_ok("blk write 20000 300 78"), "blk write lba=20000 count=300 seed=78");
  EXPECT_EQ(run_ok("blk flush"), "blk flush");
  // The guest reported the flush: kill the monitor with no chance to clean up.
  ASSERT_EQ(::kill(console_->pid(), SIGKILL), 0);
  auto st = console_->wait_exit(10s);
  ASSERT_TRUE(st);
  EXPECT_EQ(st->signal, SIGKILL);
  console_.reset();
  EXPECT_EQ(mismatches(d, 100, 4096, 77), 0u);
  EXPECT_EQ(mismatches(d, 20000, 300, 78), 0u);
  // A fresh guest reads the same.
  boot({"--disk", d});
  EXPECT_EQ(run_ok("blk verify 100 4096 77"),
            "blk verify lba=100 count=4096 seed=77 mismatches=0 first_bad=-");
  EXPECT_EQ(run_ok("blk verify 20000 300 78"),
            "blk verify lba=20000 count=300 seed=78 mismatches=0 first_bad=-");
  poweroff();
}

TEST_F(VmmBlkTest, FullHostFileSystemIsAnIoErrorAndTheGuestCarriesOn) {
  const std::string mnt = dir_.file("small-fs");
  fs::create_directories(mnt);
  ASSERT_EQ(::mount("tmpfs", mnt.c_str(), "tmpfs", MS_NOSUID | MS_NODEV, "size=2m"), 0)
      << "mounting a 2 MiB tmpfs needs root: " << std::strerror(errno);
  struct Unmount {
    std::string path;
    ~Unmount() { ::umount2(path.c_str(), MNT_DETACH); }
  } unmount{mnt};
  const std::string d = mnt + "/full.raw";
  make_sparse(d, 16 * kMiB);  // sparse: 16 MiB of disk on a 2 MiB file system
  boot({"--disk", d + ",serial=full"});
  EXPECT_EQ(run_ok("blk write 0 1024 3"), "blk write lba=0 count=1024 seed=3");  // 512 KiB fits
  const CommandOutput full = run("blk write 4096 8192 4");                       // 4 MiB does not
  EXPECT_EQ(full.status.rfind("ERR blk status=IOERR lba=", 0), 0u) << full.status;
  EXPECT_EQ(run_ok("echo still here"), "still here");
  EXPECT_EQ(run_ok("blk verify 0 1024 3"),
            "blk verify lba=0 count=1024 seed=3 mismatches=0 first_bad=-");
  const nlohmann::json s = stats();
  ASSERT_EQ(s["disks"].size(), 1u);
  EXPECT_GE(s["disks"][0]["no_space_errors"].get<uint64_t>(), 1u);
  EXPECT_GE(s["disks"][0]["errors"].get<uint64_t>(), 1u);
  EXPECT_NE(s["disks"][0]["last_error"].get<std::string>().find("No space left"),
            std::string::npos);
  // The monitor logged it once, whatever the number of failed requests.
  poweroff();
}

TEST_F(VmmBlkTest, Qcow2OverlayOnABackingFileCheckedByQemuImg) {
  // Base: the host's pattern, converted to qcow2 by qemu-img; overlay: ours to write into.
  const std::string raw = dir_.file("base.raw"), base = dir_.file("base.qcow2"),
                    overlay = dir_.file("overlay.qcow2"), out = dir_.file("out.raw");
  make_sparse(raw, 32 * kMiB);
  host_write_pattern(raw, 0, 4096, 21);
  auto [rc1, o1] = run_host("qemu-img convert -f raw -O qcow2 " + raw + " " + base);
  ASSERT_EQ(rc1, 0) << "qemu-img (qemu-utils) is needed: " << o1;
  auto [rc2, o2] = run_host("qemu-img create -q -f qcow2 -b " + base + " -F qcow2 " + overlay);
  ASSERT_EQ(rc2, 0) << o2;
  const auto base_before = read_all(base);
  boot({"--disk", overlay + ",format=qcow2,serial=overlay"});
  EXPECT_EQ(run_ok("blk verify 0 4096 21"),
            "blk verify lba=0 count=4096 seed=21 mismatches=0 first_bad=-");  // from the base
  EXPECT_EQ(run_ok("blk write 1000 3000 22"), "blk write lba=1000 count=3000 seed=22");
  EXPECT_EQ(run_ok("blk write 60000 100 23"), "blk write lba=60000 count=100 seed=23");
  EXPECT_EQ(run_ok("blk zeroes 200 100"), "blk zeroes lba=200 count=100");
  EXPECT_EQ(run_ok("blk flush"), "blk flush");
  EXPECT_EQ(run_ok("blk verify 1000 3000 22"),
            "blk verify lba=1000 count=3000 seed=22 mismatches=0 first_bad=-");
  poweroff();
  auto [rc3, o3] = run_host("qemu-img check " + overlay);
  EXPECT_EQ(rc3, 0) << o3;
  auto [rc4, o4] = run_host("qemu-img convert -O raw " + overlay + " " + out);
  ASSERT_EQ(rc4, 0) << o4;
  EXPECT_EQ(mismatches(out, 0, 200, 21), 0u);
  EXPECT_EQ(mismatches(out, 200, 100, std::nullopt), 0u);
  EXPECT_EQ(mismatches(out, 300, 700, 21), 0u);
  EXPECT_EQ(mismatches(out, 1000, 3000, 22), 0u);
  EXPECT_EQ(mismatches(out, 4000, 96, 21), 0u);
  EXPECT_EQ(mismatches(out, 60000, 100, 23), 0u);
  EXPECT_EQ(read_all(base), base_before);  // the backing file is never written
}

TEST_F(VmmBlkTest, Qcow2StaysCleanWhenTheMonitorIsKilledMidWrite) {
  const std::string img = dir_.file("busy.qcow2");
  auto [rc, o] = run_host("qemu-img create -q -f qcow2 " + img + " 256M");
  ASSERT_EQ(rc, 0) << "qemu-img (qemu-utils) is needed: " << o;
  boot({"--disk", img + ",format=qcow2"});
  EXPECT_EQ(run_ok("blk write 0 2048 31"), "blk write lba=0 count=2048 seed=31");
  EXPECT_EQ(run_ok("blk flush"), "blk flush");
  // 128 MiB of writes that allocate clusters; kill the monitor once they are under way.
  ASSERT_TRUE(console_->send_line("blk write 4096 262144 32"));
  auto client = ControlClient::connect(control_);
  ASSERT_TRUE(client);
  bool busy = false;
  const auto deadline = ConsoleClock::now() + 20s;
  while (!busy && ConsoleClock::now() < deadline) {
    auto reply = client->request({{"cmd", "stats"}});
    ASSERT_TRUE(reply && (*reply)["ok"] == true);
    busy = (*reply)["stats"]["disks"][0]["write_ops"].get<uint64_t>() >= 8;
  }
  ASSERT_TRUE(busy) << "the guest's writes never started";
  ASSERT_EQ(::kill(console_->pid(), SIGKILL), 0);
  ASSERT_TRUE(console_->wait_exit(10s));
  console_.reset();
  auto [rc2, o2] = run_host("qemu-img check " + img);
  EXPECT_EQ(rc2, 0) << o2;  // leaked clusters would be exit 3, corruption 2
  // What was flushed before is intact.
  const std::string out = dir_.file("busy.raw");
  auto [rc3, o3] = run_host("qemu-img convert -O raw " + img + " " + out);
  ASSERT_EQ(rc3, 0) << o3;
  EXPECT_EQ(mismatches(out, 0, 2048, 31), 0u);
}

TEST_F(VmmBlkTest, DisksComeBackAfterARebootWithFreshCounters) {
  const std::string d = dir_.file("reboot.raw");
  make_sparse(d, 16 * kMiB);
  boot({"--disk", d + ",serial=keep"});
  EXPECT_EQ(run_ok("blk write 50 500 61"), "blk write lba=50 count=500 seed=61");
  // Reboot with requests just completed; the new boot reopens the image.
  auto client = ControlClient::connect(control_);
  ASSERT_TRUE(client);
  auto r = client->request({{"cmd", "reboot"}});
  ASSERT_TRUE(r && (*r)["ok"] == true);
  ASSERT_TRUE(wait_ready(*console_)) << console_->output();
  ASSERT_TRUE(console_->wait_for(std::regex("probe> "), kCmd));
  const nlohmann::json fresh = stats();
  ASSERT_EQ(fresh["disks"].size(), 1u);
  EXPECT_EQ(fresh["disks"][0]["write_ops"], 0);  // counters are per boot
  EXPECT_EQ(run_ok("blk verify 50 500 61"),
            "blk verify lba=50 count=500 seed=61 mismatches=0 first_bad=-");
  CommandOutput info = run("blk info");
  ASSERT_EQ(info.lines.size(), 1u);
  EXPECT_NE(info.lines[0].find("id=keep"), std::string::npos) << info.lines[0];
  poweroff();
}

TEST_F(VmmBlkTest, BadDiskIsRefusedBeforeTheVmExists) {
  const std::string gone = dir_.file("missing.raw");
  const std::string exit_file = dir_.file("exit.json");
  auto c =
      GuestConsole::spawn({kVmm, "--kernel", kProbe, "--disk", gone, "--exit-file", exit_file});
  ASSERT_TRUE(c) << c.error().message;
  auto st = (*c)->wait_exit(10s);
  ASSERT_TRUE(st);
  EXPECT_TRUE(st->exited);
  EXPECT_EQ(st->code, 2);
  const std::string err = stderr_with(**c, "disk 0 (" + gone + "): ");
  EXPECT_NE(err.find("disk 0 (" + gone + "): "), std::string::npos) << err;
  EXPECT_EQ((*c)->output().find("flotilla-probe"), std::string::npos);  // no guest ran
  const auto record = nlohmann::json::parse(read_all(exit_file), nullptr, false);
  EXPECT_EQ(record["reason"], "invalid_definition") << record.dump();
  // An option the flag does not know is refused the same way.
  const std::string ok = dir_.file("ok.raw");
  make_sparse(ok, kMiB);
  auto c2 = GuestConsole::spawn({kVmm, "--kernel", kProbe, "--disk", ok + ",turbo"});
  ASSERT_TRUE(c2);
  auto st2 = (*c2)->wait_exit(10s);
  ASSERT_TRUE(st2);
  EXPECT_EQ(st2->code, 2);
  EXPECT_NE(stderr_with(**c2, "turbo").find("turbo"), std::string::npos);
}

}  // namespace
}  // namespace flotilla::vmm::test
