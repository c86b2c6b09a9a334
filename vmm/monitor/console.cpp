#include "vmm/monitor/console.h"

#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>

namespace flotilla::vmm {
namespace {

void write_all(int fd, std::span<const uint8_t> bytes) {
  size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;
    done += static_cast<size_t>(n);
  }
}

}  // namespace

void Console::output(std::span<const uint8_t> bytes) {
  std::lock_guard lock(mu_);
  total_ += bytes.size();
  append_ring(bytes);
  if (stdout_fd_ >= 0) write_all(stdout_fd_, bytes);
  if (log_fd_) write_all(log_fd_.get(), bytes);
  for (const auto& [id, fd] : subscribers_) {
    // Non-blocking: a client that does not keep up loses output rather than stalling a vCPU.
    (void)::send(fd, bytes.data(), bytes.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
  }
}

void Console::append_ring(std::span<const uint8_t> bytes) {
  if (bytes.size() >= kRingSize) bytes = bytes.last(kRingSize);
  const size_t overflow = ring_.size() + bytes.size();
  if (overflow > kRingSize) ring_.erase(ring_.begin(), ring_.begin() + (overflow - kRingSize));
  ring_.insert(ring_.end(), bytes.begin(), bytes.end());
}

void Console::input(std::span<const uint8_t> bytes) {
  InputSink sink;
  {
    std::lock_guard lock(mu_);
    sink = input_;
    if (!sink) {
      input_dropped_ += bytes.size();
      return;
    }
  }
  // Outside mu_: the Serial takes its own lock and may call output() from inside.
  sink(bytes);
}

void Console::set_input_sink(InputSink sink) {
  std::lock_guard lock(mu_);
  input_ = std::move(sink);
}

std::string Console::tail(size_t n) const {
  std::lock_guard lock(mu_);
  n = std::min(n, ring_.size());
  return std::string(ring_.end() - static_cast<std::ptrdiff_t>(n), ring_.end());
}

uint64_t Console::total_output() const {
  std::lock_guard lock(mu_);
  return total_;
}

uint64_t Console::subscribe(int fd) {
  std::lock_guard lock(mu_);
  subscribers_.emplace_back(next_id_, fd);
  return next_id_++;
}

void Console::unsubscribe(uint64_t id) {
  std::lock_guard lock(mu_);
  std::erase_if(subscribers_, [id](const auto& s) { return s.first == id; });
}

}  // namespace flotilla::vmm
