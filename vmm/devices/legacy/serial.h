// Serial: an 8250/16550A UART (COM1: base 0x3f8, length 8, IRQ 4), one BusDevice.
// Registers: RBR/THR/DLL (0), IER/DLM (1), IIR/FCR (2), LCR (3), MCR (4), LSR (5), MSR (6),
// SCR (7); DLAB (LCR bit 7) switches 0/1 to the divisor latch. 16-byte RX FIFO (FCR enables it,
// trigger level 1/4/8/14); the transmitter is infinitely fast, so THR is always empty and each
// byte written goes straight to the output sink (or, in loopback mode, back into the RX FIFO).
// Interrupts (IIR priority: line status > RX data / timeout > THR empty > modem status) drive
// one level through InterruptLine::set_level, changed only when the level changes.
//
// Threads: read()/write() come from vCPU threads, enqueue_input() from the console thread;
// every member is guarded by mutex_. The output sink and set_level() are called with mutex_
// held (so bytes stay in order); neither may call back into this Serial.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <span>
#include <vector>

#include "vmm/devices/bus.h"
#include "vmm/devices/interrupt.h"

namespace flotilla::vmm {

struct SerialMetrics {
  uint64_t tx_bytes = 0;       // bytes handed to the sink
  uint64_t rx_bytes = 0;       // bytes the guest read from RBR
  uint64_t input_dropped = 0;  // enqueue_input() bytes refused (backlog full)
  uint64_t overruns = 0;       // loopback bytes lost to a full RX FIFO (LSR.OE)
  uint64_t bad_accesses = 0;   // accesses that were not 1 byte or outside 0..7
};

// What a snapshot stores (host-side pending input included; the sink and line are rebuilt).
struct SerialState {
  uint8_t ier = 0;
  uint8_t lcr = 0x03;
  uint8_t mcr = 0x08;
  uint8_t lsr_errors = 0;
  uint8_t msr_delta = 0;
  uint8_t scr = 0;
  uint8_t fcr = 0;
  uint16_t divisor = 12;
  bool thr_interrupt = false;
  std::vector<uint8_t> rx_fifo;  // ≤ 16 bytes
  std::vector<uint8_t> backlog;  // ≤ kInputBacklog bytes
};

class Serial : public BusDevice {
 public:
  using OutputSink = std::function<void(std::span<const uint8_t>)>;
  static constexpr uint64_t kCom1Base = 0x3f8;
  static constexpr uint64_t kLength = 8;
  static constexpr uint32_t kCom1Irq = 4;
  static constexpr size_t kFifoSize = 16;
  // Host input waiting behind the 16-byte FIFO (moved in as the guest reads); beyond it input
  // is dropped and counted.
  static constexpr size_t kInputBacklog = 64 * 1024;

  // irq must outlive the Serial. sink may be empty (output discarded).
  Serial(InterruptLine& irq, OutputSink sink);

  void read(uint64_t offset, std::span<uint8_t> data) override;
  void write(uint64_t offset, std::span<const uint8_t> data) override;

  // Host → guest bytes (console input). Thread-safe. Returns how many bytes were accepted.
  size_t enqueue_input(std::span<const uint8_t> bytes);
  // Bytes accepted but not yet read by the guest (FIFO + backlog).
  size_t pending_input() const;
  SerialMetrics metrics() const;
  SerialState state() const;
  // Restores registers and buffers (out-of-range values masked/truncated) and drives the
  // interrupt line to the restored level.
  void restore(const SerialState& state);

 private:
  uint8_t read_register(uint64_t offset);  // mutex_ held
  void write_register(uint64_t offset, uint8_t value);
  void transmit(uint8_t byte);
  void fill_fifo();
  void push_rx(uint8_t byte);
  uint8_t interrupt_id() const;
  void update_interrupt();
  void set_mcr(uint8_t value);
  uint8_t modem_status_lines() const;

  mutable std::mutex mutex_;
  InterruptLine& irq_;
  OutputSink sink_;              // GUARDED_BY(mutex_)
  std::deque<uint8_t> rx_fifo_;  // GUARDED_BY(mutex_): what the guest sees (≤ 16 or 1)
  std::deque<uint8_t> backlog_;  // GUARDED_BY(mutex_): host input behind the FIFO
  uint8_t ier_ = 0;              // all GUARDED_BY(mutex_)
  uint8_t lcr_ = 0x03;           // 8N1
  uint8_t mcr_ = 0x08;           // OUT2
  uint8_t lsr_errors_ = 0;       // OE/PE/FE/BI bits, cleared by reading LSR
  uint8_t msr_delta_ = 0;        // DCTS/DDSR/TERI/DDCD, cleared by reading MSR
  uint8_t scr_ = 0;
  uint8_t fcr_ = 0;             // FIFO enable + trigger bits as last written
  uint16_t divisor_ = 12;       // 9600 baud until the driver sets it
  bool thr_interrupt_ = false;  // THRE interrupt pending (cleared by IIR read / THR write)
  bool irq_level_ = false;
  SerialMetrics metrics_;
};

}  // namespace flotilla::vmm
