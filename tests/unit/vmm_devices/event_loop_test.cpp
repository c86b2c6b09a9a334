#include "vmm/event/event_loop.h"

#include <gtest/gtest.h>
#include <sys/eventfd.h>

#include <atomic>
#include <stdexcept>
#include <thread>
#include <vector>

#include "tests/unit/vmm_devices/fakes.h"

namespace flotilla::vmm {
namespace {

using testing::wait_for;

struct RunningLoop {
  RunningLoop() : loop(std::move(EventLoop::create().value())), thread([this] { loop->run(); }) {}
  ~RunningLoop() {
    loop->stop();
    thread.join();
  }
  std::unique_ptr<EventLoop> loop;
  std::thread thread;
};

TEST(EventLoop, PostRunsInOrderOnTheLoopThread) {
  RunningLoop r;
  std::vector<int> seen;
  std::atomic<bool> done{false};
  std::thread::id loop_id;
  for (int i = 0; i < 100; ++i) r.loop->post([&, i] { seen.push_back(i); });
  r.loop->post([&] {
    loop_id = std::this_thread::get_id();
    done = true;
  });
  ASSERT_TRUE(wait_for([&] { return done.load(); }));
  EXPECT_EQ(loop_id, r.thread.get_id());
  ASSERT_EQ(seen.size(), 100u);
  for (int i = 0; i < 100; ++i) EXPECT_EQ(seen[i], i);
}

TEST(EventLoop, FdCallbacksAndRemoveFromAnotherThread) {
  RunningLoop r;
  UniqueFd efd(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));
  std::atomic<int> calls{0};
  ASSERT_TRUE(r.loop
                  ->add_fd(efd.get(),
                           [&] {
                             eventfd_t v;
                             ::eventfd_read(efd.get(), &v);
                             calls.fetch_add(1);
                           })
                  .ok());
  EXPECT_FALSE(r.loop->add_fd(efd.get(), [] {}).ok());  // already watched
  EXPECT_FALSE(r.loop->add_fd(-1, [] {}).ok());
  ::eventfd_write(efd.get(), 1);
  ASSERT_TRUE(wait_for([&] { return calls.load() == 1; }));
  r.loop->remove_fd(efd.get());  // synchronous: no callback after this returns
  ::eventfd_write(efd.get(), 1);
  std::atomic<bool> flushed{false};
  r.loop->post([&] { flushed = true; });
  ASSERT_TRUE(wait_for([&] { return flushed.load(); }));
  EXPECT_EQ(calls.load(), 1);
}

TEST(EventLoop, ThrowingCallbacksDoNotEscape) {
  RunningLoop r;
  std::atomic<bool> after{false};
  r.loop->post([] { throw std::runtime_error("boom"); });
  r.loop->post([] { throw 42; });
  r.loop->post([&] { after = true; });
  EXPECT_TRUE(wait_for([&] { return after.load(); }));
}

TEST(EventLoop, StopBeforeRunReturnsAndPendingTasksStillRun) {
  auto loop = std::move(EventLoop::create().value());
  bool ran = false;
  loop->post([&] { ran = true; });
  loop->stop();
  loop->run();  // returns at once
  EXPECT_TRUE(ran);
}

}  // namespace
}  // namespace flotilla::vmm
