// EventLoop: epoll (level-triggered) + an eventfd to wake it for post() and stop().
//
// Handlers live in a map keyed by fd; each epoll registration carries a generation number so
// an event for an fd that was removed (or removed and re-added) in the same batch is skipped.
// remove_fd() from another thread while the loop runs posts the removal and waits for it, so
// when it returns no callback for that fd is running or will run.
#include "vmm/event/event_loop.h"

#include <spdlog/spdlog.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <deque>
#include <future>
#include <thread>
#include <unordered_map>

namespace flotilla::vmm {

namespace {
constexpr int kMaxEvents = 32;
constexpr uint32_t kWakeGeneration = 0;  // generation 0 is the wake eventfd

uint64_t pack(uint32_t generation, int fd) {
  return (static_cast<uint64_t>(generation) << 32) | static_cast<uint32_t>(fd);
}

void run_guarded(const std::function<void()>& fn, const char* what) {
  try {
    fn();
  } catch (const std::exception& e) {
    spdlog::error("event loop: {} threw: {}", what, e.what());
  } catch (...) {
    spdlog::error("event loop: {} threw a non-exception", what);
  }
}
}  // namespace

struct EventLoop::Impl {
  struct Handler {
    uint32_t generation = 0;
    std::shared_ptr<std::function<void()>> fn;
  };
  UniqueFd epoll;
  UniqueFd wake;
  std::mutex mutex;
  std::unordered_map<int, Handler> handlers;  // GUARDED_BY(mutex)
  std::deque<std::function<void()>> tasks;    // GUARDED_BY(mutex)
  uint32_t next_generation = 1;               // GUARDED_BY(mutex)
  bool running = false;                       // GUARDED_BY(mutex)
  std::thread::id loop_thread;                // GUARDED_BY(mutex)
  std::atomic<bool> stop_requested{false};

  void kick() const {
    // SAFETY: wake is an eventfd we own; an 8-byte write of 1 only fails if the counter would
    // overflow, which already means the loop has a wake-up pending.
    const uint64_t one = 1;
    [[maybe_unused]] ssize_t n = ::write(wake.get(), &one, sizeof(one));
  }
  void remove_now(int fd) {  // mutex held, and no callback for fd can be running
    if (handlers.erase(fd) > 0) ::epoll_ctl(epoll.get(), EPOLL_CTL_DEL, fd, nullptr);
  }
  void run_tasks() {
    std::deque<std::function<void()>> batch;
    {
      std::lock_guard lock(mutex);
      batch.swap(tasks);
    }
    for (auto& t : batch) run_guarded(t, "posted task");
  }
};

EventLoop::EventLoop(UniqueFd epoll, UniqueFd wake) : impl_(std::make_unique<Impl>()) {
  impl_->epoll = std::move(epoll);
  impl_->wake = std::move(wake);
}

EventLoop::~EventLoop() = default;

Result<std::unique_ptr<EventLoop>, SimpleError> EventLoop::create() {
  UniqueFd ep(::epoll_create1(EPOLL_CLOEXEC));
  if (!ep) return fail(SimpleError{std::string("epoll_create1: ") + std::strerror(errno)});
  UniqueFd wake(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (!wake) return fail(SimpleError{std::string("eventfd: ") + std::strerror(errno)});
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.u64 = pack(kWakeGeneration, wake.get());
  if (::epoll_ctl(ep.get(), EPOLL_CTL_ADD, wake.get(), &ev) != 0) {
    return fail(SimpleError{std::string("epoll_ctl(wake): ") + std::strerror(errno)});
  }
  return std::unique_ptr<EventLoop>(new EventLoop(std::move(ep), std::move(wake)));
}

Result<void, SimpleError> EventLoop::add_fd(int fd, std::function<void()> on_readable) {
  if (fd < 0 || !on_readable) return fail(SimpleError{"add_fd: bad fd or empty callback"});
  std::lock_guard lock(impl_->mutex);
  if (impl_->handlers.count(fd) != 0) {
    return fail(SimpleError{"add_fd: fd " + std::to_string(fd) + " already watched"});
  }
  uint32_t gen = impl_->next_generation++;
  if (gen == kWakeGeneration) gen = impl_->next_generation++;
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.u64 = pack(gen, fd);
  if (::epoll_ctl(impl_->epoll.get(), EPOLL_CTL_ADD, fd, &ev) != 0) {
    return fail(SimpleError{std::string("epoll_ctl(add): ") + std::strerror(errno)});
  }
  impl_->handlers[fd] =
      Impl::Handler{gen, std::make_shared<std::function<void()>>(std::move(on_readable))};
  return {};
}

void EventLoop::remove_fd(int fd) {
  std::unique_lock lock(impl_->mutex);
  if (!impl_->running || impl_->loop_thread == std::this_thread::get_id()) {
    impl_->remove_now(fd);
    return;
  }
  // The loop runs on another thread: remove on its thread, between callbacks.
  auto done = std::make_shared<std::promise<void>>();
  auto future = done->get_future();
  Impl* impl = impl_.get();
  impl_->tasks.emplace_back([impl, fd, done] {
    {
      std::lock_guard inner(impl->mutex);
      impl->remove_now(fd);
    }
    done->set_value();
  });
  lock.unlock();
  impl_->kick();
  future.wait();
}

void EventLoop::post(std::function<void()> fn) {
  if (!fn) return;
  {
    std::lock_guard lock(impl_->mutex);
    impl_->tasks.push_back(std::move(fn));
  }
  impl_->kick();
}

void EventLoop::stop() {
  impl_->stop_requested.store(true, std::memory_order_release);
  impl_->kick();
}

void EventLoop::run() {
  {
    std::lock_guard lock(impl_->mutex);
    impl_->running = true;
    impl_->loop_thread = std::this_thread::get_id();
  }
  epoll_event events[kMaxEvents];
  while (!impl_->stop_requested.load(std::memory_order_acquire)) {
    int n = ::epoll_wait(impl_->epoll.get(), events, kMaxEvents, -1);
    if (n < 0) {
      if (errno == EINTR) continue;
      spdlog::error("event loop: epoll_wait: {}", std::strerror(errno));
      break;
    }
    for (int i = 0; i < n; ++i) {
      const uint32_t gen = static_cast<uint32_t>(events[i].data.u64 >> 32);
      const int fd = static_cast<int>(static_cast<uint32_t>(events[i].data.u64));
      if (gen == kWakeGeneration) {
        uint64_t count = 0;
        [[maybe_unused]] ssize_t r = ::read(impl_->wake.get(), &count, sizeof(count));
        impl_->run_tasks();
        continue;
      }
      std::shared_ptr<std::function<void()>> fn;
      {
        std::lock_guard lock(impl_->mutex);
        auto it = impl_->handlers.find(fd);
        if (it == impl_->handlers.end() || it->second.generation != gen) continue;
        fn = it->second.fn;
      }
      run_guarded(*fn, "fd callback");
    }
  }
  {
    std::lock_guard lock(impl_->mutex);
    impl_->running = false;
  }
  // Tasks posted before stop (including remove_fd waiters) still run, in order.
  impl_->run_tasks();
}

}  // namespace flotilla::vmm
