// EventLoop: the device thread's loop (epoll). Work crosses threads only by post(); fds are
// watched with callbacks that run on the loop's thread. stop() may be called from any thread.
#pragma once

#include <functional>
#include <memory>
#include <mutex>
#include <vector>

#include "common/result.h"
#include "common/unique_fd.h"

namespace flotilla::vmm {

class EventLoop {
 public:
  static Result<std::unique_ptr<EventLoop>, SimpleError> create();
  ~EventLoop();

  // Calls on_readable (on the loop thread) each time fd becomes readable (level-triggered).
  // The caller keeps fd open until remove_fd() returns (or the loop is destroyed).
  Result<void, SimpleError> add_fd(int fd, std::function<void()> on_readable);
  // Synchronous: when it returns, no callback for fd is running or will run. From another
  // thread while the loop runs, it waits for the loop thread to do the removal, so the caller
  // must not hold a lock that a loop callback may be waiting for. Unknown fds are ignored.
  void remove_fd(int fd);
  // Runs fn on the loop thread, in order. Safe from any thread.
  void post(std::function<void()> fn);
  // Runs until stop(), on the calling thread (the monitor names it "devices"). Returns after
  // the callbacks in flight finish; tasks posted before stop() still run. A callback or task
  // that throws is logged and the loop carries on.
  void run();
  // Safe from any thread, also before run() (which then returns at once).
  void stop();

 private:
  EventLoop(UniqueFd epoll, UniqueFd wake);
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace flotilla::vmm
