// Device state round trips: save from one instance, restore into a fresh one, and check the
// guest-visible behaviour carries on (the snapshot module will compose these).
#include <gtest/gtest.h>
#include <linux/serial_reg.h>

#include <thread>

#include "tests/unit/vmm_devices/mmio_driver.h"
#include "vmm/devices/legacy/i8042.h"
#include "vmm/devices/legacy/rtc.h"
#include "vmm/devices/legacy/serial.h"
#include "vmm/devices/virtio/rng/rng.h"

namespace flotilla::vmm {
namespace {

using testing::GuestRam;
using testing::RecordingLine;
using testing::VirtqDriver;
using testing::VirtqLayout;
using testing::wait_for;

uint8_t inb(BusDevice& d, uint64_t off) {
  uint8_t v = 0;
  d.read(off, std::span<uint8_t>(&v, 1));
  return v;
}
void outb(BusDevice& d, uint64_t off, uint8_t v) {
  d.write(off, std::span<const uint8_t>(&v, 1));
}

TEST(SnapshotState, SerialRoundTrip) {
  RecordingLine line_a, line_b;
  Serial a(line_a, {});
  outb(a, UART_LCR, UART_LCR_DLAB);
  outb(a, UART_DLL, 1);
  outb(a, UART_LCR, UART_LCR_WLEN8);
  outb(a, UART_FCR, UART_FCR_ENABLE_FIFO | UART_FCR_R_TRIG_00);
  outb(a, UART_IER, UART_IER_RDI);
  outb(a, UART_SCR, 0x42);
  const uint8_t in[] = {'x', 'y'};
  a.enqueue_input(in);
  ASSERT_TRUE(line_a.level());

  Serial b(line_b, {});
  b.restore(a.state());
  EXPECT_TRUE(line_b.level());  // the restored pending interrupt drives the new line
  EXPECT_EQ(inb(b, UART_SCR), 0x42);
  EXPECT_EQ(inb(b, UART_IER), UART_IER_RDI);
  EXPECT_EQ(inb(b, UART_RX), 'x');
  EXPECT_EQ(inb(b, UART_RX), 'y');
  EXPECT_FALSE(line_b.level());
  outb(b, UART_LCR, UART_LCR_DLAB);
  EXPECT_EQ(inb(b, UART_DLL), 1);

  SerialState hostile;
  hostile.rx_fifo.assign(1000, 'a');  // more than the FIFO holds
  hostile.ier = 0xff;
  Serial c(line_b, {});
  c.restore(hostile);
  EXPECT_EQ(inb(c, UART_IER), 0x0f);
  EXPECT_EQ(c.pending_input(), 1u);  // non-FIFO mode: one byte
}

TEST(SnapshotState, RtcRoundTripKeepsTheGuestClockOffset) {
  std::time_t now = 1'000'000'000;
  Rtc a([&] { return now; });
  outb(a, 0, 0x04);
  outb(a, 1, 0x07);  // the guest sets 07 h
  outb(a, 0, 0x50);
  outb(a, 1, 0x99);  // and some CMOS RAM
  Rtc b([&] { return now; });
  b.restore(a.state());
  outb(b, 0, 0x04);
  EXPECT_EQ(inb(b, 1), 0x07);
  outb(b, 0, 0x50);
  EXPECT_EQ(inb(b, 1), 0x99);
  RtcState hostile = a.state();
  hostile.offset_seconds = INT64_MIN;
  hostile.index = 0xff;
  b.restore(hostile);  // clamped, no overflow
  EXPECT_EQ(inb(b, 0), 0x7f);
  outb(b, 0, 0x00);
  EXPECT_LE(inb(b, 1), 0x59);
  outb(b, 0, 0x32);
  EXPECT_GE(inb(b, 1), 0x19);  // a century the encoder can express
}

TEST(SnapshotState, I8042RoundTrip) {
  I8042 a([] {});
  outb(a, 4, 0xaa);
  outb(a, 4, 0x60);  // waiting for the command byte
  I8042 b([] {});
  b.restore(a.state());
  EXPECT_EQ(inb(b, 0), 0x55);
  outb(b, 0, 0x00);  // the pending command byte write
  outb(b, 4, 0x20);
  EXPECT_EQ(inb(b, 0), 0x00);
  I8042State hostile;
  hostile.pending = 200;
  hostile.output.assign(100, {0x11, false});
  b.restore(hostile);
  int n = 0;
  while ((inb(b, 4) & 1) && n < 100) {
    (void)inb(b, 0);
    ++n;
  }
  EXPECT_EQ(n, 16);
}

TEST(SnapshotState, VirtioRngTransportRoundTrip) {
  GuestRam ram(0, 1 << 20);
  RecordingLine line;
  auto loop = std::move(EventLoop::create().value());
  std::thread thread([&] { loop->run(); });
  auto rng_a = std::move(virtio::VirtioRng::create({}, loop.get()).value());
  auto t_a = std::move(virtio::MmioTransport::create(rng_a, ram.view(), line, *loop).value());
  testing::MmioDriver drv_a(*t_a);
  VirtqDriver vq(ram, VirtqLayout{});
  ASSERT_TRUE(drv_a.negotiate(1ULL << VIRTIO_F_VERSION_1));
  ASSERT_TRUE(drv_a.setup_queue(0, vq.layout()));
  drv_a.driver_ok();
  vq.set_desc(0, 0x10000, 32, VRING_DESC_F_WRITE);
  vq.publish(0);
  drv_a.notify_ioeventfd(0);
  ASSERT_TRUE(wait_for([&] { return vq.used_idx() == 1; }));

  const auto transport_state = t_a->state();
  const auto rng_state = rng_a->state();
  EXPECT_TRUE(transport_state.activated);
  EXPECT_EQ(transport_state.queues[0].next_used, 1);

  // A fresh device + transport over the same guest memory picks up where it stopped.
  auto rng_b = std::move(virtio::VirtioRng::create({}, loop.get()).value());
  auto t_b = std::move(virtio::MmioTransport::create(rng_b, ram.view(), line, *loop).value());
  rng_b->restore(rng_state);
  ASSERT_TRUE(t_b->restore(transport_state));
  EXPECT_TRUE(rng_b->activated());
  testing::MmioDriver drv_b(*t_b);
  EXPECT_EQ(t_b->status(), t_a->status());
  vq.publish(0);
  drv_b.notify_ioeventfd(0);
  ASSERT_TRUE(wait_for([&] { return vq.used_idx() == 2; }));
  EXPECT_EQ(vq.used_elem(1).len, 32u);

  // A state for a different device shape is refused.
  auto mismatched = transport_state;
  mismatched.queues.push_back({});
  EXPECT_FALSE(t_b->restore(mismatched));
  loop->stop();
  thread.join();
}

}  // namespace
}  // namespace flotilla::vmm
