// VirtioDevice: what a virtio device model implements; the transport (virtio-mmio) drives it.
// Lifecycle: constructed → (driver negotiates) set_acked_features() → activate() at DRIVER_OK
// → process_queue() on notifications → reset() when the driver writes status 0. Before
// activate() a device never touches guest memory (Firecracker's DeviceState Inactive/Activated).
//
// Threads: every call comes with the owning transport's mutex held: config reads/writes and
// set_acked_features/activate/reset from vCPU threads, process_queue and poll_after_ns from
// the device thread. has_ready_work is the exception: called during a poll without it.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "common/result.h"
#include "vmm/memory/guest_memory_view.h"
#include "vmm/virtio/queue.h"

namespace flotilla::vmm::virtio {

enum class VirtioErrorCode {
  kInvalidArgument,  // bad construction parameter
  kSystem,           // a host call failed (errno in the message)
  kQueueInvalid,     // a required queue is not ready/valid at activation
  kBackend,          // the device's host backend failed
};

struct VirtioError {
  VirtioErrorCode code = VirtioErrorCode::kInvalidArgument;
  std::string message;
};

// How a device reaches its driver through the transport, which implements it.
class VirtioInterrupt {
 public:
  virtual ~VirtioInterrupt() = default;
  // Used buffers / config change: interrupt status bit + InterruptLine::trigger(). Call with
  // the transport's mutex held (i.e. from inside process_queue/activate).
  virtual void signal_used_queue(uint16_t queue) = 0;
  virtual void signal_config_change() = 0;
  // Asks for process_queue(queue) to run again soon on the loop thread (e.g. when a rate
  // limiter refills). Thread-safe, lock-free (writes the queue's notify eventfd); harmless
  // after reset (counted as an inactive notification).
  virtual void kick_queue(uint16_t queue) = 0;
  // Runs process_queue(queue) now, as the queue's notification would, without the eventfd
  // round trip kick_queue() costs (a write, a wake of epoll and a read). Only on the loop
  // thread, from a callback of the device's own fds, with no device lock held.
  virtual void run_queue(uint16_t queue) = 0;
};

class VirtioDevice {
 public:
  virtual ~VirtioDevice() = default;

  virtual uint32_t device_type() const = 0;  // VIRTIO_ID_* from <linux/virtio_ids.h>
  // Device-specific feature bits offered. The transport adds VIRTIO_F_VERSION_1 and the ring
  // features (INDIRECT_DESC, EVENT_IDX) it supports.
  virtual uint64_t device_features() const = 0;
  // One entry per queue: that queue's maximum size (a power of two ≤ Queue::kMaxSize).
  virtual std::vector<uint16_t> queue_max_sizes() const = 0;

  // Config space (transport offset 0x100 + offset). Out-of-range bytes read as 0 and writes
  // to them are ignored; never fails.
  virtual void read_config(uint64_t offset, std::span<uint8_t> data) const = 0;
  virtual void write_config(uint64_t offset, std::span<const uint8_t> data) = 0;

  // The features the driver accepted (a subset of what was offered), at FEATURES_OK.
  virtual void set_acked_features(uint64_t features) = 0;
  // At DRIVER_OK. queues stay owned by the transport and valid until reset(); the device may
  // keep references to memory, queues and interrupt until then. An error → the transport sets
  // DEVICE_NEEDS_RESET.
  virtual Result<void, VirtioError> activate(const GuestMemoryView& memory, std::span<Queue> queues,
                                             VirtioInterrupt& interrupt) = 0;
  // Back to the power-on state; drops the references taken by activate().
  virtual void reset() = 0;
  // The driver notified queue `index` (< queue count), only while activated. Returns false if
  // the device found the queue broken (the transport then sets DEVICE_NEEDS_RESET).
  virtual bool process_queue(uint16_t index) = 0;
  // Asked right after process_queue(index): how long the transport should poll that queue's
  // avail ring for the driver's next requests, with the driver's notifications silenced and
  // the transport's mutex released, before it sleeps until the next notification. A device
  // says so when the driver is about to refill (it just returned requests): the refill then
  // costs neither a notification exit nor a wake-up. 0: do not poll.
  virtual uint64_t poll_after_ns(uint16_t /*index*/) const { return 0; }
  // Polled with the avail index, WITHOUT the transport's mutex: whether the device has work of
  // its own for process_queue (finished requests to return), which ends the poll early. Must
  // be lock-free and safe at any time, also during reset().
  virtual bool has_ready_work() const { return false; }
  virtual bool activated() const = 0;
};

}  // namespace flotilla::vmm::virtio
