// A virtio-mmio driver for the tests, doing what Linux's virtio_mmio.c + virtio core do, through
// the transport's BusDevice interface (as a vCPU's MMIO exits would).
#pragma once

#include <linux/virtio_config.h>
#include <linux/virtio_mmio.h>
#include <sys/eventfd.h>

#include <cstdint>
#include <cstring>
#include <vector>

#include "tests/unit/vmm_devices/virtq_driver.h"
#include "vmm/virtio/mmio_transport.h"

namespace flotilla::vmm::testing {

class MmioDriver {
 public:
  explicit MmioDriver(virtio::MmioTransport& t) : t_(t) {}

  uint32_t r(uint64_t off) {
    uint32_t v = 0;
    t_.read(off, std::span<uint8_t>(reinterpret_cast<uint8_t*>(&v), 4));
    return v;
  }
  void w(uint64_t off, uint32_t v) {
    t_.write(off, std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(&v), 4));
  }
  void add_status(uint32_t bits) { w(VIRTIO_MMIO_STATUS, r(VIRTIO_MMIO_STATUS) | bits); }

  uint64_t device_features() {
    w(VIRTIO_MMIO_DEVICE_FEATURES_SEL, 1);
    uint64_t f = uint64_t{r(VIRTIO_MMIO_DEVICE_FEATURES)} << 32;
    w(VIRTIO_MMIO_DEVICE_FEATURES_SEL, 0);
    return f | r(VIRTIO_MMIO_DEVICE_FEATURES);
  }
  void write_driver_features(uint64_t f) {
    w(VIRTIO_MMIO_DRIVER_FEATURES_SEL, 1);
    w(VIRTIO_MMIO_DRIVER_FEATURES, static_cast<uint32_t>(f >> 32));
    w(VIRTIO_MMIO_DRIVER_FEATURES_SEL, 0);
    w(VIRTIO_MMIO_DRIVER_FEATURES, static_cast<uint32_t>(f));
  }
  // Reset, ACKNOWLEDGE, DRIVER, features (offered & wanted), FEATURES_OK and read back.
  bool negotiate(uint64_t wanted) {
    if (r(VIRTIO_MMIO_MAGIC_VALUE) != 0x74726976 || r(VIRTIO_MMIO_VERSION) != 2) return false;
    if (r(VIRTIO_MMIO_DEVICE_ID) == 0) return false;
    w(VIRTIO_MMIO_STATUS, 0);
    if (r(VIRTIO_MMIO_STATUS) != 0) return false;
    add_status(VIRTIO_CONFIG_S_ACKNOWLEDGE);
    add_status(VIRTIO_CONFIG_S_DRIVER);
    write_driver_features(device_features() & wanted);
    add_status(VIRTIO_CONFIG_S_FEATURES_OK);
    return (r(VIRTIO_MMIO_STATUS) & VIRTIO_CONFIG_S_FEATURES_OK) != 0;
  }
  bool setup_queue(uint16_t index, const VirtqLayout& l) {
    w(VIRTIO_MMIO_QUEUE_SEL, index);
    if (r(VIRTIO_MMIO_QUEUE_READY) != 0) return false;
    const uint32_t max = r(VIRTIO_MMIO_QUEUE_NUM_MAX);
    if (max == 0 || l.size > max) return false;
    w(VIRTIO_MMIO_QUEUE_NUM, l.size);
    w(VIRTIO_MMIO_QUEUE_DESC_LOW, static_cast<uint32_t>(l.desc));
    w(VIRTIO_MMIO_QUEUE_DESC_HIGH, static_cast<uint32_t>(l.desc >> 32));
    w(VIRTIO_MMIO_QUEUE_AVAIL_LOW, static_cast<uint32_t>(l.avail));
    w(VIRTIO_MMIO_QUEUE_AVAIL_HIGH, static_cast<uint32_t>(l.avail >> 32));
    w(VIRTIO_MMIO_QUEUE_USED_LOW, static_cast<uint32_t>(l.used));
    w(VIRTIO_MMIO_QUEUE_USED_HIGH, static_cast<uint32_t>(l.used >> 32));
    w(VIRTIO_MMIO_QUEUE_READY, 1);
    return r(VIRTIO_MMIO_QUEUE_READY) == 1;
  }
  void driver_ok() { add_status(VIRTIO_CONFIG_S_DRIVER_OK); }
  // What KVM does with an ioeventfd-matched write to QueueNotify.
  void notify_ioeventfd(uint16_t q) { ::eventfd_write(t_.notify_eventfd(q), 1); }
  void notify_mmio(uint16_t q) { w(VIRTIO_MMIO_QUEUE_NOTIFY, q); }

 private:
  virtio::MmioTransport& t_;
};

}  // namespace flotilla::vmm::testing
