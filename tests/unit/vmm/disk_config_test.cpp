// Monitor config: `disks` in vm.json and --disk flags (team/STORAGE.md), and validate_config
// opening every disk before any VM exists ("disk N (PATH): reason").
#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "tests/unit/vmm/elf_builder.h"
#include "vmm/memory/layout.h"
#include "vmm/monitor/config.h"

// Tests name only the DiskConfig fields they set (designated initialisers).
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"

namespace flotilla::vmm {
namespace {

namespace fs = std::filesystem;

class DiskConfigTest : public testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("vmm-disk-config-" + std::to_string(::getpid()));
    fs::create_directories(dir_);
    const auto elf = test::build_elf64(test::ElfSpec{});
    kernel_ = (dir_ / "pvh.elf").string();
    std::ofstream(kernel_, std::ios::binary)
        .write(reinterpret_cast<const char*>(elf.data()), static_cast<std::streamsize>(elf.size()));
    disk_ = make_disk("a.raw", 1 << 20);
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::string make_disk(const std::string& name, uint64_t bytes) {
    const std::string p = (dir_ / name).string();
    const int fd = ::open(p.c_str(), O_CREAT | O_TRUNC | O_RDWR | O_CLOEXEC, 0600);
    EXPECT_GE(fd, 0);
    EXPECT_EQ(::ftruncate(fd, static_cast<off_t>(bytes)), 0);
    ::close(fd);
    return p;
  }
  std::string write_text(const std::string& name, const std::string& text) {
    const std::string p = (dir_ / name).string();
    std::ofstream(p) << text;
    return p;
  }
  VmConfig good() const {
    VmConfig c;
    c.kernel = kernel_;
    c.memory_mib = 64;
    return c;
  }
  std::string refusal(const VmConfig& c) const {
    auto r = validate_config(c, host_);
    if (r.ok()) return "";
    EXPECT_EQ(r.error().message.find('\n'), std::string::npos) << "one line";
    return r.error().message;
  }

  fs::path dir_;
  std::string kernel_, disk_;
  HostLimits host_{8 * layout::kGiB, 1024, 2};
};

TEST_F(DiskConfigTest, JsonDisksWithEveryKey) {
  VmConfig c;
  auto r = apply_config_json(R"({"disks":[
      {"path":"/a","format":"raw","read_only":true,"serial":"root","direct":true},
      {"path":"/b","format":"qcow2"},
      {"path":"/dev/pool","extents":[{"host_offset":1048576,"length":10485760},
                                     {"host_offset":0,"length":512}]}]})",
                             c);
  ASSERT_TRUE(r.ok()) << r.error().message;
  ASSERT_EQ(c.disks.size(), 3u);
  EXPECT_EQ(c.disks[0].path, "/a");
  EXPECT_TRUE(c.disks[0].read_only);
  EXPECT_TRUE(c.disks[0].direct);
  EXPECT_EQ(c.disks[0].serial, "root");
  EXPECT_EQ(c.disks[1].format, storage::ImageFormat::kQcow2);
  EXPECT_FALSE(c.disks[1].read_only);
  ASSERT_EQ(c.disks[2].extents.size(), 2u);
  EXPECT_EQ(c.disks[2].extents[0].host_offset, 1048576u);
  EXPECT_EQ(c.disks[2].extents[0].length, 10485760u);
  const auto opts = open_options(c.disks[0]);
  EXPECT_EQ(opts.path, "/a");
  EXPECT_TRUE(opts.read_only);
  EXPECT_TRUE(opts.direct);
}

TEST_F(DiskConfigTest, JsonDiskErrorsNameTheField) {
  struct Case {
    const char* json;
    const char* says;
  };
  for (const Case& k :
       {Case{R"({"disks":{}})", "disks must be an array"},
        Case{R"({"disks":["/a"]})", "disks[0] must be an object"},
        Case{R"({"disks":[{"read_only":true}]})", "disks[0].path is required"},
        Case{R"({"disks":[{"path":"/a","fromat":"raw"}]})", "disks[0].fromat"},
        Case{R"({"disks":[{"path":"/a","format":"vmdk"}]})", "disks[0].format"},
        Case{R"({"disks":[{"path":"/a","read_only":"yes"}]})", "disks[0].read_only"},
        Case{R"({"disks":[{"path":"/a"},{"path":7}]})", "disks[1].path"},
        Case{R"({"disks":[{"path":"/a","extents":[{"host_offset":-1,"length":1}]}]})",
             "disks[0].extents[0].host_offset"},
        Case{R"({"disks":[{"path":"/a","extents":[{"offset":0}]}]})",
             "disks[0].extents[0].offset"}}) {
    VmConfig c;
    auto r = apply_config_json(k.json, c);
    ASSERT_FALSE(r.ok()) << k.json;
    EXPECT_NE(r.error().message.find(k.says), std::string::npos)
        << k.json << " → " << r.error().message;
  }
}

TEST_F(DiskConfigTest, DiskFlagsAndTheirOptions) {
  auto d = parse_disk_flag("/x/y.img,format=qcow2,ro,serial=data-1,direct");
  ASSERT_TRUE(d.ok()) << d.error().message;
  EXPECT_EQ(d->path, "/x/y.img");
  EXPECT_EQ(d->format, storage::ImageFormat::kQcow2);
  EXPECT_TRUE(d->read_only);
  EXPECT_TRUE(d->direct);
  EXPECT_EQ(d->serial, "data-1");
  auto plain = parse_disk_flag("/p");
  ASSERT_TRUE(plain.ok());
  EXPECT_EQ(plain->format, storage::ImageFormat::kRaw);
  EXPECT_FALSE(plain->read_only);
  EXPECT_FALSE(parse_disk_flag("").ok());
  EXPECT_FALSE(parse_disk_flag(",ro").ok());
  EXPECT_NE(parse_disk_flag("/p,fast").error().message.find("fast"), std::string::npos);
  EXPECT_FALSE(parse_disk_flag("/p,format=vmdk").ok());

  // Repeatable, in order; the flags' list replaces the file's.
  const std::string json = write_text("vm.json", R"({"kernel":"k","disks":[{"path":"/file"}]})");
  const char* argv[] = {"flotilla-vmm", "--config", json.c_str(),    "--disk",
                        "/one,ro",      "--disk",   "/two,serial=s2"};
  auto r = parse_command_line(7, argv);
  ASSERT_TRUE(r.ok()) << r.error().message;
  ASSERT_TRUE(r->has_value());
  ASSERT_EQ((*r)->disks.size(), 2u);
  EXPECT_EQ((*r)->disks[0].path, "/one");
  EXPECT_TRUE((*r)->disks[0].read_only);
  EXPECT_EQ((*r)->disks[1].serial, "s2");
  const char* only_file[] = {"flotilla-vmm", "--config", json.c_str()};
  auto f = parse_command_line(3, only_file);
  ASSERT_TRUE(f.ok() && f->has_value());
  ASSERT_EQ((*f)->disks.size(), 1u);
  EXPECT_EQ((*f)->disks[0].path, "/file");
  const char* bad[] = {"flotilla-vmm", "--disk", "/p,bogus"};
  EXPECT_FALSE(parse_command_line(3, bad).ok());
}

TEST_F(DiskConfigTest, ValidationOpensEveryDisk) {
  VmConfig c = good();
  c.disks.push_back(DiskConfig{.path = disk_});
  c.disks.push_back(DiskConfig{.path = disk_, .read_only = true, .serial = "ro"});
  auto ok = validate_config(c, host_);
  ASSERT_TRUE(ok.ok()) << ok.error().message;

  VmConfig missing = good();
  missing.disks.push_back(DiskConfig{.path = disk_});
  const std::string gone = (dir_ / "gone.raw").string();
  missing.disks.push_back(DiskConfig{.path = gone});
  const std::string m = refusal(missing);
  EXPECT_EQ(m.rfind("disk 1 (" + gone + "): ", 0), 0u) << m;
  EXPECT_NE(m.find("No such file"), std::string::npos) << m;

  VmConfig dir = good();
  dir.disks.push_back(DiskConfig{.path = dir_.string()});
  EXPECT_EQ(refusal(dir).rfind("disk 0 (" + dir_.string() + "): ", 0), 0u) << refusal(dir);

  VmConfig tiny = good();
  tiny.disks.push_back(DiskConfig{.path = make_disk("tiny.raw", 100)});
  EXPECT_NE(refusal(tiny).find("smaller than one sector"), std::string::npos);

  VmConfig serial = good();
  serial.disks.push_back(DiskConfig{.path = disk_, .serial = std::string(21, 's')});
  EXPECT_NE(refusal(serial).find("serial"), std::string::npos);

  VmConfig extents = good();
  extents.disks.push_back(DiskConfig{.path = disk_, .extents = {{1 << 20, 4096}}});
  EXPECT_NE(refusal(extents).find("disk 0"), std::string::npos);  // outside the file

  VmConfig many = good();
  for (int i = 0; i < 17; ++i) many.disks.push_back(DiskConfig{.path = disk_});
  EXPECT_NE(refusal(many).find("at most 16 disks"), std::string::npos);

  // A read-only open of a file without write permission works; read-write does not.
  const std::string locked = make_disk("locked.raw", 4096);
  ASSERT_EQ(::chmod(locked.c_str(), 0400), 0);
  if (::geteuid() != 0) {  // root ignores file modes
    VmConfig rw = good();
    rw.disks.push_back(DiskConfig{.path = locked});
    EXPECT_NE(refusal(rw).find("Permission denied"), std::string::npos);
  }
  VmConfig ro = good();
  ro.disks.push_back(DiskConfig{.path = locked, .read_only = true});
  EXPECT_EQ(refusal(ro), "");
}

}  // namespace
}  // namespace flotilla::vmm
