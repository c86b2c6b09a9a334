// set_thread_slice: EEVDF's per-task slice (sched_setattr, SCHED_OTHER with sched_runtime;
// Linux ≥ 6.12 honours it, clamped to 0.1..100 ms; older kernels ignore it).
//
// A short slice is a latency request: the task's virtual deadline comes sooner, so when it wakes
// onto a CPU where a long-running task (a spinning vCPU) holds the slice, it can preempt it (the
// kernel's PREEMPT_SHORT) instead of waiting for that slice to end — milliseconds on a busy
// core. Not always: an ineligible task still waits. It gives no more CPU time than the weight.
#pragma once

#include <sys/types.h>

#include <cstdint>

#include "common/result.h"

namespace flotilla {

// tid 0 = the calling thread; slice_ns 0 = back to the kernel's default. Fails with the errno.
Result<void, int> set_thread_slice(pid_t tid, uint64_t slice_ns);

}  // namespace flotilla
