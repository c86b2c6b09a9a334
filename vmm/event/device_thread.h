// The monitor's own threads that serve the guest's devices (the event loop "devices", the block
// worker pools "blk<N>w<i>"): each calls enter_device_thread() first thing.
#pragma once

#include <cstdint>
#include <string_view>

namespace flotilla::vmm {

// The EEVDF slice a device thread asks for (common/thread_slice.h): shorter than the default
// (1.4 ms on 2 CPUs) so that its wake-up may preempt a vCPU spinning in the guest on the same
// CPU, long enough (its longest bursts, submitting 4 × 1 MiB, take 50–200 µs) that it is not
// itself preempted half-way through one.
inline constexpr uint64_t kDeviceThreadSliceNs = 300'000;

// Names the calling thread (cut to the kernel's 15 characters: /proc/<pid>/task/<tid>/comm,
// which flotillad's scheduler and the benches read) and asks for kDeviceThreadSliceNs. Device
// work comes in bursts of microseconds that a guest waits for; with the default slice, a device
// thread woken onto the CPU of a vCPU spinning in the guest (a polling driver) could wait for
// the vCPU's slice or the next 4 ms tick (perf traces and figures: bench/disk/README.md,
// session 7). The kernel may still run the vCPU first. Best effort: a kernel that refuses the
// slice leaves the default, with a debug line.
void enter_device_thread(std::string_view name);

}  // namespace flotilla::vmm
