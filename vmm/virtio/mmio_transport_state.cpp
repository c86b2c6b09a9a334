// MmioTransport snapshot state: save and restore of the registers and queues.
#include <linux/virtio_config.h>
#include <linux/virtio_mmio.h>

#include "vmm/virtio/mmio_transport.h"

namespace flotilla::vmm::virtio {

MmioTransportState MmioTransport::state() const {
  std::lock_guard lock(mutex_);
  MmioTransportState s;
  s.status = status_;
  s.device_features_sel = device_features_sel_;
  s.driver_features_sel = driver_features_sel_;
  s.driver_features = driver_features_;
  s.queue_sel = queue_sel_;
  s.interrupt_status = interrupt_status_.load(std::memory_order_acquire);
  s.config_generation = config_generation_;
  s.shm_sel = shm_sel_;
  s.activated = activated_;
  for (const auto& q : queues_) s.queues.push_back(q.state());
  return s;
}

bool MmioTransport::restore(const MmioTransportState& s) {
  std::lock_guard lock(mutex_);
  if (s.queues.size() != queues_.size()) return false;
  for (size_t i = 0; i < queues_.size(); ++i) {
    if (s.queues[i].max_size != queues_[i].max_size()) return false;
  }
  if (activated_) device_->reset();
  activated_ = false;
  status_ = s.status;
  device_features_sel_ = s.device_features_sel;
  driver_features_sel_ = s.driver_features_sel;
  driver_features_ = s.driver_features;
  queue_sel_ = s.queue_sel;
  interrupt_status_.store(s.interrupt_status & (VIRTIO_MMIO_INT_VRING | VIRTIO_MMIO_INT_CONFIG),
                          std::memory_order_release);
  config_generation_ = s.config_generation;
  shm_sel_ = s.shm_sel;
  for (size_t i = 0; i < queues_.size(); ++i) queues_[i].restore(s.queues[i]);
  if ((status_ & VIRTIO_CONFIG_S_FEATURES_OK) != 0) {
    if ((driver_features_ & ~offered_features()) != 0) return false;
    device_->set_acked_features(driver_features_);
  }
  if (s.activated) activate_device();
  return (status_ & VIRTIO_CONFIG_S_NEEDS_RESET) == 0 || !s.activated;
}

}  // namespace flotilla::vmm::virtio
