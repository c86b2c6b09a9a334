// MmioTransport: virtio-mmio version 2 (modern only, virtio 1.x 4.2.2) around one
// VirtioDevice. One BusDevice per slot (0x200 bytes; slot i at 0xfeb00000 + i*0x200).
//
// Notifications: one eventfd per queue (notify_eventfd(q)). The monitor registers each as a
// KVM ioeventfd at base + 0x50 (VIRTIO_MMIO_QUEUE_NOTIFY), 4 bytes, datamatch = q; the
// transport watches them on the EventLoop. A QueueNotify write that reaches write() (no
// ioeventfd) signals the same eventfd, so queues are always processed on the loop thread.
// Before DRIVER_OK (and after a failure/reset) notifications are drained and counted and guest
// memory is never touched. Interrupts: InterruptLine::trigger() (the monitor's
// VirtioIrqLine on GSI 16 + slot) after setting InterruptStatus bits.
//
// Hostile drivers: bad sizes/offsets/values are counted and ignored; a broken queue or a
// failed activation sets DEVICE_NEEDS_RESET (and a config-change interrupt); nothing aborts.
//
// Polling: after a queue pass the device may ask for the avail ring to be polled
// (VirtioDevice::poll_after_ns): the transport silences the driver's notifications, releases
// mutex_, spins on the avail index (guest RAM only), and takes mutex_ again to process what
// came or to re-enable notifications. At most kMaxPassesPerWakeup passes chain that way before
// the loop thread returns to its other fds (every device of the monitor shares it).
//
// Threads: read()/write() from vCPU threads, notifications on the loop thread. mutex_ guards
// all transport, queue and device state; the device is only ever called with it held, except
// for VirtioDevice::has_ready_work() during a poll (lock-free by contract). InterruptStatus is
// an atomic: reading it and InterruptACK take no lock, so a guest's interrupt handler never
// waits for a queue pass in progress.
// Lifetime: destroy the transport after the EventLoop stopped running (or on its thread).
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <span>
#include <vector>

#include "common/result.h"
#include "common/unique_fd.h"
#include "vmm/devices/bus.h"
#include "vmm/devices/interrupt.h"
#include "vmm/event/event_loop.h"
#include "vmm/memory/guest_memory_view.h"
#include "vmm/virtio/device.h"
#include "vmm/virtio/queue.h"

namespace flotilla::vmm::virtio {

struct MmioTransportMetrics {
  uint64_t notifications = 0;           // processed queue notifications
  uint64_t polled_passes = 0;           // queue passes started by polling (no notification)
  uint64_t inactive_notifications = 0;  // drained before DRIVER_OK / while broken
  uint64_t interrupts = 0;              // InterruptLine::trigger() calls
  uint64_t bad_accesses = 0;            // wrong size/offset, write to a read-only register...
  uint64_t bad_status_writes = 0;       // status transitions refused
  uint64_t activations = 0;
  uint64_t resets = 0;
  uint64_t needs_reset = 0;  // times DEVICE_NEEDS_RESET was set
};

// What a snapshot stores about a transport (the device stores its own state; fds, the
// interrupt line and the loop are rebuilt).
struct MmioTransportState {
  uint32_t status = 0;
  uint32_t device_features_sel = 0;
  uint32_t driver_features_sel = 0;
  uint64_t driver_features = 0;
  uint32_t queue_sel = 0;
  uint32_t interrupt_status = 0;
  uint32_t config_generation = 0;
  uint32_t shm_sel = 0;
  bool activated = false;
  std::vector<QueueState> queues;
};

class MmioTransport : public BusDevice, private VirtioInterrupt {
 public:
  // Queue passes one wake-up may chain by polling before the loop thread goes back to the
  // other devices' fds.
  static constexpr unsigned kMaxPassesPerWakeup = 8;
  static constexpr uint64_t kSlotSize = 0x200;
  static constexpr uint64_t kSlotBase = 0xfeb00000;
  static constexpr uint32_t kFirstGsi = 16;
  static constexpr uint64_t kNotifyOffset = 0x50;
  static constexpr uint32_t kVendorId = 0x544f4c46;  // "FLOT"

  // device, irq and loop must outlive the transport. memory is the guest RAM view the device
  // will use once activated.
  static Result<std::shared_ptr<MmioTransport>, VirtioError> create(
      std::shared_ptr<VirtioDevice> device, GuestMemoryView memory, InterruptLine& irq,
      EventLoop& loop);
  ~MmioTransport() override;
  MmioTransport(const MmioTransport&) = delete;
  MmioTransport& operator=(const MmioTransport&) = delete;

  void read(uint64_t offset, std::span<uint8_t> data) override;
  void write(uint64_t offset, std::span<const uint8_t> data) override;

  size_t queue_count() const { return notify_fds_.size(); }
  // The eventfd to register as KVM ioeventfd for queue q (base+0x50, len 4, datamatch q).
  int notify_eventfd(uint16_t queue) const;
  VirtioDevice& device() { return *device_; }
  uint32_t status() const;
  MmioTransportMetrics metrics() const;
  MmioTransportState state() const;
  // With the vCPUs paused, after the device's own state was restored: restores registers and
  // queues and re-activates the device if it was active (queues re-checked against memory).
  // false when the state does not fit this device (queue count or sizes), or re-activation
  // failed (the transport is then DEVICE_NEEDS_RESET, as for a live failure).
  bool restore(const MmioTransportState& state);

 private:
  // Activated, not DEVICE_NEEDS_RESET, and the queue set up (mutex_ held).
  bool queue_usable(uint16_t queue) const;
  MmioTransport(std::shared_ptr<VirtioDevice> device, GuestMemoryView memory, InterruptLine& irq,
                EventLoop& loop);
  // All below: mutex_ held.
  uint32_t read_register(uint64_t offset);
  void write_register(uint64_t offset, uint32_t value);
  void write_queue_register(uint64_t offset, uint32_t value);
  void write_status(uint32_t value);
  void activate_device();
  void reset_device();
  void set_needs_reset();
  void on_notify(uint16_t queue);  // loop thread
  Queue* selected_queue();
  uint64_t offered_features() const;
  // VirtioInterrupt (device calls these with mutex_ held).
  void signal_used_queue(uint16_t queue) override;
  void signal_config_change() override;
  void kick_queue(uint16_t queue) override;
  void run_queue(uint16_t queue) override;
  void process_notified(uint16_t queue, uint64_t count);

  mutable std::mutex mutex_;
  std::shared_ptr<VirtioDevice> device_;
  GuestMemoryView memory_;
  InterruptLine& irq_;
  EventLoop& loop_;
  std::vector<UniqueFd> notify_fds_;  // one per queue, fixed after create()
  std::vector<Queue> queues_;         // GUARDED_BY(mutex_)
  uint32_t status_ = 0;               // GUARDED_BY(mutex_), and everything below
  uint32_t device_features_sel_ = 0;
  uint32_t driver_features_sel_ = 0;
  uint64_t driver_features_ = 0;
  uint32_t queue_sel_ = 0;
  // Atomic, and read/acked without mutex_: a vCPU acking an interrupt must not wait while the
  // device thread holds mutex_ for a whole queue pass (hundreds of µs for a net TX burst).
  std::atomic<uint32_t> interrupt_status_{0};
  uint32_t config_generation_ = 0;
  uint32_t shm_sel_ = 0;
  bool activated_ = false;
  int warn_budget_ = 8;  // a hostile driver cannot flood the log
  MmioTransportMetrics metrics_;
};

}  // namespace flotilla::vmm::virtio
