// Serial: 8250/16550A register model. See serial.h for the threading contract.
#include "vmm/devices/legacy/serial.h"

#include <linux/serial_reg.h>

#include <algorithm>

namespace flotilla::vmm {

namespace {
constexpr uint8_t kIerMask = 0x0f;
constexpr uint8_t kMcrMask = 0x1f;
constexpr uint8_t kLsrErrors = UART_LSR_OE | UART_LSR_PE | UART_LSR_FE | UART_LSR_BI;
// Modem lines seen when not in loopback: carrier, data set ready and clear to send asserted.
constexpr uint8_t kDefaultModemLines = UART_MSR_DCD | UART_MSR_DSR | UART_MSR_CTS;

size_t trigger_level(uint8_t fcr) {
  switch (fcr & 0xc0) {
    case UART_FCR_R_TRIG_00:
      return 1;
    case UART_FCR_R_TRIG_01:
      return 4;
    case UART_FCR_R_TRIG_10:
      return 8;
    default:
      return 14;
  }
}
}  // namespace

Serial::Serial(InterruptLine& irq, OutputSink sink) : irq_(irq), sink_(std::move(sink)) {}

void Serial::read(uint64_t offset, std::span<uint8_t> data) {
  std::lock_guard lock(mutex_);
  if (data.size() != 1 || offset >= kLength) {
    std::fill(data.begin(), data.end(), 0xff);
    ++metrics_.bad_accesses;
    return;
  }
  data[0] = read_register(offset);
}

void Serial::write(uint64_t offset, std::span<const uint8_t> data) {
  std::lock_guard lock(mutex_);
  if (data.size() != 1 || offset >= kLength) {
    ++metrics_.bad_accesses;
    return;
  }
  write_register(offset, data[0]);
}

size_t Serial::enqueue_input(std::span<const uint8_t> bytes) {
  std::lock_guard lock(mutex_);
  const size_t room = kInputBacklog - std::min(kInputBacklog, backlog_.size());
  const size_t accepted = std::min(room, bytes.size());
  backlog_.insert(backlog_.end(), bytes.begin(),
                  bytes.begin() + static_cast<std::ptrdiff_t>(accepted));
  metrics_.input_dropped += bytes.size() - accepted;
  fill_fifo();
  update_interrupt();
  return accepted;
}

size_t Serial::pending_input() const {
  std::lock_guard lock(mutex_);
  return rx_fifo_.size() + backlog_.size();
}

SerialMetrics Serial::metrics() const {
  std::lock_guard lock(mutex_);
  return metrics_;
}

SerialState Serial::state() const {
  std::lock_guard lock(mutex_);
  return SerialState{ier_,
                     lcr_,
                     mcr_,
                     lsr_errors_,
                     msr_delta_,
                     scr_,
                     fcr_,
                     divisor_,
                     thr_interrupt_,
                     std::vector<uint8_t>(rx_fifo_.begin(), rx_fifo_.end()),
                     std::vector<uint8_t>(backlog_.begin(), backlog_.end())};
}

void Serial::restore(const SerialState& s) {
  std::lock_guard lock(mutex_);
  ier_ = s.ier & kIerMask;
  lcr_ = s.lcr;
  mcr_ = s.mcr & kMcrMask;
  lsr_errors_ = s.lsr_errors & kLsrErrors;
  msr_delta_ = s.msr_delta & 0x0f;
  scr_ = s.scr;
  fcr_ = s.fcr & (UART_FCR_ENABLE_FIFO | 0xc0);
  divisor_ = s.divisor;
  thr_interrupt_ = s.thr_interrupt;
  const size_t capacity = (fcr_ & UART_FCR_ENABLE_FIFO) != 0 ? kFifoSize : 1;
  const auto fifo_len = static_cast<std::ptrdiff_t>(std::min(capacity, s.rx_fifo.size()));
  const auto backlog_len = static_cast<std::ptrdiff_t>(std::min(kInputBacklog, s.backlog.size()));
  rx_fifo_.assign(s.rx_fifo.begin(), s.rx_fifo.begin() + fifo_len);
  backlog_.assign(s.backlog.begin(), s.backlog.begin() + backlog_len);
  irq_level_ = (interrupt_id() & UART_IIR_NO_INT) == 0;
  irq_.set_level(irq_level_);
}

uint8_t Serial::read_register(uint64_t offset) {
  const bool dlab = (lcr_ & UART_LCR_DLAB) != 0;
  switch (offset) {
    case UART_RX: {
      if (dlab) return static_cast<uint8_t>(divisor_ & 0xff);
      if (rx_fifo_.empty()) return 0;
      const uint8_t byte = rx_fifo_.front();
      rx_fifo_.pop_front();
      ++metrics_.rx_bytes;
      fill_fifo();
      update_interrupt();
      return byte;
    }
    case UART_IER:
      return dlab ? static_cast<uint8_t>(divisor_ >> 8) : ier_;
    case UART_IIR: {
      const uint8_t id = interrupt_id();
      if ((id & 0x0f) == UART_IIR_THRI) {
        thr_interrupt_ = false;  // reading IIR that reports THRE clears it
        update_interrupt();
      }
      return id | ((fcr_ & UART_FCR_ENABLE_FIFO) != 0 ? 0xc0 : 0x00);
    }
    case UART_LCR:
      return lcr_;
    case UART_MCR:
      return mcr_;
    case UART_LSR: {
      uint8_t lsr = UART_LSR_THRE | UART_LSR_TEMT | lsr_errors_;
      if (!rx_fifo_.empty()) lsr |= UART_LSR_DR;
      lsr_errors_ = 0;
      update_interrupt();
      return lsr;
    }
    case UART_MSR: {
      const uint8_t msr = modem_status_lines() | msr_delta_;
      msr_delta_ = 0;
      update_interrupt();
      return msr;
    }
    default:
      return scr_;
  }
}

void Serial::write_register(uint64_t offset, uint8_t value) {
  const bool dlab = (lcr_ & UART_LCR_DLAB) != 0;
  switch (offset) {
    case UART_TX:
      if (dlab) {
        divisor_ = static_cast<uint16_t>((divisor_ & 0xff00) | value);
        return;
      }
      // Writing THR clears THRE; the byte leaves at once, so THRE (and its interrupt) come
      // back immediately: the line drops and rises again, as on QEMU's 16550A.
      thr_interrupt_ = false;
      update_interrupt();
      transmit(value);
      thr_interrupt_ = true;
      update_interrupt();
      return;
    case UART_IER: {
      if (dlab) {
        divisor_ = static_cast<uint16_t>((divisor_ & 0x00ff) | (value << 8));
        return;
      }
      const uint8_t old = ier_;
      ier_ = value & kIerMask;
      // Enabling the THRE interrupt while THR is empty raises it at once.
      if ((ier_ & UART_IER_THRI) != 0 && (old & UART_IER_THRI) == 0) thr_interrupt_ = true;
      update_interrupt();
      return;
    }
    case UART_FCR: {
      const bool was_enabled = (fcr_ & UART_FCR_ENABLE_FIFO) != 0;
      const bool enabled = (value & UART_FCR_ENABLE_FIFO) != 0;
      // Changing the FIFO enable, or the clear bit, empties the RX FIFO.
      if (was_enabled != enabled || (value & UART_FCR_CLEAR_RCVR) != 0) rx_fifo_.clear();
      fcr_ = value & (UART_FCR_ENABLE_FIFO | 0xc0);
      fill_fifo();
      update_interrupt();
      return;
    }
    case UART_LCR:
      lcr_ = value;
      return;
    case UART_MCR:
      set_mcr(value & kMcrMask);
      return;
    case UART_LSR:
    case UART_MSR:
      return;  // read-only (factory test writes are ignored)
    default:
      scr_ = value;
      return;
  }
}

void Serial::transmit(uint8_t byte) {
  if ((mcr_ & UART_MCR_LOOP) != 0) {
    push_rx(byte);
    return;
  }
  ++metrics_.tx_bytes;
  if (sink_) sink_(std::span<const uint8_t>(&byte, 1));
}

void Serial::push_rx(uint8_t byte) {
  const size_t capacity = (fcr_ & UART_FCR_ENABLE_FIFO) != 0 ? kFifoSize : 1;
  if (rx_fifo_.size() >= capacity) {
    lsr_errors_ |= UART_LSR_OE;
    ++metrics_.overruns;
    return;
  }
  rx_fifo_.push_back(byte);
}

void Serial::fill_fifo() {
  if ((mcr_ & UART_MCR_LOOP) != 0) return;  // the receive pin is disconnected in loopback
  const size_t capacity = (fcr_ & UART_FCR_ENABLE_FIFO) != 0 ? kFifoSize : 1;
  while (rx_fifo_.size() < capacity && !backlog_.empty()) {
    rx_fifo_.push_back(backlog_.front());
    backlog_.pop_front();
  }
}

uint8_t Serial::interrupt_id() const {
  if ((ier_ & UART_IER_RLSI) != 0 && (lsr_errors_ & kLsrErrors) != 0) return UART_IIR_RLSI;
  if ((ier_ & UART_IER_RDI) != 0 && !rx_fifo_.empty()) {
    // With the FIFO on, data below the trigger level is reported as a character timeout
    // (we do not model the four-character delay).
    if ((fcr_ & UART_FCR_ENABLE_FIFO) != 0 && rx_fifo_.size() < trigger_level(fcr_)) {
      return UART_IIR_RX_TIMEOUT;
    }
    return UART_IIR_RDI;
  }
  if ((ier_ & UART_IER_THRI) != 0 && thr_interrupt_) return UART_IIR_THRI;
  if ((ier_ & UART_IER_MSI) != 0 && msr_delta_ != 0) return UART_IIR_MSI;
  return UART_IIR_NO_INT;
}

void Serial::update_interrupt() {
  const bool level = (interrupt_id() & UART_IIR_NO_INT) == 0;
  if (level == irq_level_) return;
  irq_level_ = level;
  irq_.set_level(level);
}

uint8_t Serial::modem_status_lines() const {
  if ((mcr_ & UART_MCR_LOOP) == 0) return kDefaultModemLines;
  uint8_t lines = 0;
  if ((mcr_ & UART_MCR_DTR) != 0) lines |= UART_MSR_DSR;
  if ((mcr_ & UART_MCR_RTS) != 0) lines |= UART_MSR_CTS;
  if ((mcr_ & UART_MCR_OUT1) != 0) lines |= UART_MSR_RI;
  if ((mcr_ & UART_MCR_OUT2) != 0) lines |= UART_MSR_DCD;
  return lines;
}

void Serial::set_mcr(uint8_t value) {
  const uint8_t before = modem_status_lines();
  const bool was_loop = (mcr_ & UART_MCR_LOOP) != 0;
  mcr_ = value;
  const uint8_t after = modem_status_lines();
  const uint8_t changed = before ^ after;
  if ((changed & UART_MSR_CTS) != 0) msr_delta_ |= UART_MSR_DCTS;
  if ((changed & UART_MSR_DSR) != 0) msr_delta_ |= UART_MSR_DDSR;
  if ((changed & UART_MSR_DCD) != 0) msr_delta_ |= UART_MSR_DDCD;
  // TERI: ring indicator went from on to off.
  if ((before & UART_MSR_RI) != 0 && (after & UART_MSR_RI) == 0) msr_delta_ |= UART_MSR_TERI;
  if (was_loop && (mcr_ & UART_MCR_LOOP) == 0) fill_fifo();
  update_interrupt();
}

}  // namespace flotilla::vmm
