#include "common/thread_slice.h"

#include <sched.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
// <linux/sched/types.h> has sched_attr (the kernel ABI) but also a sched_param that <sched.h>
// already defines: rename the kernel's copy while including it.
#define sched_param linux_sched_param
#include <linux/sched/types.h>
#undef sched_param

namespace flotilla {

Result<void, int> set_thread_slice(pid_t tid, uint64_t slice_ns) {
  sched_attr attr{};
  attr.size = sizeof(attr);
  attr.sched_policy = SCHED_OTHER;
  attr.sched_runtime = slice_ns;
  // SAFETY: sched_setattr reads attr.size bytes of a zero-initialised struct; flags 0.
  if (::syscall(SYS_sched_setattr, tid, &attr, 0) != 0) return fail(errno);
  return {};
}

}  // namespace flotilla
