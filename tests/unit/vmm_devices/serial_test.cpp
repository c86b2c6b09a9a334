#include "vmm/devices/legacy/serial.h"

#include <gtest/gtest.h>
#include <linux/serial_reg.h>

#include <string>
#include <thread>

#include "tests/unit/vmm_devices/fakes.h"

namespace flotilla::vmm {
namespace {

class SerialTest : public ::testing::Test {
 protected:
  SerialTest()
      : serial(line, [this](std::span<const uint8_t> b) { out.append(b.begin(), b.end()); }) {}
  uint8_t in(uint64_t reg) {
    uint8_t v = 0;
    serial.read(reg, std::span<uint8_t>(&v, 1));
    return v;
  }
  void outb(uint64_t reg, uint8_t v) { serial.write(reg, std::span<const uint8_t>(&v, 1)); }
  void input(const std::string& s) {
    serial.enqueue_input(
        std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(s.data()), s.size()));
  }

  testing::RecordingLine line;
  std::string out;
  Serial serial;
};

TEST_F(SerialTest, TransmitGoesToTheSinkAndThrIsAlwaysEmpty) {
  for (char c : std::string("hello")) outb(UART_TX, static_cast<uint8_t>(c));
  EXPECT_EQ(out, "hello");
  EXPECT_EQ(in(UART_LSR) & (UART_LSR_THRE | UART_LSR_TEMT), UART_LSR_THRE | UART_LSR_TEMT);
  EXPECT_EQ(serial.metrics().tx_bytes, 5u);
  EXPECT_TRUE(line.levels().empty());  // no interrupt enabled: the line was never touched
}

TEST_F(SerialTest, DlabSwitchesToTheDivisorLatch) {
  outb(UART_LCR, UART_LCR_DLAB | UART_LCR_WLEN8);
  outb(UART_DLL, 0x01);
  outb(UART_DLM, 0x00);
  EXPECT_EQ(in(UART_DLL), 0x01);
  EXPECT_EQ(in(UART_DLM), 0x00);
  EXPECT_TRUE(out.empty());       // divisor writes are not data
  EXPECT_EQ(in(UART_IER), 0x00);  // still the divisor high byte
  outb(UART_LCR, UART_LCR_WLEN8);
  EXPECT_EQ(in(UART_LCR), UART_LCR_WLEN8);
  outb(UART_IER, 0xff);
  EXPECT_EQ(in(UART_IER), 0x0f);  // only four enable bits exist
  outb(UART_LCR, UART_LCR_DLAB);
  EXPECT_EQ(in(UART_DLL), 0x01);  // untouched by the IER write
}

TEST_F(SerialTest, ScratchAndModemRegisters) {
  outb(UART_SCR, 0x5a);
  EXPECT_EQ(in(UART_SCR), 0x5a);
  outb(UART_MCR, 0xff);
  EXPECT_EQ(in(UART_MCR), 0x1f);
  outb(UART_MCR, 0x00);
  EXPECT_EQ(in(UART_MSR)&0xf0, UART_MSR_DCD | UART_MSR_DSR | UART_MSR_CTS);
}

TEST_F(SerialTest, ReceiveThroughFifoWithDataReady) {
  outb(UART_FCR, UART_FCR_ENABLE_FIFO);
  input("abc");
  EXPECT_TRUE(in(UART_LSR)&UART_LSR_DR);
  std::string got;
  while (in(UART_LSR)&UART_LSR_DR) got.push_back(static_cast<char>(in(UART_RX)));
  EXPECT_EQ(got, "abc");
  EXPECT_EQ(serial.metrics().rx_bytes, 3u);
}

TEST_F(SerialTest, FifoHoldsSixteenAndTheBacklogRefillsIt) {
  outb(UART_FCR, UART_FCR_ENABLE_FIFO);
  std::string big(100, 'x');
  for (int i = 0; i < 100; ++i) big[i] = static_cast<char>('0' + i % 10);
  input(big);
  EXPECT_EQ(serial.pending_input(), 100u);
  std::string got;
  while (in(UART_LSR)&UART_LSR_DR) got.push_back(static_cast<char>(in(UART_RX)));
  EXPECT_EQ(got, big);
  EXPECT_EQ(in(UART_LSR)&UART_LSR_OE, 0);  // host input never overruns
}

TEST_F(SerialTest, BacklogOverflowIsDroppedAndCounted) {
  std::string huge(Serial::kInputBacklog + 100, 'z');
  input(huge);
  EXPECT_EQ(serial.pending_input(), Serial::kInputBacklog);
  EXPECT_EQ(serial.metrics().input_dropped, 100u);
  // Once the guest reads, room frees up again.
  (void)in(UART_RX);
  input("ab");
  EXPECT_EQ(serial.pending_input(), Serial::kInputBacklog + 1);
}

TEST_F(SerialTest, ReceiveInterruptIsALevelClearedByReading) {
  outb(UART_FCR, UART_FCR_ENABLE_FIFO | UART_FCR_R_TRIG_00);  // trigger at 1 byte
  outb(UART_IER, UART_IER_RDI);
  EXPECT_FALSE(line.level());
  EXPECT_EQ(in(UART_IIR), 0xc0 | UART_IIR_NO_INT);
  input("k");
  EXPECT_TRUE(line.level());
  EXPECT_EQ(in(UART_IIR), 0xc0 | UART_IIR_RDI);
  EXPECT_TRUE(line.level());  // reading IIR does not clear a data interrupt
  EXPECT_EQ(in(UART_RX), 'k');
  EXPECT_FALSE(line.level());
  EXPECT_EQ(line.levels(), (std::vector<bool>{true, false}));
}

TEST_F(SerialTest, BelowTriggerLevelReportsCharacterTimeout) {
  outb(UART_FCR, UART_FCR_ENABLE_FIFO | UART_FCR_R_TRIG_10);  // 8 bytes
  outb(UART_IER, UART_IER_RDI);
  input("abc");
  EXPECT_EQ(in(UART_IIR)&0x0f, UART_IIR_RX_TIMEOUT);
  input("defgh");
  EXPECT_EQ(in(UART_IIR)&0x0f, UART_IIR_RDI);
}

TEST_F(SerialTest, ThreInterruptRaisedOnEnableAndClearedByIirRead) {
  outb(UART_IER, UART_IER_THRI);
  EXPECT_TRUE(line.level());  // THR is empty: enabling the interrupt raises it at once
  EXPECT_EQ(in(UART_IIR), UART_IIR_THRI);
  EXPECT_FALSE(line.level());  // reading IIR that reports THRE clears it
  EXPECT_EQ(in(UART_IIR), UART_IIR_NO_INT);
  // A write drops and raises the line again (a fresh edge for edge-triggered PICs).
  outb(UART_TX, 'A');
  EXPECT_TRUE(line.level());
  auto levels = line.levels();
  ASSERT_GE(levels.size(), 2u);
  EXPECT_EQ(levels.back(), true);
  outb(UART_IER, 0);
  EXPECT_FALSE(line.level());
}

TEST_F(SerialTest, InterruptPriorityDataBeforeThre) {
  outb(UART_IER, UART_IER_THRI | UART_IER_RDI);
  input("x");
  EXPECT_EQ(in(UART_IIR), UART_IIR_RDI);
  EXPECT_EQ(in(UART_RX), 'x');
  EXPECT_EQ(in(UART_IIR), UART_IIR_THRI);
}

TEST_F(SerialTest, LoopbackEchoesAndOverrunsRaiseLineStatus) {
  outb(UART_MCR, UART_MCR_LOOP | UART_MCR_RTS | UART_MCR_DTR);
  EXPECT_EQ(in(UART_MSR)&0xf0, UART_MSR_CTS | UART_MSR_DSR);
  outb(UART_TX, 'q');
  EXPECT_TRUE(out.empty());
  EXPECT_TRUE(in(UART_LSR)&UART_LSR_DR);
  EXPECT_EQ(in(UART_RX), 'q');
  // Host input waits while in loopback (the receive pin is disconnected).
  input("h");
  EXPECT_FALSE(in(UART_LSR)&UART_LSR_DR);
  // Non-FIFO mode holds one byte: the second write overruns.
  outb(UART_IER, UART_IER_RLSI);
  outb(UART_TX, '1');
  outb(UART_TX, '2');
  EXPECT_TRUE(line.level());
  EXPECT_EQ(in(UART_IIR), UART_IIR_RLSI);
  const uint8_t lsr = in(UART_LSR);
  EXPECT_TRUE(lsr & UART_LSR_OE);
  EXPECT_FALSE(line.level());  // reading LSR clears the error
  EXPECT_FALSE(in(UART_LSR)&UART_LSR_OE);
  EXPECT_EQ(serial.metrics().overruns, 1u);
  EXPECT_EQ(in(UART_RX), '1');
  outb(UART_MCR, 0);  // leave loopback: the waiting host byte arrives
  EXPECT_EQ(in(UART_RX), 'h');
}

TEST_F(SerialTest, ModemStatusInterruptInLoopback) {
  outb(UART_MCR, UART_MCR_LOOP);
  (void)in(UART_MSR);  // clear the deltas from entering loopback
  outb(UART_IER, UART_IER_MSI);
  EXPECT_FALSE(line.level());
  outb(UART_MCR, UART_MCR_LOOP | UART_MCR_RTS);
  EXPECT_TRUE(line.level());
  EXPECT_EQ(in(UART_IIR), UART_IIR_MSI);
  const uint8_t msr = in(UART_MSR);
  EXPECT_TRUE(msr & UART_MSR_DCTS);
  EXPECT_TRUE(msr & UART_MSR_CTS);
  EXPECT_FALSE(line.level());
}

TEST_F(SerialTest, FcrClearEmptiesTheRxFifo) {
  outb(UART_FCR, UART_FCR_ENABLE_FIFO);
  outb(UART_MCR, UART_MCR_LOOP);
  outb(UART_TX, '1');
  outb(UART_TX, '2');
  outb(UART_FCR, UART_FCR_ENABLE_FIFO | UART_FCR_CLEAR_RCVR);
  EXPECT_FALSE(in(UART_LSR)&UART_LSR_DR);
}

TEST_F(SerialTest, HostileAccessesAreCountedNotFatal) {
  uint8_t wide[4] = {1, 2, 3, 4};
  serial.write(0, std::span<const uint8_t>(wide, 4));
  serial.read(0, std::span<uint8_t>(wide, 4));
  EXPECT_EQ(wide[0], 0xff);
  outb(8, 1);
  (void)in(1000);
  EXPECT_EQ(serial.metrics().bad_accesses, 4u);
  EXPECT_TRUE(out.empty());
}

TEST_F(SerialTest, InputFromAnotherThreadWhileTheGuestReads) {
  outb(UART_FCR, UART_FCR_ENABLE_FIFO);
  std::string sent;
  for (int i = 0; i < 5000; ++i) sent.push_back(static_cast<char>('a' + i % 26));
  std::thread producer([&] {
    for (size_t i = 0; i < sent.size(); i += 50) input(sent.substr(i, 50));
  });
  std::string got;
  const bool ok = testing::wait_for([&] {
    while (in(UART_LSR)&UART_LSR_DR) got.push_back(static_cast<char>(in(UART_RX)));
    return got.size() == sent.size();
  });
  producer.join();
  EXPECT_TRUE(ok);
  EXPECT_EQ(got, sent);
}

}  // namespace
}  // namespace flotilla::vmm
