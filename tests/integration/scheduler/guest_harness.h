// Probe guests on flotilla-vmm under the scheduler: boot, place in a per-test cgroup root,
// burn, and read CPU time from the cgroups (never wall clock alone: this host is shared).
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <regex>
#include <string>
#include <thread>
#include <vector>

#include "scheduler/accounting.h"
#include "scheduler/enforcer.h"
#include "scheduler/threads.h"
#include "tests/integration/vmm/vmm_harness.h"

namespace flotilla::scheduler::test {

using namespace std::chrono_literals;
using flotilla::test::ConsoleClock;
using flotilla::test::GuestConsole;

struct Guest {
  std::string id;
  std::unique_ptr<GuestConsole> console;
  pid_t pid() const { return console->pid(); }
};

// The tid of a guest's vcpu0 thread, or 0.
inline pid_t vcpu_tid(pid_t pid, uint32_t index = 0) {
  auto threads = list_threads(pid);
  if (!threads) return 0;
  for (const auto& t : *threads) {
    if (vcpu_index(t.comm) == index) return t.tid;
  }
  return 0;
}

inline uint64_t thread_cpu_ns(pid_t pid, pid_t tid) {
  auto stats = read_thread_stats(pid);
  if (!stats) return 0;
  for (const auto& s : *stats) {
    if (s.tid == tid) return s.cpu_ns;
  }
  return 0;
}

class GuestFixture : public ::testing::Test {
 protected:
  void SetUp() override {
    CgroupConfig c;
    c.root_name = "flotilla-it-" + std::to_string(::getpid());
    // The VMs' group outweighs the other engineers' builds on this shared host, so the shares
    // measured are the scheduler's, not the neighbours' (v1: the maximum 262144 shares).
    c.root_weight = kMaxRootWeight;
    auto e = Enforcer::create(c);
    ASSERT_TRUE(e) << e.error().message;
    enforcer_ = std::move(*e);
    // This process polls and reads consoles like the daemon: a group of its own under the root,
    // or the guests (at the root's weight) starve it.
    auto d = enforcer_->place_daemon(::getpid(), {});
    ASSERT_TRUE(d) << d.error().message;
  }
  void TearDown() override {
    std::vector<std::string> ids;
    for (auto& g : guests_) ids.push_back(g.id);
    guests_.clear();  // SIGKILL + reap every monitor
    for (const auto& id : ids) EXPECT_TRUE(enforcer_->remove(id)) << id;
    EXPECT_TRUE(enforcer_->release_daemon());
    EXPECT_TRUE(enforcer_->cgroups().remove_root());
  }

  // Boots n 1-vCPU probe guests (in parallel) and waits for their shells.
  void boot(size_t n) {
    const size_t first = guests_.size();
    for (size_t i = 0; i < n; ++i) {
      auto c = vmm::test::start_vmm({"--vcpus", "1"});  // 64 MiB
      ASSERT_TRUE(c);
      guests_.push_back({"g" + std::to_string(first + i), std::move(c)});
    }
    for (size_t i = first; i < guests_.size(); ++i) {
      ASSERT_TRUE(vmm::test::wait_ready(*guests_[i].console, 30s))
          << guests_[i].console->output() << guests_[i].console->stderr_output();
      ASSERT_TRUE(guests_[i].console->run_command("echo up", 10s));
      ASSERT_NE(vcpu_tid(guests_[i].pid()), 0);
    }
  }

  void place(Guest& g, storage::CpuPolicy cpu, CpuList cpus = {}) {
    VmPlacement p;
    p.id = g.id;
    p.pid = g.pid();
    p.cpu = cpu;
    p.cpus = std::move(cpus);
    auto r = enforcer_->apply(p);
    ASSERT_TRUE(r) << r.error().message;
  }

  static storage::CpuPolicy timeshare(uint32_t weight, uint32_t cap = 0) {
    storage::CpuPolicy p;
    p.weight = weight;
    p.cap_percent = cap;
    return p;
  }

  uint64_t cpu_ns(const Guest& g) {
    auto u = enforcer_->cgroups().usage(g.id);
    EXPECT_TRUE(u) << u.error().message;
    return u ? u->cpu_ns : 0;
  }

  // Sends `burn <seconds>` and returns once the guest's vCPU has visibly started burning.
  void start_burn(Guest& g, int seconds) {
    const pid_t tid = vcpu_tid(g.pid());
    const uint64_t before = thread_cpu_ns(g.pid(), tid);
    g.console->skip_pending();
    ASSERT_TRUE(g.console->send_line("burn " + std::to_string(seconds)));
    const auto deadline = ConsoleClock::now() + 10s;
    while (thread_cpu_ns(g.pid(), tid) < before + 20'000'000) {
      ASSERT_LT(ConsoleClock::now(), deadline) << "guest " << g.id << " does not burn";
      std::this_thread::sleep_for(10ms);
    }
  }

  // Waits for the burn result; returns iterations.
  uint64_t burn_result(Guest& g, ConsoleClock::duration timeout) {
    static const std::regex re("burn seconds=(\\d+) iterations=(\\d+)\\r?\\n");  // whole line
    auto m = g.console->wait_for(re, timeout);
    EXPECT_TRUE(m) << "no burn result from " << g.id << ": " << g.console->output();
    if (!m) return 0;
    EXPECT_TRUE(g.console->wait_for(std::regex("OK\\r?\\n"), 5s));
    return std::stoull(m->str(2));
  }

  std::unique_ptr<Enforcer> enforcer_;
  std::vector<Guest> guests_;
};

}  // namespace flotilla::scheduler::test
