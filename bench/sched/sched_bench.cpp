// bench/sched: probe guests on flotilla-vmm under the scheduler (cgroups of this host).
//   (a) EEVDF slice (the scheduling period's quantum) vs fairness error, switches and throughput
//   (b) the probe's `burn` loop vs the same loop compiled for the host (iterations per CPU second)
//   (c) fairness error vs number of guests (4, 8, 16; weights 1:1:2:4 repeated)
// Fairness error: |CPU time got − owed| / owed, owed by water-filling (scheduler/fairness.h) the
// CPU time the guests got together; "max" is the worst guest, "win" the median over 100 ms
// windows of the worst guest in the window (short-term fairness, what the slice trades off).
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <memory>
#include <numeric>
#include <regex>
#include <string>
#include <thread>
#include <vector>

#include "scheduler/accounting.h"
#include "scheduler/enforcer.h"
#include "scheduler/fairness.h"
#include "scheduler/threads.h"
#include "tests/support/guest_console.h"

extern "C" uint64_t host_burn(uint64_t tsc_ticks);

namespace {

using namespace std::chrono_literals;
using namespace flotilla::scheduler;
using flotilla::test::GuestConsole;
using Clock = std::chrono::steady_clock;

struct Guest {
  std::string id;
  std::unique_ptr<GuestConsole> console;
  pid_t vcpu = 0;
  double weight = 1;
};

double median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v.size() % 2 ? v[v.size() / 2] : (v[v.size() / 2 - 1] + v[v.size() / 2]) / 2;
}

double thread_cpu_s() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}

uint64_t rdtsc() {
  uint32_t lo, hi;
  __asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
  return (static_cast<uint64_t>(hi) << 32) | lo;
}

class Bench {
 public:
  bool init() {
    CgroupConfig c;
    c.root_name = "flotilla-bench-" + std::to_string(::getpid());
    c.root_weight = kMaxRootWeight;
    auto e = Enforcer::create(c);
    if (!e) {
      std::fprintf(stderr, "cgroups: %s\n", e.error().message.c_str());
      return false;
    }
    enforcer_ = std::move(*e);
    // This process samples every 100 ms: it gets a group of its own under the root like the
    // daemon would, or the guests (at the root's weight) starve it and the windows smear.
    if (auto r = enforcer_->place_daemon(::getpid(), {}); !r) {
      std::fprintf(stderr, "daemon group: %s\n", r.error().message.c_str());
      return false;
    }
    return true;
  }
  ~Bench() {
    stop_all();
    if (enforcer_) {
      (void)enforcer_->release_daemon();
      (void)enforcer_->cgroups().remove_root();
    }
  }

  void stop_all() {
    std::vector<std::string> ids;
    for (auto& g : guests_) ids.push_back(g.id);
    guests_.clear();
    for (const auto& id : ids) (void)enforcer_->remove(id);
  }

  bool boot(size_t n) {
    stop_all();
    for (size_t i = 0; i < n; ++i) {
      auto c = GuestConsole::spawn({FLOTILLA_VMM_PATH, "--kernel", FLOTILLA_PROBE_PATH,
                                    "--memory-mib", "32", "--vcpus", "1"});
      if (!c) return false;
      guests_.push_back({"b" + std::to_string(i), std::move(*c), 0, 1});
    }
    static const double kWeights[] = {1, 1, 2, 4};
    for (size_t i = 0; i < n; ++i) {
      Guest& g = guests_[i];
      if (!g.console->wait_for(std::regex("flotilla-probe ready"), 60s)) return false;
      if (!g.console->run_command("echo up", 20s)) return false;
      auto threads = list_threads(g.console->pid());
      for (const auto& t : threads ? *threads : std::vector<ThreadInfo>{}) {
        if (vcpu_index(t.comm) == 0u) g.vcpu = t.tid;
      }
      g.weight = kWeights[i % 4];
      VmPlacement p;
      p.id = g.id;
      p.pid = g.console->pid();
      p.cpu.weight = static_cast<uint32_t>(100 * g.weight);
      if (auto r = enforcer_->apply(p); !r) {
        std::fprintf(stderr, "apply: %s\n", r.error().message.c_str());
        return false;
      }
    }
    return true;
  }

  struct Run {
    double max_err = 0;     // whole run
    double mean_err = 0;    // whole run, mean over guests
    double window_err = 0;  // median over 100 ms windows of the worst guest
    double switches_per_s = 0;
    double iters_per_cpu_s = 0;  // guest throughput per CPU second (switching costs show here)
    double cores = 0;            // CPU the guests got together
  };

  // All guests burn `seconds`; measured over the middle of the burn.
  Run burn_all(int seconds) {
    Run run;
    const size_t n = guests_.size();
    std::vector<uint64_t> start_cpu(n);
    for (size_t i = 0; i < n; ++i) start_cpu[i] = cpu_ns(guests_[i]);
    for (auto& g : guests_) {
      g.console->skip_pending();
      g.console->send_line("burn " + std::to_string(seconds));
    }
    std::this_thread::sleep_for(700ms);
    std::vector<std::vector<uint64_t>> series;  // per 100 ms: cpu per guest
    std::vector<uint64_t> slices0 = timeslices();
    const auto t0 = Clock::now();
    const auto end = t0 + std::chrono::milliseconds(seconds * 1000 - 1400);
    while (Clock::now() < end) {
      std::vector<uint64_t> s;
      for (auto& g : guests_) s.push_back(cpu_ns(g));
      series.push_back(std::move(s));
      std::this_thread::sleep_until(t0 + std::chrono::milliseconds(100 * series.size()));
    }
    const double window = std::chrono::duration<double>(Clock::now() - t0).count();
    std::vector<uint64_t> slices1 = timeslices();
    std::vector<uint64_t> last;
    for (auto& g : guests_) last.push_back(cpu_ns(g));
    series.push_back(last);
    uint64_t iters = 0;
    static const std::regex re("burn seconds=\\d+ iterations=(\\d+)\\r?\\n");
    for (auto& g : guests_) {
      auto m = g.console->wait_for(re, std::chrono::seconds(seconds + 30));
      if (m) iters += std::stoull(m->str(1));
      g.console->wait_for(std::regex("OK\\r?\\n"), 5s);
    }
    uint64_t total_cpu = 0;
    for (size_t i = 0; i < n; ++i) total_cpu += cpu_ns(guests_[i]) - start_cpu[i];

    std::vector<double> w, max1;
    for (auto& g : guests_) {
      w.push_back(g.weight);
      max1.push_back(1.0);
    }
    auto errors = [&](const std::vector<uint64_t>& a, const std::vector<uint64_t>& b, double secs,
                      double* mean) {
      std::vector<double> got;
      for (size_t i = 0; i < n; ++i) got.push_back(static_cast<double>(b[i] - a[i]) / (secs * 1e9));
      const double total = std::accumulate(got.begin(), got.end(), 0.0);
      if (total <= 0) return -1.0;  // no sample in this window
      std::vector<double> maxc;
      for (size_t i = 0; i < n; ++i) maxc.push_back(secs > 0 ? 1.0 : 0);
      auto owed = fair_shares(w, maxc, total);
      if (mean) {
        double sum = 0;
        for (size_t i = 0; i < n; ++i) sum += std::fabs(got[i] - owed[i]) / owed[i];
        *mean = sum / static_cast<double>(n);
      }
      return max_relative_error(got, owed);
    };
    run.max_err = errors(series.front(), series.back(), window, &run.mean_err);
    std::vector<double> per_window;
    for (size_t k = 1; k + 1 < series.size(); ++k) {
      const double e = errors(series[k - 1], series[k], 0.1, nullptr);
      if (e >= 0) per_window.push_back(e);
    }
    run.window_err = median(per_window);
    uint64_t sw = 0;
    for (size_t i = 0; i < n; ++i) sw += slices1[i] - slices0[i];
    run.switches_per_s = static_cast<double>(sw) / window;
    run.iters_per_cpu_s = static_cast<double>(iters) / (static_cast<double>(total_cpu) / 1e9);
    double cores = 0;
    for (size_t i = 0; i < n; ++i)
      cores += static_cast<double>(series.back()[i] - series.front()[i]);
    run.cores = cores / (window * 1e9);
    return run;
  }

  // Time-sharing by caps instead of weights: each guest capped at what it is owed (25, 25, 50,
  // 100 % of a core for 1:1:2:4 on 2 cores), all at the same CFS bandwidth period.
  void set_caps(uint64_t period_us) {
    for (auto& g : guests_) {
      VmPlacement p;
      p.id = g.id;
      p.pid = g.console->pid();
      p.cpu.weight = 100;
      p.cpu.cap_percent = static_cast<uint32_t>(25 * g.weight);
      p.period_us = period_us;
      if (auto r = enforcer_->apply(p); !r)
        std::fprintf(stderr, "caps: %s\n", r.error().message.c_str());
    }
  }

  void set_slice(uint64_t ns) {
    for (auto& g : guests_) {
      if (auto r = set_thread_slice(g.vcpu, ns); !r) {
        std::fprintf(stderr, "slice: %s\n", r.error().message.c_str());
      }
    }
  }

  // (b): one guest alone, iterations per vCPU CPU-second; median of `runs`.
  double guest_rate(int seconds, int runs) {
    std::vector<double> rates;
    Guest& g = guests_[0];
    static const std::regex re("burn seconds=\\d+ iterations=(\\d+)\\r?\\n");
    for (int r = 0; r < runs; ++r) {
      const uint64_t c0 = vcpu_cpu(g);
      g.console->skip_pending();
      g.console->send_line("burn " + std::to_string(seconds));
      auto m = g.console->wait_for(re, std::chrono::seconds(seconds + 30));
      g.console->wait_for(std::regex("OK\\r?\\n"), 5s);
      const uint64_t c1 = vcpu_cpu(g);
      if (m) rates.push_back(std::stod(m->str(1)) / (static_cast<double>(c1 - c0) / 1e9));
    }
    return median(rates);
  }

  size_t size() const { return guests_.size(); }

 private:
  uint64_t cpu_ns(const Guest& g) {
    auto u = enforcer_->cgroups().usage(g.id);
    return u ? u->cpu_ns : 0;
  }
  uint64_t vcpu_cpu(const Guest& g) {
    auto st = read_thread_stats(g.console->pid());
    for (const auto& t : st ? *st : std::vector<ThreadStat>{}) {
      if (t.tid == g.vcpu) return t.cpu_ns;
    }
    return 0;
  }
  std::vector<uint64_t> timeslices() {
    std::vector<uint64_t> out;
    for (auto& g : guests_) {
      uint64_t n = 0;
      auto st = read_thread_stats(g.console->pid());
      for (const auto& t : st ? *st : std::vector<ThreadStat>{}) n += t.timeslices;
      out.push_back(n);
    }
    return out;
  }

  std::unique_ptr<Enforcer> enforcer_;
  std::vector<Guest> guests_;
};

double host_rate(int seconds, int runs) {
  // TSC ticks per second, against CLOCK_MONOTONIC over 200 ms.
  const auto w0 = Clock::now();
  const uint64_t t0 = rdtsc();
  std::this_thread::sleep_for(200ms);
  const double hz =
      static_cast<double>(rdtsc() - t0) / std::chrono::duration<double>(Clock::now() - w0).count();
  std::vector<double> rates;
  for (int r = 0; r < runs; ++r) {
    const double c0 = thread_cpu_s();
    const uint64_t it = host_burn(static_cast<uint64_t>(hz * seconds));
    rates.push_back(static_cast<double>(it) / (thread_cpu_s() - c0));
  }
  return median(rates);
}

}  // namespace

int main(int argc, char** argv) {
  const bool quick = argc > 1 && std::strcmp(argv[1], "--quick") == 0;
  const int secs = quick ? 4 : 7;
  double load[3] = {0, 0, 0};
  getloadavg(load, 3);
  std::printf("# bench/sched  load average %.2f %.2f %.2f  cores %ld\n", load[0], load[1], load[2],
              sysconf(_SC_NPROCESSORS_ONLN));
  Bench b;
  if (!b.init()) return 1;

  // (b) first, on a quiet machine state.
  if (!b.boot(1)) return 1;
  const double guest = b.guest_rate(quick ? 2 : 4, 3);
  const double host = host_rate(quick ? 2 : 4, 3);
  std::printf("\n(b) burn loop, iterations per CPU second (median of 3)\n");
  std::printf("%-28s %14s\n", "probe guest on flotilla-vmm", "host (same C)");
  std::printf("%22.0f Mit/s %8.0f Mit/s   ratio %.3f (goal >= 0.97)\n", guest / 1e6, host / 1e6,
              guest / host);

  // (a) slice vs fairness and throughput: 4 guests, weights 1:1:2:4, 2 cores.
  if (!b.boot(4)) return 1;
  std::printf("\n(a) EEVDF slice per vCPU thread vs fairness, 4 guests 1:1:2:4, %d s burns\n",
              secs);
  std::printf("%10s %10s %10s %10s %12s %14s %8s\n", "slice", "max err", "mean err", "100ms err",
              "switches/s", "Mit/CPU-s", "cores");
  for (uint64_t us : {100, 750, 3000, 10000, 30000, 100000}) {
    b.set_slice(us * 1000);
    auto r = b.burn_all(secs);
    std::printf("%8.2fms %9.1f%% %9.1f%% %9.1f%% %12.0f %14.0f %8.2f\n", us / 1000.0,
                r.max_err * 100, r.mean_err * 100, r.window_err * 100, r.switches_per_s,
                r.iters_per_cpu_s / 1e6, r.cores);
  }
  b.set_slice(0);

  // (a2) the same guests time-shared by caps at a CFS bandwidth period.
  std::printf("\n(a2) CFS bandwidth period, guests capped at their shares (25/25/50/100 %%)\n");
  std::printf("%10s %10s %10s %10s %12s %14s %8s\n", "period", "max err", "mean err", "100ms err",
              "switches/s", "Mit/CPU-s", "cores");
  // The kernel's smallest quota is 1 ms, so 4 ms is the shortest period that can express 25 %.
  for (uint64_t us : {4000, 10000, 20000, 100000}) {
    b.set_caps(us);
    auto r = b.burn_all(secs);
    std::printf("%8.0fms %9.1f%% %9.1f%% %9.1f%% %12.0f %14.0f %8.2f\n", us / 1000.0,
                r.max_err * 100, r.mean_err * 100, r.window_err * 100, r.switches_per_s,
                r.iters_per_cpu_s / 1e6, r.cores);
  }

  // (c) fairness vs number of guests.
  std::printf("\n(c) fairness vs number of guests (weights 1:1:2:4 repeated, default slice)\n");
  std::printf("%8s %10s %10s %10s %12s %14s %8s\n", "guests", "max err", "mean err", "100ms err",
              "switches/s", "Mit/CPU-s", "cores");
  for (size_t n : {4, 8, 16}) {
    if (!b.boot(n)) return 1;
    auto r = b.burn_all(secs + 2);
    std::printf("%8zu %9.1f%% %9.1f%% %9.1f%% %12.0f %14.0f %8.2f\n", n, r.max_err * 100,
                r.mean_err * 100, r.window_err * 100, r.switches_per_s, r.iters_per_cpu_s / 1e6,
                r.cores);
  }
  getloadavg(load, 3);
  std::printf("\n# end load average %.2f %.2f %.2f\n", load[0], load[1], load[2]);
  return 0;
}
