// The cgroup backends and thread placement on this machine's kernel, with plain host processes
// (no guests): v1 (cpu, cpuacct, cpuset hierarchies) for everything; the cgroup2 mount beside it
// for what it offers without controllers (create, attach, usage, adopt, remove, and a clear
// error for a weight it cannot apply).
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <iostream>
#include <thread>

#include "scheduler/accounting.h"
#include "scheduler/cgroup.h"
#include "scheduler/enforcer.h"
#include "scheduler/internal/fs.h"
#include "scheduler/threads.h"

namespace flotilla::scheduler {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

// A child that spins on two threads ("spin0", "spin1") until killed.
class Spinner {
 public:
  Spinner() {
    pid_ = ::fork();
    if (pid_ == 0) {
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);
      std::thread t([] {
        ::prctl(PR_SET_NAME, "spin1");
        for (uint64_t i = 0;; ++i) __asm__ volatile("" : "+r"(i));
      });
      ::prctl(PR_SET_NAME, "spin0");
      for (uint64_t i = 0;; ++i) __asm__ volatile("" : "+r"(i));
    }
  }
  ~Spinner() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
  }
  pid_t pid() const { return pid_; }
  // Until both threads exist.
  bool wait_threads(Clock::duration timeout) const {
    const auto deadline = Clock::now() + timeout;
    while (Clock::now() < deadline) {
      auto t = list_threads(pid_);
      if (t && t->size() == 2 && (*t)[1].comm.rfind("spin", 0) == 0) return true;
      std::this_thread::sleep_for(10ms);
    }
    return false;
  }

 private:
  pid_t pid_ = -1;
};

std::string root_name() {
  return "flotilla-it-cg-" + std::to_string(::getpid());
}

std::unique_ptr<Cgroups> open(CgroupVersion v) {
  CgroupConfig c;
  c.root_name = root_name();
  c.version = v;
  auto cg = Cgroups::open(c);
  EXPECT_TRUE(cg) << cg.error().message;
  return cg ? std::move(*cg) : nullptr;
}

TEST(CgroupReal, DetectsWhatThisMachineOffers) {
  auto text = internal::read_text("/proc/self/mountinfo");
  ASSERT_TRUE(text);
  const CgroupMounts m = parse_mountinfo(*text);
  const CgroupVersion want =
      choose_version(m, m.v2.empty() ? std::vector<std::string>{} : v2_controllers(m.v2));
  ASSERT_NE(want, CgroupVersion::none) << "no cgroup hierarchy with the cpu controller";
  CgroupConfig c;
  c.root_name = root_name();
  auto cg = Cgroups::open(c);
  ASSERT_TRUE(cg) << cg.error().message;
  // The CI host: v1 hierarchies with a controller-less cgroup2 mount beside them → v1.
  EXPECT_EQ((*cg)->version(), want);
  std::cout << "cgroup version here: " << to_string((*cg)->version()) << "\n";
  ASSERT_TRUE((*cg)->remove_root());
}

TEST(CgroupReal, V1CapAndCpusetOnARealProcess) {
  auto cg = open(CgroupVersion::v1);
  ASSERT_TRUE(cg);
  Spinner spin;
  ASSERT_TRUE(spin.wait_threads(5s));
  CgroupSettings s;
  s.weight = 300;
  s.cap_percent = 30;  // both threads together: 30 % of one core
  s.cpus = {0};
  ASSERT_TRUE(cg->configure("spin", s));
  ASSERT_TRUE(cg->attach("spin", spin.pid()));
  auto procs = cg->procs("spin");
  ASSERT_TRUE(procs);
  EXPECT_EQ(*procs, std::vector<pid_t>{spin.pid()});
  // Every thread moved (cgroup.procs moves the thread group) and got the cpuset's affinity.
  auto threads = list_threads(spin.pid());
  ASSERT_TRUE(threads);
  ASSERT_EQ(threads->size(), 2u);
  for (const auto& t : *threads) {
    auto a = thread_affinity(t.tid);
    ASSERT_TRUE(a);
    EXPECT_EQ(*a, (CpuList{0})) << t.comm;
    auto cgf = internal::read_text("/proc/" + std::to_string(t.tid) + "/cgroup");
    ASSERT_TRUE(cgf);
    EXPECT_NE(cgf->find(":cpu:/" + root_name() + "/vm-spin"), std::string::npos) << *cgf;
    EXPECT_NE(cgf->find(":cpuset:/" + root_name() + "/vm-spin"), std::string::npos) << *cgf;
  }
  // The cap holds: 30 % ± 5 pp over 2 s, read from cpuacct.
  auto u0 = cg->usage("spin");
  ASSERT_TRUE(u0) << u0.error().message;
  const auto t0 = Clock::now();
  std::this_thread::sleep_for(2s);
  auto u1 = cg->usage("spin");
  ASSERT_TRUE(u1);
  const double secs = std::chrono::duration<double>(Clock::now() - t0).count();
  const double pct = static_cast<double>(u1->cpu_ns - u0->cpu_ns) / (secs * 1e9) * 100;
  EXPECT_NEAR(pct, 30.0, 5.0);
  EXPECT_GT(u1->nr_throttled, 0u);
  // Adoption reads back what was set.
  auto read = cg->read_settings("spin");
  ASSERT_TRUE(read);
  EXPECT_EQ(read->weight, 300u);
  EXPECT_EQ(read->cap_percent, 30u);
  EXPECT_EQ(read->cpus, (CpuList{0}));
  auto ids = cg->list_vms();
  ASSERT_TRUE(ids);
  EXPECT_EQ(*ids, std::vector<std::string>{"spin"});
  // Removing a cgroup with a live process moves it to the top first.
  ASSERT_TRUE(cg->remove("spin"));
  EXPECT_FALSE(internal::exists("/sys/fs/cgroup/cpu/" + root_name() + "/vm-spin"));
  auto cgf = internal::read_text("/proc/" + std::to_string(spin.pid()) + "/cgroup");
  ASSERT_TRUE(cgf);
  EXPECT_NE(cgf->find(":cpu:/\n"), std::string::npos) << *cgf;
  ASSERT_TRUE(cg->remove_root());
  EXPECT_FALSE(internal::exists("/sys/fs/cgroup/cpu/" + root_name()));
}

TEST(CgroupReal, V2UnifiedMountWithoutControllers) {
  auto cg = open(CgroupVersion::v2);
  ASSERT_TRUE(cg);
  Spinner spin;
  ASSERT_TRUE(spin.wait_threads(5s));
  ASSERT_TRUE(cg->configure("u", CgroupSettings{}));  // defaults need no controller
  ASSERT_TRUE(cg->attach("u", spin.pid()));
  auto procs = cg->procs("u");
  ASSERT_TRUE(procs);
  EXPECT_EQ(*procs, std::vector<pid_t>{spin.pid()});
  auto threads = internal::read_text(cg->vm_path("u") + "/cgroup.threads");
  ASSERT_TRUE(threads);
  EXPECT_EQ(std::count(threads->begin(), threads->end(), '\n'), 2) << "both threads moved";
  // cpu.stat's usage exists on every cgroup2 group.
  auto u0 = cg->usage("u");
  ASSERT_TRUE(u0) << u0.error().message;
  std::this_thread::sleep_for(300ms);
  auto u1 = cg->usage("u");
  ASSERT_TRUE(u1);
  EXPECT_GT(u1->cpu_ns, u0->cpu_ns + 100'000'000) << "two spinning threads for 0.3 s";
  // A weight needs the cpu controller, which v1 holds on this machine: a clear error.
  CgroupSettings w;
  w.weight = 500;
  auto r = cg->configure("u", w);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, SchedErrc::no_cgroups);
  EXPECT_NE(r.error().message.find("controller 'cpu'"), std::string::npos) << r.error().message;
  ASSERT_TRUE(cg->remove("u"));
  ASSERT_TRUE(cg->remove_root());
}

TEST(CgroupReal, AffinityPinsVcpuNamedThreadsAndTheDaemonItself) {
  // place_threads on a process whose threads are named like a monitor's.
  pid_t child = ::fork();
  if (child == 0) {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    std::thread v0([] {
      ::prctl(PR_SET_NAME, "vcpu0");
      ::pause();
    });
    std::thread v1([] {
      ::prctl(PR_SET_NAME, "vcpu1");
      ::pause();
    });
    ::prctl(PR_SET_NAME, "devices");
    ::pause();
  }
  struct Reap {
    pid_t p;
    ~Reap() {
      ::kill(p, SIGKILL);
      ::waitpid(p, nullptr, 0);
    }
  } reap{child};
  const auto deadline = Clock::now() + 5s;
  std::vector<ThreadInfo> threads;
  while (Clock::now() < deadline) {
    auto t = list_threads(child);
    ASSERT_TRUE(t);
    int named = 0;
    for (const auto& x : *t) named += vcpu_index(x.comm).has_value();
    if (named == 2) {
      threads = *t;
      break;
    }
    std::this_thread::sleep_for(10ms);
  }
  ASSERT_EQ(threads.size(), 3u);
  ASSERT_TRUE(place_threads(child, {0, 1}, true));
  for (const auto& t : threads) {
    auto a = thread_affinity(t.tid);
    ASSERT_TRUE(a);
    const CpuList want = t.comm == "vcpu0"   ? CpuList{0}
                         : t.comm == "vcpu1" ? CpuList{1}
                                             : CpuList{0, 1};
    EXPECT_EQ(*a, want) << t.comm;
  }
  ASSERT_TRUE(place_threads(child, {1}, false));
  for (const auto& t : threads) EXPECT_EQ(*thread_affinity(t.tid), (CpuList{1})) << t.comm;

  // The daemon keeps off dedicated cores: every thread of this process.
  std::thread helper([] { std::this_thread::sleep_for(200ms); });
  ASSERT_TRUE(set_process_affinity(0, {0}));
  auto mine = list_threads(::getpid());
  ASSERT_TRUE(mine);
  for (const auto& t : *mine) EXPECT_EQ(*thread_affinity(t.tid), (CpuList{0})) << t.comm;
  helper.join();
  ASSERT_TRUE(set_process_affinity(0, {0, 1}));

  EXPECT_FALSE(set_thread_affinity(child, {63}));  // no such CPU: an error value
}

TEST(CgroupReal, SliceKnob) {
  // EEVDF custom slice on this kernel (bench/sched (a)).
  std::thread t([] { std::this_thread::sleep_for(50ms); });
  auto r = set_thread_slice(::gettid(), 3'000'000);
  EXPECT_TRUE(r) << r.error().message;
  std::ifstream sched("/proc/self/task/" + std::to_string(::gettid()) + "/sched");
  std::string all((std::istreambuf_iterator<char>(sched)), std::istreambuf_iterator<char>());
  EXPECT_NE(all.find("se.slice"), std::string::npos);
  EXPECT_TRUE(set_thread_slice(::gettid(), 0));
  t.join();
}

}  // namespace
}  // namespace flotilla::scheduler
