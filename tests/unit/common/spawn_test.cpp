// spawn_detached (common/spawn.h), which starts each network's dnsmasq: what the child gets —
// its output files, no environment, no inherited descriptors, its own session, signals reset.
#include "common/spawn.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

namespace flotilla {
namespace {

namespace fs = std::filesystem;

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

int wait_exit(pid_t pid) {
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

// The hex mask after "<field>:\t" in a /proc/<pid>/status dump; all ones when missing.
unsigned long long signal_mask(const std::string& status, const std::string& field) {
  const auto at = status.find(field + ":\t");
  if (at == std::string::npos) return ~0ull;
  return std::stoull(status.substr(at + field.size() + 2, 16), nullptr, 16);
}

class SpawnTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string templ = (fs::temp_directory_path() / "flotilla-spawn-XXXXXX").string();
    ASSERT_NE(::mkdtemp(templ.data()), nullptr) << std::strerror(errno);
    dir_ = templ;
  }
  void TearDown() override {
    if (!dir_.empty()) fs::remove_all(dir_);
  }
  std::string dir_;
};

TEST_F(SpawnTest, OutputGoesToTheFilesTruncatedOrAppended) {
  const std::string out = dir_ + "/out", err = dir_ + "/err";
  {
    std::ofstream(out) << "old out\n";
    std::ofstream(err) << "old err\n";
  }
  SpawnOptions options;
  options.out = {out, true};
  options.err = {err, false};
  auto pid = spawn_detached({"/bin/sh", "-c", "echo new out; echo new err >&2; exit 3"}, options);
  ASSERT_TRUE(pid.ok()) << pid.error().message;
  EXPECT_EQ(wait_exit(*pid), 3);
  EXPECT_EQ(read_file(out), "old out\nnew out\n");
  EXPECT_EQ(read_file(err), "new err\n");
  const mode_t mask = ::umask(0);
  ::umask(mask);
  const std::string fresh = dir_ + "/fresh";
  pid = spawn_detached({"/bin/true"}, SpawnOptions{{fresh, false}, {}});
  ASSERT_TRUE(pid.ok()) << pid.error().message;
  EXPECT_EQ(wait_exit(*pid), 0);
  EXPECT_EQ(static_cast<mode_t>(fs::status(fresh).permissions() & fs::perms::all), 0640 & ~mask)
      << "a file the child's output creates is 0640 less the umask";
}

TEST_F(SpawnTest, TheChildInheritsNoEnvironmentDescriptorsSessionOrSignalState) {
  ::setenv("FLOTILLA_SPAWN_TEST", "leak", 1);
  // A descriptor without O_CLOEXEC, which exec alone would pass on; high, so none of the shell's
  // own descriptors takes its number.
  const int leak = 100;
  const int opened = ::open("/dev/null", O_RDONLY);
  ASSERT_GE(opened, 0);
  ASSERT_EQ(::dup2(opened, leak), leak);
  ::close(opened);
  sigset_t blocked, old;
  sigemptyset(&blocked);
  sigaddset(&blocked, SIGUSR1);
  ASSERT_EQ(::pthread_sigmask(SIG_BLOCK, &blocked, &old), 0);
  struct sigaction ignore {};
  struct sigaction old_action {};
  ignore.sa_handler = SIG_IGN;
  ASSERT_EQ(::sigaction(SIGUSR2, &ignore, &old_action), 0);

  SpawnOptions options;
  options.out.path = dir_ + "/report";
  auto pid = spawn_detached({"/bin/sh", "-c",
                             "env; if [ -e /proc/$$/fd/100 ]; then echo fd 100 inherited; fi; "
                             "echo sid $(cut -d' ' -f6 /proc/$$/stat) pid $$; "
                             "exec grep -E '^(SigBlk|SigIgn)' /proc/self/status"},
                            options);
  ::sigaction(SIGUSR2, &old_action, nullptr);
  ::pthread_sigmask(SIG_SETMASK, &old, nullptr);
  ::close(leak);
  ::unsetenv("FLOTILLA_SPAWN_TEST");
  ASSERT_TRUE(pid.ok()) << pid.error().message;
  EXPECT_EQ(wait_exit(*pid), 0);
  const std::string report = read_file(dir_ + "/report");
  EXPECT_EQ(report.find("FLOTILLA_SPAWN_TEST"), std::string::npos) << report;
  EXPECT_EQ(report.find("fd 100 inherited"), std::string::npos) << report;
  EXPECT_NE(report.find("sid " + std::to_string(*pid) + " pid " + std::to_string(*pid)),
            std::string::npos)
      << "the child leads its own session: " << report;
  EXPECT_EQ(signal_mask(report, "SigBlk"), 0u) << report;
  // Only SIGUSR2 is checked: glibc keeps its internal signals (32, 33) out of sigfillset.
  EXPECT_EQ(signal_mask(report, "SigIgn") & (1ull << (SIGUSR2 - 1)), 0u) << report;
}

TEST_F(SpawnTest, AMissingProgramIsAnErrorValue) {
  auto pid = spawn_detached({dir_ + "/no-such-program"});
  ASSERT_FALSE(pid.ok()) << "glibc reports a failed exec through posix_spawn's return";
  EXPECT_EQ(pid.error().code, ENOENT);
  EXPECT_EQ(pid.error().message, std::strerror(ENOENT));
  auto none = spawn_detached({});
  ASSERT_FALSE(none.ok());
  EXPECT_EQ(none.error().code, EINVAL);
}

}  // namespace
}  // namespace flotilla
