#include "scheduler/accounting.h"

#include <time.h>

#include <algorithm>
#include <nlohmann/json.hpp>
#include <sstream>

#include "scheduler/internal/fs.h"
#include "scheduler/threads.h"

namespace flotilla::scheduler {

namespace {

int64_t monotonic_ns() {
  timespec ts{};
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

uint64_t delta(uint64_t before, uint64_t after) {
  return after >= before ? after - before : after;
}

double per_sec(uint64_t d, double s) {
  return s > 0 ? static_cast<double>(d) / s : 0;
}

}  // namespace

std::optional<ThreadStat> parse_schedstat(std::string_view text) {
  std::istringstream in{std::string(text)};
  ThreadStat t;
  if (!(in >> t.cpu_ns >> t.wait_ns >> t.timeslices)) return std::nullopt;
  return t;
}

Result<std::vector<ThreadStat>, SchedError> read_thread_stats(pid_t pid) {
  auto threads = list_threads(pid);
  if (!threads) return fail(threads.error());
  std::vector<ThreadStat> out;
  const std::string task = "/proc/" + std::to_string(pid) + "/task/";
  for (const auto& t : *threads) {
    auto text =
        internal::read_text(task + std::to_string(t.tid) + "/schedstat", SchedErrc::proc_io);
    if (!text) continue;  // exited meanwhile
    auto s = parse_schedstat(*text);
    if (!s) continue;
    s->tid = t.tid;
    s->comm = t.comm;
    out.push_back(std::move(*s));
  }
  return out;
}

ExitCounters exit_counters_from_stats(const nlohmann::json& stats) {
  ExitCounters c;
  if (!stats.is_object()) return c;
  if (auto it = stats.find("exits"); it != stats.end() && it->is_object()) {
    for (const auto& [reason, n] : it->items()) {
      if (n.is_number_unsigned() || n.is_number_integer()) c.by_reason[reason] = n.get<uint64_t>();
    }
  }
  if (auto it = stats.find("vcpu_exits"); it != stats.end() && it->is_array()) {
    for (const auto& n : *it) c.per_vcpu.push_back(n.is_number() ? n.get<uint64_t>() : 0);
  }
  if (auto it = stats.find("exits_total"); it != stats.end() && it->is_number()) {
    c.total = it->get<uint64_t>();
  }
  if (auto it = stats.find("reboots"); it != stats.end() && it->is_number()) {
    c.reboots = it->get<uint64_t>();
  }
  return c;
}

Result<VmSample, SchedError> sample_vm(pid_t pid, const Cgroups* cgroups, std::string_view vm_id,
                                       std::optional<ExitCounters> exits) {
  VmSample s;
  s.at_ns = monotonic_ns();
  auto threads = read_thread_stats(pid);
  if (!threads) return fail(threads.error());
  s.threads = std::move(*threads);
  if (cgroups != nullptr) {
    auto u = cgroups->usage(vm_id);
    if (!u) return fail(u.error());
    s.cgroup = *u;
  }
  s.exits = std::move(exits);
  return s;
}

VmAccounting account(const VmSample& prev, const VmSample& now) {
  VmAccounting a;
  a.interval_s = static_cast<double>(now.at_ns - prev.at_ns) / 1e9;
  const double pct = a.interval_s > 0 ? 100.0 / (a.interval_s * 1e9) : 0;
  uint64_t threads_cpu = 0, threads_cpu_d = 0, threads_wait_d = 0;
  for (const auto& t : now.threads) {
    threads_cpu += t.cpu_ns;
    a.wait_ns += t.wait_ns;
    const auto before = std::find_if(prev.threads.begin(), prev.threads.end(),
                                     [&](const ThreadStat& p) { return p.tid == t.tid; });
    const uint64_t dc = before == prev.threads.end() ? t.cpu_ns : delta(before->cpu_ns, t.cpu_ns);
    const uint64_t dw =
        before == prev.threads.end() ? t.wait_ns : delta(before->wait_ns, t.wait_ns);
    threads_cpu_d += dc;
    threads_wait_d += dw;
    if (auto idx = vcpu_index(t.comm)) {
      VcpuAccounting v;
      v.index = *idx;
      v.tid = t.tid;
      v.cpu_ns = t.cpu_ns;
      v.wait_ns = t.wait_ns;
      v.cpu_percent = static_cast<double>(dc) * pct;
      v.wait_percent = static_cast<double>(dw) * pct;
      a.vcpus.push_back(v);
    }
  }
  std::sort(a.vcpus.begin(), a.vcpus.end(),
            [](const VcpuAccounting& x, const VcpuAccounting& y) { return x.index < y.index; });
  if (now.cgroup) {
    a.cpu_ns = now.cgroup->cpu_ns;
    a.throttled_ns = now.cgroup->throttled_ns;
    a.nr_throttled = now.cgroup->nr_throttled;
    const uint64_t d = prev.cgroup ? delta(prev.cgroup->cpu_ns, now.cgroup->cpu_ns) : threads_cpu_d;
    a.cpu_percent = static_cast<double>(d) * pct;
  } else {
    a.cpu_ns = threads_cpu;
    a.cpu_percent = static_cast<double>(threads_cpu_d) * pct;
  }
  a.wait_percent = static_cast<double>(threads_wait_d) * pct;
  if (now.exits && prev.exits) {
    const ExitCounters empty;
    const bool restarted = prev.exits->reboots != now.exits->reboots;
    const ExitCounters& before = restarted ? empty : *prev.exits;
    for (const auto& [reason, n] : now.exits->by_reason) {
      const auto it = before.by_reason.find(reason);
      a.exits_per_sec[reason] =
          per_sec(delta(it == before.by_reason.end() ? 0 : it->second, n), a.interval_s);
    }
    a.exits_per_sec_total = per_sec(delta(before.total, now.exits->total), a.interval_s);
    for (auto& v : a.vcpus) {
      if (v.index < now.exits->per_vcpu.size()) {
        const uint64_t b = v.index < before.per_vcpu.size() ? before.per_vcpu[v.index] : 0;
        v.exits_per_sec = per_sec(delta(b, now.exits->per_vcpu[v.index]), a.interval_s);
      }
    }
  }
  return a;
}

}  // namespace flotilla::scheduler
