// Console: where the guest's serial output goes and where its input comes from, living across
// reboots of the machine. Output fans out to stdout (foreground), a 64 KiB ring buffer of the
// last bytes (console_tail), an optional log file and the console stream subscribers (control
// socket clients, non-blocking: a slow client loses bytes, never stalls a vCPU). Input from
// stdin or console clients goes to the current Serial.
//
// Threads: output() is called by vCPU threads (with the Serial's lock held: it never calls
// back into the Serial); input() and subscribe() from the device thread. mu_ guards it all.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <span>
#include <string>

#include "common/unique_fd.h"

namespace flotilla::vmm {

class Console {
 public:
  static constexpr size_t kRingSize = 64 * 1024;
  using InputSink = std::function<size_t(std::span<const uint8_t>)>;

  Console(int stdout_fd, UniqueFd log_fd) : stdout_fd_(stdout_fd), log_fd_(std::move(log_fd)) {}

  void output(std::span<const uint8_t> bytes);
  // Bytes for the guest; dropped (counted) when no machine is attached.
  void input(std::span<const uint8_t> bytes);
  void set_input_sink(InputSink sink);

  // The last min(n, kRingSize) bytes of output.
  std::string tail(size_t n) const;
  uint64_t total_output() const;

  // Each subscriber gets every later output byte written to its fd (non-blocking); returns an
  // id for unsubscribe. The fd stays owned by the caller.
  uint64_t subscribe(int fd);
  void unsubscribe(uint64_t id);

 private:
  void append_ring(std::span<const uint8_t> bytes);  // mu_ held

  mutable std::mutex mu_;
  int stdout_fd_;                                      // -1 = no stdout
  UniqueFd log_fd_;                                    // GUARDED_BY(mu_)
  std::deque<uint8_t> ring_;                           // GUARDED_BY(mu_)
  uint64_t total_ = 0;                                 // GUARDED_BY(mu_)
  uint64_t input_dropped_ = 0;                         // GUARDED_BY(mu_)
  InputSink input_;                                    // GUARDED_BY(mu_)
  std::vector<std::pair<uint64_t, int>> subscribers_;  // GUARDED_BY(mu_)
  uint64_t next_id_ = 1;                               // GUARDED_BY(mu_)
};

}  // namespace flotilla::vmm
