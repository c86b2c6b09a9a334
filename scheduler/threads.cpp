#include "scheduler/threads.h"

#include <sched.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstring>

#include "common/thread_slice.h"
#include "scheduler/internal/fs.h"

namespace flotilla::scheduler {

namespace {

Unexpected<SchedError> proc_error(const std::string& what, int err) {
  return fail(sched_error(err == ESRCH ? SchedErrc::not_found : SchedErrc::proc_io,
                          what + ": " + std::strerror(err)));
}

}  // namespace

Result<std::vector<ThreadInfo>, SchedError> list_threads(pid_t pid) {
  const std::string task = "/proc/" + std::to_string(pid) + "/task";
  if (!internal::exists(task)) {
    return fail(sched_error(SchedErrc::not_found, "no process " + std::to_string(pid)));
  }
  std::vector<ThreadInfo> out;
  for (const auto& name : internal::list_dirs(task)) {
    ThreadInfo t;
    auto [p, ec] = std::from_chars(name.data(), name.data() + name.size(), t.tid);
    if (ec != std::errc()) continue;
    auto comm = internal::read_text(task + "/" + name + "/comm", SchedErrc::proc_io);
    if (!comm) continue;  // exited meanwhile
    t.comm = *comm;
    while (!t.comm.empty() && t.comm.back() == '\n') t.comm.pop_back();
    out.push_back(std::move(t));
  }
  return out;
}

std::optional<uint32_t> vcpu_index(std::string_view comm) {
  if (comm.size() <= 4 || comm.substr(0, 4) != "vcpu") return std::nullopt;
  uint32_t n = 0;
  auto [p, ec] = std::from_chars(comm.data() + 4, comm.data() + comm.size(), n);
  if (ec != std::errc() || p != comm.data() + comm.size()) return std::nullopt;
  return n;
}

Result<void, SchedError> set_thread_affinity(pid_t tid, const CpuList& cpus) {
  cpu_set_t mask;
  CPU_ZERO(&mask);
  for (int c : cpus) CPU_SET(c, &mask);
  if (::sched_setaffinity(tid, sizeof(mask), &mask) != 0) {
    return proc_error(
        "sched_setaffinity(" + std::to_string(tid) + ", " + format_cpu_list(cpus) + ")", errno);
  }
  return {};
}

Result<CpuList, SchedError> thread_affinity(pid_t tid) {
  cpu_set_t mask;
  CPU_ZERO(&mask);
  if (::sched_getaffinity(tid, sizeof(mask), &mask) != 0) {
    return proc_error("sched_getaffinity(" + std::to_string(tid) + ")", errno);
  }
  CpuList out;
  for (int c = 0; c < CPU_SETSIZE; ++c) {
    if (CPU_ISSET(c, &mask)) out.push_back(c);
  }
  return out;
}

Result<void, SchedError> set_process_affinity(pid_t pid, const CpuList& cpus) {
  auto threads = list_threads(pid == 0 ? ::getpid() : pid);
  if (!threads) return fail(threads.error());
  for (const auto& t : *threads) {
    auto r = set_thread_affinity(t.tid, cpus);
    if (!r && r.error().code != SchedErrc::not_found) return r;
  }
  return {};
}

Result<void, SchedError> place_threads(pid_t pid, const CpuList& cpus, bool pin_vcpus) {
  if (cpus.empty()) return fail(sched_error(SchedErrc::proc_io, "no CPUs to place threads on"));
  auto threads = list_threads(pid);
  if (!threads) return fail(threads.error());
  for (const auto& t : *threads) {
    const auto idx = vcpu_index(t.comm);
    const CpuList target = pin_vcpus && idx ? CpuList{cpus[*idx % cpus.size()]} : cpus;
    auto r = set_thread_affinity(t.tid, target);
    if (!r && r.error().code != SchedErrc::not_found) return r;  // a thread that just exited
  }
  return {};
}

Result<void, SchedError> set_thread_slice(pid_t tid, uint64_t slice_ns) {
  if (auto r = flotilla::set_thread_slice(tid, slice_ns); !r) {
    return proc_error(
        "sched_setattr(" + std::to_string(tid) + ", slice " + std::to_string(slice_ns) + " ns)",
        r.error());
  }
  return {};
}

}  // namespace flotilla::scheduler
